"""The small history the reports are checked against by hand."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from fidela.domain.ids import ProgramId
from fidela.services import rewards
from fidela.store.unit_of_work import UnitOfWork
from tests.conftest import T0
from tests.services.helpers import enroll, purchase, send


def on(month: int, day: int) -> datetime:
    return datetime(2026, month, day, 12, tzinfo=UTC)


@pytest.fixture
def february(uow: UnitOfWork, cafe: ProgramId) -> ProgramId:
    """January: Ana and Bob buy. February: Ana twice and redeems, Carl (no member) buys
    and gets 20 of 50 back, Dora joins and buys, Eve (no member) buys and returns all."""
    ana = enroll(uow, cafe, "ana@example.com", T0)
    enroll(uow, cafe, "bob@example.com", T0)
    purchase(uow, cafe, "ana@example.com", "A1", "20.00", on(1, 10))
    purchase(uow, cafe, "bob@example.com", "B1", "40.00", on(1, 12))
    purchase(uow, cafe, "ana@example.com", "A2", "30.00", on(2, 3))
    purchase(uow, cafe, "eve@example.com", "E1", "15.00", on(2, 5))
    send(uow, cafe, on(2, 6), idempotency_key="r-E1", type="refund", order_id="E1")
    purchase(uow, cafe, "carl@example.com", "C1", "50.00", on(2, 10))
    send(uow, cafe, on(2, 11), idempotency_key="r-C1", type="refund", order_id="C1",
         amount="20.00")  # fmt: skip
    enroll(uow, cafe, "dora@example.com", on(2, 15))
    purchase(uow, cafe, "dora@example.com", "D1", "25.00", on(2, 16))
    purchase(uow, cafe, "ana@example.com", "A3", "10.00", on(2, 20))
    rewards.redeem(uow, cafe, ana, "free-coffee", now=on(2, 21))  # 40 points
    return cafe
