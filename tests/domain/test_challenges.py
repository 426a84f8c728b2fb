"""Challenges in the domain: a count within a calendar period, streaks, badges once."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from fidela.domain import members
from fidela.domain.challenges import completed, progress
from fidela.domain.ids import MemberId
from fidela.domain.members import MemberState, OrderState
from fidela.domain.program import parse_program
from tests.conftest import example

SHOP = parse_program(example("shop.yaml"))
THREE, STREAK = SHOP.challenges  # three-in-a-month (300 points, badge regular), on-a-roll
MARCH = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def test_the_third_order_of_a_month_completes_it_once_per_month() -> None:
    badges: set[str] = set()
    times = [MARCH, MARCH + timedelta(days=1)]
    assert completed(SHOP, "purchase", times[-1], times, badges) == []
    times.append(MARCH + timedelta(days=2))
    assert completed(SHOP, "purchase", times[-1], times, badges) == [(THREE, "regular")]
    times.append(MARCH + timedelta(days=3))  # a fourth: nothing more this month
    assert completed(SHOP, "purchase", times[-1], times, badges) == []
    april = [datetime(2026, 4, d, tzinfo=UTC) for d in (2, 3, 4)]
    assert completed(SHOP, "purchase", april[-1], times + april, badges) == [(THREE, None)]
    assert badges == {"regular"}  # awarded once
    assert progress(THREE, SHOP.zone, april[-1], times + april) == {
        "count": 3, "of": 3, "within": "month"
    }  # fmt: skip


def test_an_order_four_weeks_in_a_row_completes_the_streak() -> None:
    mondays = [datetime.combine(date(2026, 3, 2) + timedelta(weeks=w), datetime.min.time(),
                                tzinfo=UTC) + timedelta(hours=12) for w in range(5)]  # fmt: skip
    badges: set[str] = set()
    results = [
        completed(SHOP, "purchase", t, mondays[: i + 1], badges) for i, t in enumerate(mondays)
    ]
    assert [[c.challenge.id for c in r if c.challenge is STREAK] for r in results] == [
        [], [], [], ["streak-4-weeks"], []  # the fifth week continues the run: no new streak
    ]  # fmt: skip
    assert "on-a-roll" in badges
    gap = mondays[4] + timedelta(weeks=2)
    assert progress(STREAK, SHOP.zone, gap, [*mondays, gap]) == {
        "streak": 1, "of": 4, "every": "week"
    }  # fmt: skip


def test_a_purchase_earns_the_challenge_points_and_announces_the_badge() -> None:
    state = MemberState(MemberId(1), MARCH - timedelta(days=1))
    members.enroll(SHOP, state)
    for day in range(3):
        order = OrderState(f"o{day}", MARCH + timedelta(days=day), 1000, "EUR")
        outcome = members.purchase(SHOP, state, order, Decimal("10.00"))
    (earn,) = [t for t in outcome.transactions if t.kind == "earn"]
    assert [(line.rule_id, -line.amount) for line in earn.lines if line.rule_id] == [
        ("base", 50), ("three-in-a-month", 300)
    ]  # fmt: skip
    assert outcome.badges == [("regular", "three-in-a-month", MARCH + timedelta(days=2))]
    assert [e.kind for e in outcome.effects if e.kind == "badge.awarded"] == ["badge.awarded"]
