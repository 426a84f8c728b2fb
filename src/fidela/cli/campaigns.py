"""`fidela campaigns`: what each campaign granted against its budget."""

from __future__ import annotations

import typer

from fidela.cli.common import NowOption, ProgramOption, _errors, _now, _print_json, _program, _uow
from fidela.services import campaigns

campaigns_app = typer.Typer(help="Campaigns: their budgets and what they granted.")


@campaigns_app.command("list")
def campaigns_list(program: ProgramOption = None, now: NowOption = None) -> None:
    """Each campaign: window, target, budget, points granted so far and left."""
    with _errors():
        uow = _uow()
        _print_json(campaigns.listed(uow, _program(uow, program), now=_now(now)))
