"""Refund abuse on both databases: a member refunding too much is flagged once, and an
admin releases or rejects the flag."""

from datetime import timedelta

import pytest

from fidela.domain.errors import NotFound
from fidela.domain.ids import ProgramId
from fidela.services import flags, programs
from fidela.store.unit_of_work import UnitOfWork
from tests.conftest import T0, example
from tests.services.helpers import enroll, purchase, send


@pytest.fixture
def strict(uow: UnitOfWork) -> ProgramId:
    """The café, flagging members who refund over half of what they bought (3 orders on)."""
    text = example("cafe.yaml").replace(
        "pending_days: 0 ", "caps: {flag_refund_share: '0.5'}\npending_days: 0 "
    )
    return programs.apply(uow, text, now=T0).program_id


def refund(uow: UnitOfWork, cafe: ProgramId, order_id: str, at: int) -> None:
    send(uow, cafe, T0 + timedelta(hours=at), idempotency_key=f"r-{order_id}",
         type="refund", order_id=order_id)  # fmt: skip


def test_a_member_refunding_over_the_share_is_flagged_once(
    uow: UnitOfWork, strict: ProgramId
) -> None:
    ana = enroll(uow, strict, "ana@example.com", T0)
    for n in range(3):
        purchase(uow, strict, "ana@example.com", f"A{n}", "10.00", T0 + timedelta(hours=n))
    refund(uow, strict, "A0", 4)  # a third refunded: not yet
    assert flags.listed(uow, strict) == []
    refund(uow, strict, "A1", 5)  # two thirds: over half
    refund(uow, strict, "A2", 6)  # still flagged: one open flag, not two
    (flag,) = flags.listed(uow, strict)
    assert (flag["member_id"], flag["kind"]) == (ana, "refund_abuse")
    assert flag["details"]["refunded_minor"] == 2000 and flag["details"]["orders"] == 3
    assert flags.release(uow, strict, flag["flag"], actor="sam", reason="a gift",
                         now=T0)["status"] == "released"  # fmt: skip
    assert flags.listed(uow, strict) == []
    with pytest.raises(NotFound):
        flags.reject(uow, strict, flag["flag"], actor="sam", reason="again", now=T0)


def test_a_member_with_few_orders_is_not_flagged(uow: UnitOfWork, strict: ProgramId) -> None:
    enroll(uow, strict, "bob@example.com", T0)
    purchase(uow, strict, "bob@example.com", "B0", "10.00", T0)
    refund(uow, strict, "B0", 1)  # everything refunded, but one order is too few to judge
    assert flags.listed(uow, strict) == []
