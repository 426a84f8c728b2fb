"""`fidela jobs`: run the scheduled work that is due."""

from __future__ import annotations

from typing import Annotated

import typer

from fidela.cli.common import (
    NowOption,
    ProgramOption,
    _errors,
    _now,
    _print_json,
    _progress,
    _uow,
)
from fidela.domain.ids import ProgramId
from fidela.services import jobs, programs, segments

jobs_app = typer.Typer(help="Run scheduled work.", no_args_is_help=True)


@jobs_app.command("run-due")
def jobs_run_due(
    program: ProgramOption = None,
    now: NowOption = None,
    workers: Annotated[
        int,
        typer.Option(min=1, help="Threads sharing the members, on PostgreSQL (SQLite: 1)."),
    ] = 1,
) -> None:
    """Run everything due up to --now: expiry, pending points, birthdays, tier reviews,
    and the segments once a day."""
    with _errors():
        uow = _uow()
        program_ids = [ProgramId(program)] if program else programs.ids(uow)
        for program_id in program_ids:
            bar, advance = _progress(f"run-due {program_id}", None)
            with bar:
                counts = jobs.run_due(
                    uow, program_id, now=_now(now), progress=advance, workers=workers
                )
            recomputed = segments.recompute_if_due(uow, program_id, now=_now(now))
            _print_json({"program": program_id, **counts, "segments_recomputed": int(recomputed)})
