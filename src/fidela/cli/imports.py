"""`fidela import`: import purchase history, all rows or none."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fidela.cli.common import (
    NowOption,
    ProgramOption,
    _errors,
    _now,
    _print_json,
    _program,
    _progress,
    _uow,
)
from fidela.services import imports

import_app = typer.Typer(help="Import purchase history.", no_args_is_help=True)


@import_app.command("purchases")
def import_purchases(
    file: Path,
    program: ProgramOption = None,
    file_format: Annotated[str, typer.Option("--format", help="cdnow or csv")] = "csv",
    announce: Annotated[
        bool,
        typer.Option(
            help="Announce what the import does to webhooks (enrollments, points, tiers)."
        ),
    ] = False,
    now: NowOption = None,
) -> None:
    """Import purchase history: all rows or, if one is bad, none."""
    with _errors():
        uow = _uow()
        program_id = _program(uow, program)
        rows = imports.read(file, file_format)
        bar, advance = _progress(f"import {file.name}", None)
        with bar:
            report = imports.import_purchases(
                uow, program_id, rows, now=_now(now), progress=advance, announce=announce
            )
        _print_json(report)
