"""`fidela credit`: pay part of an order with a member's store credit, or cancel that."""

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
    _program,
    _uow,
)
from fidela.domain.money import parse_amount
from fidela.services import credit, programs

credit_app = typer.Typer(help="Spend store credit (cashback) at checkout.", no_args_is_help=True)


@credit_app.command("pay")
def credit_pay(
    member: MemberArgument,
    amount: Annotated[str, typer.Option(help="The credit to spend, e.g. 5.00.")],
    program: ProgramOption = None,
    order_id: Annotated[str | None, typer.Option(help="The order it pays.")] = None,
    now: NowOption = None,
) -> None:
    """Spend some of a member's available credit on an order."""
    with _errors():
        uow, program_id, member_id = _member(member, program)
        currency = programs.described(uow, program_id)["currency"]
        paid = credit.pay(
            uow,
            program_id,
            member_id,
            parse_amount(amount, "--amount"),
            currency,
            order_id=order_id,
            now=_now(now),
        )
        _print_json(paid)


@credit_app.command("cancel")
def credit_cancel(payment_id: int, program: ProgramOption = None, now: NowOption = None) -> None:
    """Cancel a payment: its credit goes back to the member."""
    with _errors():
        uow = _uow()
        _print_json(credit.cancel(uow, _program(uow, program), payment_id, now=_now(now)))
