"""`fidela held` and `fidela flags`: the admin's review queue (held points, flagged
members) and a decision on each."""

from __future__ import annotations

from typing import Annotated

import typer

from fidela.cli.common import NowOption, ProgramOption, _errors, _now, _print_json, _program, _uow
from fidela.services import flags, held

held_app = typer.Typer(help="Points held above the daily cap: list, release, reject.")
Reason = Annotated[str, typer.Option(help="Why: recorded in the member's history.")]
Actor = Annotated[str, typer.Option(envvar="USER", help="Who decides: recorded with the reason.")]


@held_app.command("list")
def held_list(program: ProgramOption = None) -> None:
    """The held points waiting for a decision, oldest first."""
    with _errors():
        uow = _uow()
        _print_json(held.listed(uow, _program(uow, program)))


@held_app.command("release")
def held_release(
    lot: int, reason: Reason, actor: Actor, program: ProgramOption = None, now: NowOption = None
) -> None:
    """Grant the points of a held lot."""
    with _errors():
        uow = _uow()
        program_id = _program(uow, program)
        _print_json(held.release(uow, program_id, lot, actor=actor, reason=reason, now=_now(now)))


@held_app.command("reject")
def held_reject(
    lot: int, reason: Reason, actor: Actor, program: ProgramOption = None, now: NowOption = None
) -> None:
    """Refuse the points of a held lot: they are reversed."""
    with _errors():
        uow = _uow()
        program_id = _program(uow, program)
        _print_json(held.reject(uow, program_id, lot, actor=actor, reason=reason, now=_now(now)))


flags_app = typer.Typer(help="Members flagged for review (refunds): list, release, reject.")


@flags_app.command("list")
def flags_list(program: ProgramOption = None) -> None:
    """The open flags, oldest first."""
    with _errors():
        uow = _uow()
        _print_json(flags.listed(uow, _program(uow, program)))


@flags_app.command("release")
def flags_release(
    flag: int, reason: Reason, actor: Actor, program: ProgramOption = None, now: NowOption = None
) -> None:
    """Nothing wrong: close the flag as released."""
    with _errors():
        uow = _uow()
        program_id = _program(uow, program)
        _print_json(flags.release(uow, program_id, flag, actor=actor, reason=reason, now=_now(now)))


@flags_app.command("reject")
def flags_reject(
    flag: int, reason: Reason, actor: Actor, program: ProgramOption = None, now: NowOption = None
) -> None:
    """Uphold the flag (the shop acts on it): close it as rejected."""
    with _errors():
        uow = _uow()
        program_id = _program(uow, program)
        _print_json(flags.reject(uow, program_id, flag, actor=actor, reason=reason, now=_now(now)))
