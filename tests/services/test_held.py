"""The daily cap: points above it are held, then an admin releases or rejects them."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from fidela.domain.errors import InvalidInput, NotFound
from fidela.domain.ids import ProgramId
from fidela.services import held, ledger, members, privacy, programs
from fidela.store.tables import lines
from fidela.store.unit_of_work import UnitOfWork
from tests.conftest import T0, example
from tests.services.helpers import enroll, purchase, send


@pytest.fixture
def shop(uow: UnitOfWork) -> ProgramId:
    """examples/shop.yaml: 5,000 points a member a day at most, 30 pending days."""
    return programs.apply(uow, example("shop.yaml"), now=T0).program_id


def points(uow: UnitOfWork, shop: ProgramId) -> tuple[int, int, int]:
    shown = members.balance(uow, shop, "ana@example.com")
    return shown["available"], shown["pending"], shown["held"]


def test_points_above_the_cap_wait_for_an_admin_who_releases_them(
    uow: UnitOfWork, shop: ProgramId
) -> None:
    enroll(uow, shop, "ana@example.com", T0)  # the welcome rule: 200
    recorded = purchase(uow, shop, "ana@example.com", "A1", "1000.00", T0)  # 5,000 more
    assert (recorded.result["points"], recorded.result["held"]) == (4800, 200)
    assert points(uow, shop) == (0, 5000, 200)
    (queued,) = held.listed(uow, shop)
    assert (queued["points"], queued["order_id"], queued["rule"]) == (200, "A1", "base")
    with pytest.raises(InvalidInput):
        held.release(uow, shop, queued["lot"], actor="sam", reason=" ", now=T0)
    released = held.release(uow, shop, queued["lot"], actor="sam", reason="a real order", now=T0)
    assert (released["pending"], released["held"]) == (5200, 0)
    assert held.listed(uow, shop) == []
    with pytest.raises(NotFound):
        held.reject(uow, shop, queued["lot"], actor="sam", reason="twice", now=T0)
    last = members.show(uow, shop, "ana@example.com")["history"][-1]
    assert last["cause"] == {"kind": "release", "actor": "sam", "reason": "a real order"}
    assert ledger.verify(uow, shop).ok


def test_rejected_points_are_reversed_and_a_refund_takes_back_held_ones_too(
    uow: UnitOfWork, shop: ProgramId
) -> None:
    enroll(uow, shop, "ana@example.com", T0)
    purchase(uow, shop, "ana@example.com", "A1", "1000.00", T0)
    # Silver since A1 (x1.25); the day is full, so all 625 points are held.
    purchase(uow, shop, "ana@example.com", "A2", "100.00", T0)
    assert points(uow, shop) == (0, 5000, 825)
    second = next(item for item in held.listed(uow, shop) if item["order_id"] == "A2")
    held.reject(uow, shop, second["lot"], actor="sam", reason="too many orders", now=T0)
    assert points(uow, shop) == (0, 5000, 200)
    assert ledger.summary(uow, shop)["reversed"] == 625
    send(uow, shop, T0, idempotency_key="r1", type="refund", order_id="A1")  # all of it
    assert points(uow, shop) == (0, 200, 0)  # the welcome points stay
    assert held.listed(uow, shop) == []
    with uow:
        held_lines = uow.connection.execute(
            select(func.count()).select_from(lines).where(lines.c.account == "member.held")
        ).scalar_one()
    assert held_lines == 4  # held twice, rejected once, refunded once
    assert ledger.verify(uow, shop).ok


def test_erasing_a_member_takes_their_held_points_off_the_queue(
    uow: UnitOfWork, shop: ProgramId
) -> None:
    ana = enroll(uow, shop, "ana@example.com", T0)
    purchase(uow, shop, "ana@example.com", "A1", "1000.00", T0)
    erased = privacy.erase(uow, shop, ana, actor="dpo", now=T0)
    assert erased["points_forfeited"] == 5000 + 200  # pending and held alike
    assert held.listed(uow, shop) == []
    summary = ledger.summary(uow, shop)
    assert (summary["held"], summary["pending"], summary["adjusted"]) == (0, 0, -5200)
    assert ledger.verify(uow, shop).ok


def test_more_events_a_minute_than_allowed_have_their_points_held(uow: UnitOfWork) -> None:
    text = example("cafe.yaml").replace(
        "pending_days: 0 ", "caps: {events_per_member_per_minute: 2}\npending_days: 0 "
    )
    cafe = programs.apply(uow, text, now=T0).program_id
    enroll(uow, cafe, "ana@example.com", T0)
    bought = [
        purchase(uow, cafe, "ana@example.com", f"V{n}", "10.00", T0 + timedelta(seconds=20 * n))
        for n in range(4)
    ]
    # The third purchase within a minute is held, and so is the fourth: the minute before
    # it (after 0 s, up to 60 s) holds three purchases.
    assert [(b.result["points"], b.result.get("held", 0)) for b in bought] == [
        (10, 0), (10, 0), (0, 10), (0, 10)
    ]  # fmt: skip
    assert [item["order_id"] for item in held.listed(uow, cafe)] == ["V2", "V3"]
    assert ledger.verify(uow, cafe).ok
