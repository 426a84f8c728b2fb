"""What every command shares: the consoles, the option aliases, the unit of work, and how
errors, instants, programs, JSON, progress and input files are handled."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path
from typing import Annotated, Any, get_args

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from fidela.config import Settings
from fidela.domain.errors import FidelaError, InvalidInput, NotFound, ProgramInvalid
from fidela.domain.ids import MemberId, ProgramId
from fidela.services import members, programs
from fidela.store.database import LOCK_WAIT, check_schema, make_engine
from fidela.store.unit_of_work import UnitOfWork

out = Console()
err = Console(stderr=True)

ProgramOption = Annotated[
    str | None, typer.Option("--program", "-p", help="Program id; may be left out if only one.")
]
NowOption = Annotated[
    str | None, typer.Option(help="The instant to act at (ISO 8601 with offset); default: now.")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]
MemberArgument = Annotated[str, typer.Argument(help="E-mail or shop customer id of the member.")]


@cache
def _settings() -> Settings:
    return Settings()


def _engine_url() -> str:
    return _settings().url


@cache
def _engine() -> Any:
    return make_engine(_engine_url(), lock_wait=_settings().lock_wait or LOCK_WAIT)


def _uow(*, check: bool = True) -> UnitOfWork:
    engine = _engine()
    if check:
        check_schema(engine)
    return UnitOfWork(engine)


@contextmanager
def _errors() -> Iterator[None]:
    """Print Fidela's errors as `field: reason` and exit 2; anything else is a bug."""
    try:
        yield
    except ProgramInvalid as error:
        for problem in error.problems:
            _complain(f"error {problem}")
        raise typer.Exit(2) from None
    except FidelaError as error:
        _complain(f"error {error}")
        raise typer.Exit(2) from None


def _complain(message: str, style: str = "red") -> None:
    """Print to stderr as written: no markup, no highlighting, no wrapping."""
    err.print(message, style=style, markup=False, highlight=False, soft_wrap=True)


def _now(value: str | None) -> datetime:
    if value is None:
        return datetime.now(UTC)
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput("--now", f"{value!r} is not an ISO 8601 timestamp") from None
    if at.tzinfo is None:
        raise InvalidInput("--now", "needs a UTC offset, e.g. 2026-01-31T23:00:00+01:00")
    return at


def _date(value: str, option: str) -> date:
    """A calendar date typed as YYYY-MM-DD, in the program's zone where it matters."""
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(option, f"{value!r} is not a date like 1997-09-30") from None


def _choice(value: str, choices: Any, option: str) -> Any:
    """`value` as one of the Literal type `choices` (typed with - where they have _);
    a located error naming them otherwise."""
    allowed = [choice.replace("_", "-") for choice in get_args(choices)]
    if value.replace("_", "-") not in allowed:
        named = f"{', '.join(allowed[:-1])} or {allowed[-1]}"
        raise InvalidInput(option, f"{value!r} is not {named}")
    return value.replace("-", "_")


def _program(uow: UnitOfWork, given: str | None) -> ProgramId:
    if given:
        return ProgramId(given)
    ids = programs.ids(uow)
    if len(ids) == 1:
        return ids[0]
    if not ids:
        raise NotFound("--program", "no program yet: run `fidela program apply FILE`")
    raise InvalidInput("--program", f"several programs exist ({', '.join(ids)}): name one")


def _member(member: str, program: str | None) -> tuple[UnitOfWork, ProgramId, MemberId]:
    """The unit of work, program and member a member command names."""
    uow = _uow()
    program_id = _program(uow, program)
    return uow, program_id, members.locate(uow, program_id, member)


def _print_json(data: Any) -> None:
    out.print_json(json.dumps(data, default=str))


def _progress(label: str, total: int | None) -> tuple[Progress, Callable[[int], None]]:
    bar = Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=False,
        disable=not err.is_terminal,
    )
    task = bar.add_task(label, total=total)
    return bar, lambda n: bar.advance(task, n)


def _read(file: Path) -> str:
    if str(file) == "-":
        return sys.stdin.read()
    try:
        return file.read_text(encoding="utf-8")
    except OSError as error:
        raise InvalidInput(str(file), error.strerror or "can't be read") from None
    except UnicodeDecodeError:
        raise InvalidInput(str(file), "is not UTF-8 text") from None
