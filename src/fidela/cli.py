"""The `fidela` command: thin wrappers that parse arguments, call a service, print."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from fidela.config import Settings
from fidela.domain.errors import FidelaError, InvalidInput, NotFound, ProgramInvalid
from fidela.domain.events import parse_enrollment, parse_event
from fidela.domain.ids import ProgramId
from fidela.services import (
    adjustments,
    events,
    imports,
    jobs,
    keys,
    ledger,
    members,
    programs,
    rewards,
)
from fidela.store.database import check_schema, make_engine, upgrade
from fidela.store.unit_of_work import UnitOfWork

app = typer.Typer(
    help="Fidela: a loyalty-program engine with an exact ledger.", no_args_is_help=True
)
program_app = typer.Typer(help="Check and apply program files.", no_args_is_help=True)
member_app = typer.Typer(help="Enroll and inspect members.", no_args_is_help=True)
event_app = typer.Typer(
    help="Record events (purchases, refunds, activities).", no_args_is_help=True
)
reward_app = typer.Typer(help="Redeem rewards and cancel redemptions.", no_args_is_help=True)
voucher_app = typer.Typer(help="Validate and consume vouchers at the till.", no_args_is_help=True)
ledger_app = typer.Typer(help="Verify and summarize the ledger.", no_args_is_help=True)
jobs_app = typer.Typer(help="Run scheduled work.", no_args_is_help=True)
import_app = typer.Typer(help="Import purchase history.", no_args_is_help=True)
keys_app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)
for name, sub in (
    ("program", program_app),
    ("member", member_app),
    ("event", event_app),
    ("reward", reward_app),
    ("voucher", voucher_app),
    ("ledger", ledger_app),
    ("jobs", jobs_app),
    ("import", import_app),
    ("keys", keys_app),
):
    app.add_typer(sub, name=name)

out = Console()
err = Console(stderr=True)

ProgramOption = Annotated[
    str | None, typer.Option("--program", "-p", help="Program id; may be left out if only one.")
]
NowOption = Annotated[
    str | None, typer.Option(help="The instant to act at (ISO 8601 with offset); default: now.")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


@cache
def _engine_url() -> str:
    return Settings().url


@cache
def _engine() -> Any:
    return make_engine(_engine_url())


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


def _program(uow: UnitOfWork, given: str | None) -> ProgramId:
    if given:
        return ProgramId(given)
    ids = programs.ids(uow)
    if len(ids) == 1:
        return ids[0]
    if not ids:
        raise NotFound("--program", "no program yet: run `fidela program apply FILE`")
    raise InvalidInput("--program", f"several programs exist ({', '.join(ids)}): name one")


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


@app.command()
def init() -> None:
    """Create or upgrade the database schema."""
    before, after = upgrade(_engine())
    if before == after:
        out.print(f"schema is current ({after})")
    else:
        out.print(f"schema upgraded from {before or 'nothing'} to {after}")


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


@member_app.command("enroll")
def member_enroll(
    email: Annotated[str, typer.Option(help="The member's e-mail.")],
    program: ProgramOption = None,
    customer_id: Annotated[str | None, typer.Option(help="The shop's own customer id.")] = None,
    name: Annotated[str | None, typer.Option()] = None,
    birthday: Annotated[str | None, typer.Option(help="YYYY-MM-DD")] = None,
    now: NowOption = None,
) -> None:
    """Enroll a member (or find the one already enrolled with this e-mail or id)."""
    with _errors():
        uow = _uow()
        at = _now(now)
        enrollment = parse_enrollment(
            {
                "email": email,
                "customer_id": customer_id,
                "name": name,
                "birthday": birthday,
                "enrolled_at": at,
            }
        )
        enrolled = members.enroll(uow, _program(uow, program), enrollment, now=at)
        verb = "enrolled" if enrolled.created else "already enrolled"
        out.print(f"member {enrolled.member_id} {verb}")


@member_app.command("show")
def member_show(
    ref: Annotated[
        str, typer.Argument(help="E-mail or shop customer id (or member id with --id).")
    ],
    program: ProgramOption = None,
    by_id: Annotated[bool, typer.Option("--id", help="REF is Fidela's member id.")] = False,
    as_json: JsonOption = False,
) -> None:
    """A member's points, tier, lots and history with the reason of every line."""
    with _errors():
        uow = _uow()
        report = members.show(uow, _program(uow, program), ref, by_member_id=by_id)
        if as_json:
            _print_json(report)
        else:
            _print_member(report)


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


@reward_app.command("redeem")
def reward_redeem(
    member: Annotated[str, typer.Argument(help="E-mail or shop customer id of the member.")],
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


@app.command("adjust")
def adjust(
    member: Annotated[str, typer.Argument(help="E-mail or shop customer id of the member.")],
    points: Annotated[int, typer.Argument(help="Points to add (or take, if negative).")],
    reason: Annotated[str, typer.Option(help="Why: recorded in the member's history.")],
    actor: Annotated[str, typer.Option(envvar="USER", help="Who: recorded with the reason.")],
    program: ProgramOption = None,
    now: NowOption = None,
) -> None:
    """Add or take points by hand, with a mandatory reason."""
    with _errors():
        uow = _uow()
        program_id = _program(uow, program)
        member_id = members.locate(uow, program_id, member)
        _print_json(
            adjustments.adjust(
                uow, program_id, member_id, points, actor=actor, reason=reason, now=_now(now)
            )
        )


@jobs_app.command("run-due")
def jobs_run_due(program: ProgramOption = None, now: NowOption = None) -> None:
    """Run everything due up to --now: expiry, pending points, birthdays, tier reviews."""
    with _errors():
        uow = _uow()
        program_ids = [ProgramId(program)] if program else programs.ids(uow)
        for program_id in program_ids:
            bar, advance = _progress(f"run-due {program_id}", None)
            with bar:
                counts = jobs.run_due(uow, program_id, now=_now(now), progress=advance)
            _print_json({"program": program_id, **counts})


@ledger_app.command("verify")
def ledger_verify(program: ProgramOption = None) -> None:
    """Check the hash chain, that each transaction sums to zero, and every cached balance."""
    with _errors():
        uow = _uow()
        program_id = _program(uow, program)
        bar, advance = _progress(f"verify {program_id}", None)
        with bar:
            result = ledger.verify(uow, program_id, progress=advance)
        if result.ok:
            out.print(f"ledger ok: {result.transactions} transactions verified")
            return
        _complain(f"ledger broken: {result.problem}")
        raise typer.Exit(1)


@ledger_app.command("summary")
def ledger_summary(program: ProgramOption = None, as_json: JsonOption = False) -> None:
    """The program's totals: issued, redeemed, expired, reversed, outstanding, liability."""
    with _errors():
        uow = _uow()
        totals = ledger.summary(uow, _program(uow, program))
        if as_json:
            _print_json(totals)
            return
        table = Table("total", "value", title=f"ledger of {totals['program']}")
        for key, value in totals.items():
            table.add_row(key, str(value))
        out.print(table)


@import_app.command("purchases")
def import_purchases(
    file: Path,
    program: ProgramOption = None,
    file_format: Annotated[str, typer.Option("--format", help="cdnow or csv")] = "csv",
    announce: Annotated[
        bool, typer.Option(help="Write tier changes and enrollments to the outbox.")
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


@app.command()
def demo(
    program_file: Annotated[Path, typer.Option()] = Path("examples/cafe-usd.yaml"),
    history: Annotated[Path, typer.Option()] = Path("data/cdnow/CDNOW_master.txt"),
    until: Annotated[
        str, typer.Option(help="run-due up to this instant")
    ] = "1998-07-01T00:00:00-04:00",
    serve: Annotated[bool, typer.Option(help="Then serve the API with the demo keys.")] = True,
    port: Annotated[int, typer.Option()] = 8000,
) -> None:
    """Load the demo: the café program in USD, CDNOW's real history, run-due, then the API."""
    from fidela.services import demo as demo_service

    with _errors():
        out.print(f"database: {_engine_url()}")
        upgrade(_engine())
        uow = _uow()
        rows = imports.read(history, "cdnow")
        bar, advance = _progress("demo: import, then run-due", None)
        with bar:
            report = demo_service.load(
                uow, _read(program_file), rows, until=_now(until), now=_now(None), progress=advance
            )
        for title, data in report.items():
            out.rule(title)
            _print_json(data)
    if serve:
        _serve_demo(report["program"]["id"], report["api keys"], port)


def _serve_demo(program_id: str, api_keys: dict[str, str], port: int) -> None:
    import uvicorn

    from fidela.api.app import create_app

    base = f"http://127.0.0.1:{port}"
    out.rule("the API")
    out.print(f"OpenAPI: {base}/openapi.json   interactive docs: {base}/docs")
    out.print(f"admin key:       {api_keys['admin']}")
    out.print(f"integration key: {api_keys['integration']}")
    out.print(
        f"try: curl -H 'Authorization: Bearer {api_keys['integration']}' "
        f"{base}/v1/programs/{program_id}/members?limit=3",
        soft_wrap=True,
    )
    out.print("Ctrl-C stops the server.")
    uvicorn.run(create_app(_engine()), host="127.0.0.1", port=port, log_level="warning")


@keys_app.command("create")
def keys_create(
    role: Annotated[str, typer.Option(help="admin or integration")],
    name: Annotated[str, typer.Option(help="Who or what uses the key, e.g. 'web shop'.")],
    program: ProgramOption = None,
) -> None:
    """Create an API key; it is printed once and cannot be shown again."""
    with _errors():
        uow = _uow()
        created = keys.create(uow, _program(uow, program), role=role, name=name, now=_now(None))
        _print_json(created)
        err.print("Keep the key now: Fidela stores only its digest.", style="yellow")


@keys_app.command("list")
def keys_list(program: ProgramOption = None) -> None:
    """The program's keys, revoked ones too; never their secrets."""
    with _errors():
        uow = _uow()
        _print_json(keys.listed(uow, _program(uow, program)))


@keys_app.command("revoke")
def keys_revoke(key_id: str, program: ProgramOption = None) -> None:
    """Revoke a key at once."""
    with _errors():
        uow = _uow()
        keys.revoke(uow, _program(uow, program), key_id, now=_now(None))
        out.print(f"key {key_id} revoked")


@app.command()
def serve(
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8000,
    workers: Annotated[int, typer.Option(help="Processes answering requests.")] = 1,
) -> None:
    """Serve the HTTP API (OpenAPI at /openapi.json) on the configured database."""
    import uvicorn

    with _errors():
        check_schema(_engine())
    from fidela.api.logs import config

    uvicorn.run(
        "fidela.api.app:from_settings",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=config(),
    )


@app.command()
def openapi() -> None:
    """Print the API's OpenAPI description (kept in docs/openapi.json)."""
    from sqlalchemy import create_engine

    from fidela.api.app import create_app

    description = create_app(create_engine("sqlite://")).openapi()  # never connects
    sys.stdout.write(json.dumps(description, indent=2, ensure_ascii=False) + "\n")


def _read(file: Path) -> str:
    if str(file) == "-":
        return sys.stdin.read()
    try:
        return file.read_text(encoding="utf-8")
    except OSError as error:
        raise InvalidInput(str(file), error.strerror or "can't be read") from None
    except UnicodeDecodeError:
        raise InvalidInput(str(file), "is not UTF-8 text") from None


def _print_member(report: dict[str, Any]) -> None:
    who = report["email"] or report["customer_id"]
    out.print(f"[bold]member {report['member_id']}[/bold] {who}  enrolled {report['enrolled_at']}")
    tier = report["tier"]
    if tier:
        out.print(f"tier {tier['id']} since {tier['since']} (review {tier['review_at'] or '-'})")
    unit = report["point_name"]
    balance = f"{report['available']} {unit}s available, {report['pending']} pending"
    out.print(f"{balance}, debt {report['debt']}")
    lots = Table("lot", "remaining", "earned", "expires", "rule", "order")
    for lot in report["lots"]:
        lots.add_row(
            str(lot["lot"]),
            str(lot["remaining"]),
            lot["earned_at"],
            lot["expires_at"] or "never",
            lot["rule"] or "",
            lot["order_id"] or "",
        )
    out.print(lots)
    history = Table("seq", "at", "points", "why")
    for entry in report["history"]:
        cause = entry["cause"]
        why = " ".join(str(v) for k, v in cause.items() if k != "idempotency_key")
        if entry["rules"]:
            why += f" (rules: {', '.join(entry['rules'])})"
        history.add_row(str(entry["seq"]), entry["at"], f"{entry['points']:+d}", why)
    out.print(history)


def main() -> None:
    app()
