"""`fidela reward` and `fidela voucher`: redeem and cancel; validate and consume at the till."""

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
from fidela.domain.rewards import parse_payment
from fidela.services import programs, rewards

reward_app = typer.Typer(help="Redeem rewards and cancel redemptions.", no_args_is_help=True)
voucher_app = typer.Typer(help="Validate and consume vouchers at the till.", no_args_is_help=True)


RewardArgument = Annotated[str, typer.Argument(help="Reward id from the catalog.")]
OrderAmount = Annotated[
    str | None, typer.Option(help="points_as_payment: the order's amount, e.g. 80.00.")
]


@reward_app.command("redeem")
def reward_redeem(
    member: MemberArgument,
    reward: RewardArgument,
    program: ProgramOption = None,
    points: Annotated[int | None, typer.Option(help="points_as_payment: points to spend.")] = None,
    order_amount: OrderAmount = None,
    order_id: Annotated[str | None, typer.Option(help="points_as_payment: the order.")] = None,
    now: NowOption = None,
) -> None:
    """Redeem a reward for a member and print the voucher."""
    with _errors():
        uow, program_id, member_id = _member(member, program)
        payment = None
        if points is not None or order_amount is not None:
            currency = programs.described(uow, program_id)["currency"]
            payment = parse_payment(
                {"points": points, "order_amount": order_amount, "currency": currency}
                | ({"order_id": order_id} if order_id else {})
            )
        redeemed = rewards.redeem(
            uow, program_id, member_id, reward, payment=payment, now=_now(now)
        )
        _print_json(redeemed)


@reward_app.command("quote")
def reward_quote(
    member: MemberArgument,
    reward: RewardArgument,
    order_amount: Annotated[str, typer.Option(help="The order's amount, e.g. 80.00.")],
    program: ProgramOption = None,
    now: NowOption = None,
) -> None:
    """How many of a member's points can pay for an order (a points_as_payment reward)."""
    with _errors():
        uow, program_id, member_id = _member(member, program)
        amount = parse_amount(order_amount, "--order-amount")
        _print_json(rewards.quote(uow, program_id, member_id, reward, amount, now=_now(now)))


@reward_app.command("cancel")
def reward_cancel(redemption_id: int, program: ProgramOption = None, now: NowOption = None) -> None:
    """Cancel a redemption whose voucher is unused; the points go back to their lots."""
    with _errors():
        uow = _uow()
        _print_json(rewards.cancel(uow, _program(uow, program), redemption_id, now=_now(now)))


@voucher_app.command("validate")
def voucher_validate(code: str, program: ProgramOption = None) -> None:
    """Show what a voucher is worth and whether it is still usable."""
    with _errors():
        uow = _uow()
        _print_json(rewards.validate_voucher(uow, _program(uow, program), code))


@voucher_app.command("consume")
def voucher_consume(
    code: str,
    program: ProgramOption = None,
    order_id: Annotated[str | None, typer.Option(help="The order it was used on.")] = None,
    now: NowOption = None,
) -> None:
    """Use a voucher, once."""
    with _errors():
        uow = _uow()
        result = rewards.consume_voucher(
            uow, _program(uow, program), code, order_id=order_id, now=_now(now)
        )
        _print_json(result)
