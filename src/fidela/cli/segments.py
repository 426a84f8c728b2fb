"""`fidela segments`: the sizes of the RFM and rule segments, and recomputing them."""

from __future__ import annotations

import typer

from fidela.cli.common import NowOption, ProgramOption, _errors, _now, _print_json, _program, _uow
from fidela.services import segments

segments_app = typer.Typer(help="RFM and rule segments: their sizes, recomputed on demand.")


@segments_app.command("sizes")
def segments_sizes(program: ProgramOption = None) -> None:
    """How many members each segment holds, as last computed."""
    with _errors():
        uow = _uow()
        _print_json(segments.sizes(uow, _program(uow, program)))


@segments_app.command("recompute")
def segments_recompute(program: ProgramOption = None, now: NowOption = None) -> None:
    """Score every buyer again and apply the rules; members whose segments changed move."""
    with _errors():
        uow = _uow()
        _print_json(segments.recompute(uow, _program(uow, program), now=_now(now)))
