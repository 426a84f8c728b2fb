"""Store credit (cashback) at checkout: paying part of an order with it, and cancelling
that payment (the order was not completed) to give the credit back."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from fidela.domain.errors import Conflict, InsufficientCredit, InvalidInput, NotFound
from fidela.domain.ids import MemberId, ProgramId, Seq
from fidela.domain.money import from_minor, to_minor
from fidela.services.members import catch_up, post_member, spent_by
from fidela.store.unit_of_work import UnitOfWork, run


def pay(
    uow: UnitOfWork,
    program_id: ProgramId,
    member_id: MemberId,
    amount: Decimal,
    currency: str,
    *,
    order_id: str | None,
    now: datetime,
) -> dict[str, Any]:
    """Spend `amount` of the member's available credit; never below zero."""

    def work(uow: UnitOfWork) -> dict[str, Any]:
        program = uow.programs.current(program_id).program
        program.check_currency(currency, "currency")
        minor = to_minor(amount, currency, "amount")
        if minor <= 0:
            raise InvalidInput("amount", "must be greater than 0")
        state, outcome = catch_up(uow, program, member_id, now)
        if minor > state.credit.available:
            available = str(from_minor(state.credit.available, currency))
            raise InsufficientCredit(available, str(amount), currency)
        reason = f"paid order {order_id}" if order_id else "paid at checkout"
        outcome.add(state.credit.redeem(minor, now, reason=reason))
        seq = post_member(uow, program, member_id, state, outcome, now)[-1]
        payment_id = uow.redemptions.add_credit_payment(
            program_id, member_id, amount_minor=minor, order_ref=order_id, seq=seq, at=now
        )
        uow.commit()
        return {
            "payment_id": payment_id,
            "status": "paid",
            "amount": str(from_minor(minor, currency)),
            "currency": currency,
            "order_id": order_id,
            "available": str(from_minor(state.credit.available, currency)),
        }

    return run(uow, work)


def cancel(
    uow: UnitOfWork, program_id: ProgramId, payment_id: int, *, now: datetime
) -> dict[str, Any]:
    """Give a payment's credit back to the lots it came from."""
    with uow:
        program = uow.programs.current(program_id).program
        payment = uow.redemptions.credit_payment(program_id, payment_id)
        if payment is None:
            raise NotFound("payment_id", f"no credit payment {payment_id} in {program_id}")
        member_id = MemberId(payment.member_id)
        state, outcome = catch_up(uow, program, member_id, now)
        payment = uow.redemptions.credit_payment(program_id, payment_id)  # again, member locked
        assert payment is not None
        if payment.status != "paid":
            raise Conflict("payment_id", f"the payment is {payment.status}")
        spent = spent_by(uow, program_id, state.credit, Seq(payment.seq))
        reason = f"credit payment {payment_id} cancelled"
        outcome.add(state.credit.give_back(spent, now, reason=reason))
        seq = post_member(uow, program, member_id, state, outcome, now)[-1]
        if not uow.redemptions.cancel_credit_payment(payment_id, at=now, seq=seq):
            raise Conflict("payment_id", "the payment was cancelled meanwhile")
        uow.commit()
    currency = program.currency
    return {
        "payment_id": payment_id,
        "status": "cancelled",
        "available": str(from_minor(state.credit.available, currency)),
    }
