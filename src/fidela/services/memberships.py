"""Paid memberships: joining (a trial, or paid at once), payments the shop reports,
cancelling at the end of the period; where a member's membership stands."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from fidela.domain import members as member_rules
from fidela.domain import memberships
from fidela.domain.ids import MemberId, ProgramId
from fidela.domain.members import MemberState
from fidela.domain.memberships import MembershipPayment, Subscription
from fidela.domain.money import from_minor, to_minor
from fidela.domain.program import Program
from fidela.services.members import catch_up, membership_view, post_member
from fidela.services.shown import local_time
from fidela.store.unit_of_work import UnitOfWork, run

Change = Callable[[UnitOfWork, Program, MemberState], Subscription]


def join(
    uow: UnitOfWork,
    program_id: ProgramId,
    member_id: MemberId,
    plan: str,
    payment: MembershipPayment | None,
    *,
    now: datetime,
) -> dict[str, Any]:
    """Start a membership: its free trial, or with `payment` its first paid period."""

    def change(uow: UnitOfWork, program: Program, state: MemberState) -> Subscription:
        subscription = memberships.join(
            program, state.membership, plan, now, paid=payment is not None
        )
        if payment is not None:
            period = (now, subscription.period_ends_at)
            _record(uow, program, member_id, subscription.plan, payment, period, now, "payment.")
        return subscription

    return _change(uow, program_id, member_id, change, now)


def pay(
    uow: UnitOfWork,
    program_id: ProgramId,
    member_id: MemberId,
    payment: MembershipPayment,
    *,
    now: datetime,
) -> dict[str, Any]:
    """Record a payment: it converts a trial, renews, or starts a lapsed membership again."""

    def change(uow: UnitOfWork, program: Program, state: MemberState) -> Subscription:
        current = state.membership
        start = current.period_ends_at if current is not None and current.running else now
        subscription = memberships.pay(program, current, now)
        period = (start, subscription.period_ends_at)
        _record(uow, program, member_id, subscription.plan, payment, period, now, "")
        return subscription

    return _change(uow, program_id, member_id, change, now)


def cancel(
    uow: UnitOfWork, program_id: ProgramId, member_id: MemberId, *, now: datetime
) -> dict[str, Any]:
    """Cancel at the end of the period (or trial): the benefits go on until then."""

    def change(uow: UnitOfWork, program: Program, state: MemberState) -> Subscription:
        return memberships.cancel(state.membership)

    return _change(uow, program_id, member_id, change, now)


def show(uow: UnitOfWork, program_id: ProgramId, member_id: MemberId) -> dict[str, Any]:
    """The member's membership (or null) and every payment reported for it."""
    with uow.reading() as reader:
        program = reader.programs.current(program_id).program
        member = reader.members.get(program_id, member_id)
        payments = reader.members.membership_payments(member_id)
    assert member is not None
    return {
        "membership": membership_view(program, member),
        "payments": [
            {
                "payment_id": p.id,
                "membership": p.membership,
                "amount": str(from_minor(p.amount_minor, p.currency)),
                "currency": p.currency,
                "reference": p.reference,
                "paid_at": local_time(program, p.paid_at),
                "period": [local_time(program, p.period_start), local_time(program, p.period_end)],
            }
            for p in payments
        ],
    }


def _change(
    uow: UnitOfWork, program_id: ProgramId, member_id: MemberId, change: Change, now: datetime
) -> dict[str, Any]:
    def work(uow: UnitOfWork) -> None:
        program = uow.programs.current(program_id).program
        state, outcome = catch_up(uow, program, member_id, now)
        subscription = change(uow, program, state)
        outcome.extend(member_rules.change_membership(program, state, subscription, now))
        post_member(uow, program, member_id, state, outcome, now)
        uow.commit()

    run(uow, work)
    return show(uow, program_id, member_id)


def _record(
    uow: UnitOfWork,
    program: Program,
    member_id: MemberId,
    plan: str,
    payment: MembershipPayment,
    period: tuple[datetime, datetime],
    now: datetime,
    fields: str,
) -> None:
    """Keep a payment; `fields` is where the request holds it (errors name its fields)."""
    program.check_currency(payment.currency, f"{fields}currency")
    uow.members.add_membership_payment(
        ProgramId(program.program),
        member_id,
        membership=plan,
        amount_minor=to_minor(payment.amount, payment.currency, f"{fields}amount"),
        currency=payment.currency,
        reference=payment.reference,
        paid_at=now,
        period=period,
    )
