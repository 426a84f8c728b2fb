"""`fidela membership`: join, report a payment, cancel, show."""

from __future__ import annotations

from typing import Annotated

import typer

from fidela.cli.common import (
    MemberArgument,
    NowOption,
    ProgramOption,
    _errors,
    _member,
    _now,
    _print_json,
)
from fidela.domain.ids import ProgramId
from fidela.domain.memberships import MembershipPayment, parse_membership_payment
from fidela.services import memberships, programs
from fidela.store.unit_of_work import UnitOfWork

membership_app = typer.Typer(help="Paid memberships of members.", no_args_is_help=True)

Amount = Annotated[str | None, typer.Option(help="The amount the shop took, e.g. 59.00.")]
Reference = Annotated[str | None, typer.Option(help="The shop's reference for the payment.")]


@membership_app.command("join")
def membership_join(
    member: MemberArgument,
    membership: Annotated[str, typer.Argument(help="The membership's id in the program.")],
    program: ProgramOption = None,
    paid: Amount = None,
    reference: Reference = None,
    now: NowOption = None,
) -> None:
    """Join a membership: its free trial, or with --paid its first paid period."""
    with _errors():
        uow, program_id, member_id = _member(member, program)
        payment = _payment(uow, program_id, paid, reference) if paid is not None else None
        joined = memberships.join(uow, program_id, member_id, membership, payment, now=_now(now))
        _print_json(joined)


@membership_app.command("pay")
def membership_pay(
    member: MemberArgument,
    amount: Annotated[str, typer.Option(help="The amount the shop took, e.g. 59.00.")],
    program: ProgramOption = None,
    reference: Reference = None,
    now: NowOption = None,
) -> None:
    """Record a payment: converts the trial, renews, or restarts a lapsed membership."""
    with _errors():
        uow, program_id, member_id = _member(member, program)
        payment = _payment(uow, program_id, amount, reference)
        _print_json(memberships.pay(uow, program_id, member_id, payment, now=_now(now)))


@membership_app.command("cancel")
def membership_cancel(
    member: MemberArgument, program: ProgramOption = None, now: NowOption = None
) -> None:
    """Cancel at the end of the period; the benefits last until then."""
    with _errors():
        uow, program_id, member_id = _member(member, program)
        _print_json(memberships.cancel(uow, program_id, member_id, now=_now(now)))


@membership_app.command("show")
def membership_show(member: MemberArgument, program: ProgramOption = None) -> None:
    """The member's membership and the payments reported."""
    with _errors():
        uow, program_id, member_id = _member(member, program)
        _print_json(memberships.show(uow, program_id, member_id))


def _payment(
    uow: UnitOfWork, program_id: ProgramId, amount: str, reference: str | None
) -> MembershipPayment:
    currency = programs.described(uow, program_id)["currency"]
    data = {"amount": amount, "currency": currency, "reference": reference}
    return parse_membership_payment(data)
