"""RFM scores by quintiles, and the named segment of each pair of scores."""

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from fidela.domain.ids import MemberId
from fidela.domain.segments import SEGMENTS, Buyer, Score, quintiles, scores

T0 = datetime(2026, 1, 5, tzinfo=UTC)


def test_quintiles_give_each_fifth_a_score_and_equal_values_the_lowest_one() -> None:
    tens = quintiles([10, 20, 30, 40, 50, 60, 70, 80, 90, 100])
    assert tens.tolist() == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    # Ties take the lowest score of their group: the one-time buyers, and one more.
    assert quintiles([7, 7, 7]).tolist() == [1, 1, 1]
    assert quintiles([1, 1, 1, 1, 9]).tolist() == [1, 1, 1, 1, 5]


@given(st.lists(st.integers(0, 50), min_size=1, max_size=60))
def test_a_larger_value_never_scores_lower(values: list[int]) -> None:
    scored = sorted(zip(values, quintiles(values), strict=True))
    assert all(1 <= score <= 5 for _, score in scored)
    assert [score for _, score in scored] == sorted(score for _, score in scored)


def test_every_pair_of_scores_has_one_of_the_named_segments() -> None:
    named = {Score(r, f, m).segment for r in range(1, 6) for f in range(1, 6) for m in range(1, 6)}
    assert named == set(SEGMENTS)
    assert Score(5, 5, 5).segment == "champions"
    assert Score(5, 1, 1).segment == "new"
    assert Score(1, 5, 4).segment == "cannot_lose"  # FM = 5 (4.5 rounds up)
    assert Score(2, 3, 3).segment == "at_risk"
    assert Score(1, 1, 2).segment == "lost"  # FM = 2 (1.5 rounds up)


def test_recent_frequent_big_buyers_are_champions_and_old_small_ones_lost() -> None:
    buyers = [
        Buyer(MemberId(n), T0 - timedelta(days=10 * n), orders=10 - n, spend_minor=1000 * (10 - n))
        for n in range(10)
    ]
    scored = scores(buyers)
    assert scored[MemberId(0)] == Score(5, 5, 5) and scored[MemberId(0)].segment == "champions"
    assert scored[MemberId(9)] == Score(1, 1, 1) and scored[MemberId(9)].segment == "lost"
