"""`fidela program`: check and apply program files, list their versions."""

from __future__ import annotations

from pathlib import Path

import typer

from fidela.cli.common import (
    NowOption,
    ProgramOption,
    _complain,
    _errors,
    _now,
    _program,
    _read,
    _uow,
    out,
)
from fidela.services import programs

program_app = typer.Typer(help="Check and apply program files.", no_args_is_help=True)


@program_app.command("check")
def program_check(file: Path) -> None:
    """Validate a program file; print every mistake with its location and exit 2."""
    with _errors():
        program, inactive = programs.check(_read(file))
        out.print(f"{file}: valid program {program.program} ({program.name})")
        for section in inactive:
            out.print(f"  not active yet: {section}")


@program_app.command("apply")
def program_apply(file: Path, now: NowOption = None) -> None:
    """Store a new version of the program in the file."""
    with _errors():
        applied = programs.apply(_uow(), _read(file), now=_now(now))
        verb = "unchanged at" if applied.unchanged else "applied as"
        out.print(f"program {applied.program_id} {verb} version {applied.version}")
        for section in applied.inactive:
            _complain(f"not active yet (stored, has no effect): {section}", "yellow")


@program_app.command("versions")
def program_versions(program: ProgramOption = None) -> None:
    """List a program's versions."""
    with _errors():
        uow = _uow()
        for version in programs.history(uow, _program(uow, program)):
            out.print(
                f"{version.version}\t{version.applied_at.isoformat()}\t{version.program.name}"
            )
