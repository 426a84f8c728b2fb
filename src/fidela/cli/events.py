"""`fidela event`: record events from a JSON file or stdin."""

from __future__ import annotations

import json
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
    _read,
    _uow,
)
from fidela.domain.errors import InvalidInput
from fidela.domain.events import parse_event
from fidela.services import events

event_app = typer.Typer(
    help="Record events (purchases, refunds, activities).", no_args_is_help=True
)


@event_app.command("record")
def event_record(
    file: Annotated[Path, typer.Argument(help="A JSON event (or a JSON list); - for stdin.")],
    program: ProgramOption = None,
    now: NowOption = None,
) -> None:
    """Record events; each is applied once per idempotency key."""
    with _errors():
        try:
            data = json.loads(_read(file))
        except json.JSONDecodeError as error:
            raise InvalidInput(str(file), f"is not JSON: {error}") from None
        items = data if isinstance(data, list) else [data]
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                raise InvalidInput(f"[{i}]", "an event is a JSON object")
        parsed = [parse_event(item) for item in items]  # all checked before any is recorded
        uow = _uow()
        program_id = _program(uow, program)
        for event in parsed:
            recorded = events.record(uow, program_id, event, now=_now(now))
            _print_json(
                {"event_no": recorded.event_no, "duplicate": recorded.duplicate, **recorded.result}
            )
