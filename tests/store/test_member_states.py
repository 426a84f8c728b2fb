"""Members' states as the rules get them from the store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from fidela.domain.tiers import metric
from fidela.services import programs
from fidela.store.unit_of_work import UnitOfWork
from tests.conftest import example
from tests.services.helpers import enroll, purchase, send

T0 = datetime(2025, 1, 1, 12, tzinfo=UTC)
DAY = timedelta(days=1)
WINDOW = 365  # cafe.yaml's tier window, in days


@pytest.mark.parametrize("kind", ["spend", "points_earned"])
def test_what_stays_in_the_tier_window_is_read_as_one_sum(uow: UnitOfWork, kind: str) -> None:
    text = example("cafe.yaml").replace("metric: spend", f"metric: {kind}")
    program_id = programs.apply(uow, text, now=T0).program_id
    member = enroll(uow, program_id, "ana@example.com", T0)
    for n, days in enumerate([10, 100, 200, 300]):
        purchase(uow, program_id, "ana@example.com", f"A{n}", "50.00", T0 + days * DAY)
    refunded_at = T0 + 301 * DAY
    send(uow, program_id, refunded_at, type="refund", idempotency_key="r", order_id="A2")
    # From `at` to `until` the first order leaves the window (on day 375); the others
    # stay in it, the refunded one with its refund.
    at, until = T0 + 370 * DAY, T0 + 400 * DAY
    with uow.reading() as reader:
        program = reader.programs.current(program_id).program
        one_by_one = reader.members.load_states(program, [member], at, lock=False)[member]
        summed = reader.members.load_states(program, [member], at, lock=False, until=until)[member]
    assert len(one_by_one.qualifying) >= 4
    first_order = sum(v for t, v in one_by_one.qualifying if t == T0 + 10 * DAY)
    the_others = sum(v for _, v in one_by_one.qualifying) - first_order
    assert sorted(summed.qualifying) == [(T0 + 10 * DAY, first_order), (at, the_others)]
    instants = [at + n * DAY / 4 for n in range(4 * 30 + 1)]
    assert [metric(summed.qualifying, t, WINDOW) for t in instants] == [
        metric(one_by_one.qualifying, t, WINDOW) for t in instants
    ]
    assert metric(summed.qualifying, until, WINDOW) < metric(summed.qualifying, at, WINDOW)
