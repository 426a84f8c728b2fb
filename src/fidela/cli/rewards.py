"""`fidela reward` and `fidela voucher`: redeem and cancel; validate and consume at the till."""

from __future__ import annotations

from typing import Annotated

import typer

from fidela.cli.common import (
    MemberArgument,
    NowOption,
    ProgramOption,
    _errors,
    _now,
    _print_json,
    _program,
    _uow,
)
from fidela.services import members, rewards

reward_app = typer.Typer(help="Redeem rewards and cancel redemptions.", no_args_is_help=True)
voucher_app = typer.Typer(help="Validate and consume vouchers at the till.", no_args_is_help=True)


@reward_app.command("redeem")
def reward_redeem(
    member: MemberArgument,
    reward: Annotated[str, typer.Argument(help="Reward id from the catalog.")],
    program: ProgramOption = None,
    now: NowOption = None,
) -> None:
    """Redeem a reward for a member and print the voucher."""
    with _errors():
        uow = _uow()
        program_id = _program(uow, program)
        member_id = members.locate(uow, program_id, member)
        _print_json(rewards.redeem(uow, program_id, member_id, reward, now=_now(now)))


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
