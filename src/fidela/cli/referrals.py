"""`fidela referrals`: every referral and what became of it; refused ones are suspected fraud."""

from __future__ import annotations

from typing import Annotated

import typer

from fidela.cli.common import ProgramOption, _errors, _print_json, _program, _uow
from fidela.services import referrals

referrals_app = typer.Typer(help="Referrals and suspected referral fraud.", no_args_is_help=True)


@referrals_app.command("list")
def referrals_list(
    program: ProgramOption = None,
    status: Annotated[
        str | None, typer.Option(help="Only these: pending, waiting, rewarded, refused…")
    ] = None,
    after: Annotated[int, typer.Option(help="Referrals after this id.")] = 0,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 100,
) -> None:
    """Referrals in id order, with who referred whom and why one was refused."""
    with _errors():
        uow = _uow()
        page = referrals.page(uow, _program(uow, program), status=status, after=after, limit=limit)
        _print_json(page)
