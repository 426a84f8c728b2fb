"""The ledger's verification catches any edit by hand; its summary adds up."""

from datetime import timedelta

import pytest
from sqlalchemy import delete, select, update

from fidela.domain.ids import ProgramId
from fidela.services import ledger, rewards
from fidela.store.tables import lines, lots, members, transactions
from fidela.store.unit_of_work import UnitOfWork
from tests.conftest import T0
from tests.services.helpers import enroll, purchase, send


@pytest.fixture
def history(uow: UnitOfWork, cafe: ProgramId) -> ProgramId:
    for name in ("ana", "bob"):
        member_id = enroll(uow, cafe, f"{name}@example.com", T0)
        purchase(uow, cafe, f"{name}@example.com", f"{name}-1", "120.00", T0)
        purchase(uow, cafe, f"{name}@example.com", f"{name}-2", "30.00", T0 + timedelta(hours=1))
    rewards.redeem(uow, cafe, member_id, "voucher-10", now=T0 + timedelta(hours=2))
    send(uow, cafe, T0 + timedelta(hours=3), idempotency_key="r", type="refund", order_id="ana-2")
    return cafe


def tamper(uow: UnitOfWork, statement) -> None:  # type: ignore[no-untyped-def]
    with uow:
        uow.connection.execute(statement)
        uow.commit()


def test_an_untouched_ledger_verifies(uow: UnitOfWork, history: ProgramId) -> None:
    result = ledger.verify(uow, history)
    assert result.ok and result.transactions == 6  # 2 x 2 purchases, a redemption, a refund


def test_editing_a_line_by_hand_is_found_and_named(uow: UnitOfWork, history: ProgramId) -> None:
    tamper(uow, update(lines).where(lines.c.seq == 3, lines.c.line_no == 1).values(amount=999))
    result = ledger.verify(uow, history)
    assert not result.ok and result.seq == 3
    assert "transaction 3" in (result.problem or "")


@pytest.mark.parametrize("other", ["bob", "nobody"])
def test_a_line_moved_to_another_member_is_found_and_named(
    uow: UnitOfWork, history: ProgramId, other: str
) -> None:
    """Lines hold to the members table only through their transaction (migration 0021):
    a line moved to another member, or to none that exists, is the ledger's to find."""
    with uow.reading() as reading:
        owner, bob = (
            reading.connection.execute(
                select(transactions.c.member_id).where(transactions.c.seq == seq)
            ).scalar_one()
            for seq in (1, 3)
        )
    moved_to = bob if other == "bob" else bob + 1000
    assert owner != bob
    tamper(uow, update(lines).where(lines.c.seq == 1).values(member_id=moved_to))
    result = ledger.verify(uow, history)
    assert not result.ok and result.seq == 1
    assert result.problem == (
        f"transaction 1: line 0 names member {moved_to}, the transaction member {owner}"
    )


def test_a_balanced_edit_is_caught_by_the_hash_chain(uow: UnitOfWork, history: ProgramId) -> None:
    tamper(uow, update(lines).where(lines.c.seq == 2, lines.c.line_no == 0).values(amount=-31))
    tamper(uow, update(lines).where(lines.c.seq == 2, lines.c.line_no == 1).values(amount=31))
    result = ledger.verify(uow, history)
    assert result.seq == 2 and "hash" in (result.problem or "")


def test_a_deleted_transaction_is_found(uow: UnitOfWork, history: ProgramId) -> None:
    tamper(uow, delete(lines).where(lines.c.seq == 4))
    tamper(uow, delete(transactions).where(transactions.c.seq == 4))
    result = ledger.verify(uow, history)
    assert result.seq == 4 and "missing" in (result.problem or "")


def test_a_cached_balance_that_drifts_is_found(uow: UnitOfWork, history: ProgramId) -> None:
    tamper(uow, update(members).values(available=members.c.available + 1))
    result = ledger.verify(uow, history)
    assert not result.ok and "cached member.available" in (result.problem or "")


def test_a_lot_that_drifts_is_found(uow: UnitOfWork, history: ProgramId) -> None:
    tamper(uow, update(lots).where(lots.c.lot_no == 1).values(remaining=lots.c.remaining + 5))
    assert "lot 1" in (ledger.verify(uow, history).problem or "")


def test_the_summary_adds_up(uow: UnitOfWork, history: ProgramId) -> None:
    summary = ledger.summary(uow, history)
    assert summary["issued"] == 300
    assert summary["redeemed"] == 100
    assert summary["reversed"] == 30
    assert summary["outstanding"] == 170
    issued = summary["issued"] + summary["adjusted"]
    spent = summary["redeemed"] + summary["expired"] + summary["reversed"]
    assert issued - spent == summary["outstanding"] + summary["pending"] - summary["debt"]
    assert summary["liability"] == "17.00" and summary["currency"] == "EUR"


def test_a_deleted_last_transaction_is_found_by_the_head(
    uow: UnitOfWork, history: ProgramId
) -> None:
    tamper(uow, delete(lines).where(lines.c.seq == 6))
    tamper(uow, delete(transactions).where(transactions.c.seq == 6))
    result = ledger.verify(uow, history)
    assert not result.ok and "ledger head names transaction 6" in (result.problem or "")
