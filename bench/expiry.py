"""Benchmark: the scheduler expiring 1,000,000 lots of 100,000 members, per backend.

    .venv/bin/python -m bench.expiry [--backend sqlite|postgresql|both]
                                     [--members N] [--lots-per-member K] [--workers W]

Setup (untimed, but reported): a synthetic purchase history, one purchase per member
on each of K distinct days of January-June 2025, is imported under the café program
of examples/cafe-usd.yaml without its tiers and its tenth-visit bonus (so that every
purchase makes exactly one lot and the setup stays simple). Lots expire 365 days after
they are earned, so none expires during the import. Then `jobs.run_due` at
2026-12-31 expires every lot; that is what is timed, as lots expired per second. The
ledger is checked afterwards (summary and a timed full verification). With --workers,
run_due shares the members among that many threads on PostgreSQL (SQLite: always one).

While run_due runs, a second unit of work takes what an event of the API would need,
every 20 ms, and lets it go at once: the program's ledger head (`LedgerRepository.lock`;
on SQLite the write lock first, as every writer's BEGIN IMMEDIATE). The longest of those
waits is how long an event would have waited for run_due.

The raw ceiling, for context: before run_due, the database is copied (untimed) into a
second fresh one; afterwards, what run_due wrote (its new transactions, lines and
outbox rows, and the new values of the lots, members and ledger head it changed) is
read back and written into the copy with plain batched SQL in one transaction, timed.
The ratio raw/Fidela says how much of the database's own speed run_due keeps.
"""

from __future__ import annotations

import argparse
import csv
import random
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import Engine

from bench import report
from bench.ceiling import TableRows, read_table, reading, store
from bench.databases import (
    checkpoint,
    copy_database,
    count_rows,
    driver_connection,
    fresh_database,
    server_version,
)
from fidela.domain.ids import ProgramId
from fidela.services import imports, jobs, ledger, programs
from fidela.store import tables
from fidela.store.ledger import MEMBER_STATE_COLUMNS
from fidela.store.unit_of_work import UnitOfWork

ROOT = Path(__file__).parent.parent
CAFE = ROOT / "examples" / "cafe-usd.yaml"
FIRST_DAY = date(2025, 1, 1)
DAYS = 181  # January to June 2025: the last lot expires in June 2026
IMPORT_NOW = datetime(2025, 7, 1, tzinfo=UTC)
EXPIRY_NOW = datetime(2026, 12, 31, tzinfo=UTC)  # after every lot's expiry
# Full size on both: the setup import takes 2-4 minutes on each (docs/benchmarks.md).
DEFAULT_MEMBERS = {"sqlite": 100_000, "postgresql": 100_000}
DEFAULT_LOTS_PER_MEMBER = 10
GOAL_LOTS_PER_SECOND = 20_000
SEED = 20250101
PROGRAM_NOTE = "examples/cafe-usd.yaml without `tiers` and the `tenth-visit` rule"
RAW_METHOD = {
    "sqlite": "sqlite3: multi-row INSERT ... VALUES of the new rows, executemany of one "
    "UPDATE ... WHERE key per table of changed rows; one transaction",
    "postgresql": "psycopg COPY FROM STDIN of the new rows; changed rows COPYed into a "
    "temporary table, then one UPDATE ... FROM it per table; one transaction",
}
# The columns run_due's writes set (LedgerRepository.post), in the rows it changes.
CHANGED_COLUMNS = {
    tables.lots: ("remaining", "pending_until"),
    tables.members: MEMBER_STATE_COLUMNS,
    tables.ledger_heads: ("last_seq", "last_hash", "last_lot_no", "last_event_no"),
}
# Tables whose rows the raw database must count as Fidela's does, besides the open lots.
CHECKED_TABLES = ["transactions", "lines", "lots", "members", "outbox", "events"]


def main(argv: Sequence[str] | None = None) -> None:
    """Measure each backend asked for, print the figures and store them as JSON."""
    arguments = _arguments(argv)
    started = time.perf_counter()
    result = report.start(
        "expiry",
        program=PROGRAM_NOTE,
        goals={"lots_per_second_at_least": GOAL_LOTS_PER_SECOND},
    )
    print(f"program: {PROGRAM_NOTE} (one lot per purchase, to keep the setup simple)")
    with tempfile.TemporaryDirectory(prefix="fidela-bench-expiry-") as folder:
        program_file = write_program(Path(folder) / "program.yaml")
        for backend in report.backends(arguments.backend):
            members = arguments.members or DEFAULT_MEMBERS[backend]
            history = Path(folder) / f"history-{members}x{arguments.lots_per_member}.csv"
            if not history.exists():
                write_history(history, members, arguments.lots_per_member)
            workers = arguments.workers if backend == "postgresql" else 1
            figures = measure(backend, arguments.postgres_url, program_file, history, workers)
            figures.update(
                members=members, lots_per_member=arguments.lots_per_member, workers=workers
            )
            result["backends"][backend] = figures
            print_figures(backend, figures)
    report.finish(result, started)
    if not all(passed(figures) for figures in result["backends"].values()):
        raise SystemExit("a ledger check failed: the figures above are not valid")


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    arguments = report.parser("Expiry of every member's lots by the scheduler.")
    arguments.add_argument(
        "--members",
        type=int,
        help=f"members (default {DEFAULT_MEMBERS['sqlite']:,} on SQLite, "
        f"{DEFAULT_MEMBERS['postgresql']:,} on PostgreSQL)",
    )
    arguments.add_argument(
        "--lots-per-member", type=int, default=DEFAULT_LOTS_PER_MEMBER, help="default %(default)s"
    )
    arguments.add_argument(
        "--workers", type=int, default=1, help="run_due's workers on PostgreSQL (default 1)"
    )
    parsed = arguments.parse_args(argv)
    if parsed.workers < 1:
        arguments.error("--workers must be 1 or more")
    if parsed.members is not None and parsed.members < 1:
        arguments.error("--members must be 1 or more")
    if not 1 <= parsed.lots_per_member <= DAYS:
        arguments.error(f"--lots-per-member must be 1 to {DAYS}: one purchase a day")
    return parsed


def write_program(path: Path) -> Path:
    """The café program without tiers and the tenth-visit bonus: one lot per purchase."""
    program = yaml.safe_load(CAFE.read_text(encoding="utf-8"))
    program.pop("tiers", None)
    program["earn"] = [rule for rule in program["earn"] if rule["id"] != "tenth-visit"]
    path.write_text(yaml.safe_dump(program, sort_keys=False, allow_unicode=True), "utf-8")
    return path


def write_history(path: Path, members: int, lots_per_member: int) -> None:
    """A CSV history: each member buys on `lots_per_member` distinct days of H1 2025."""
    report.step(f"writing a history of {members:,} members x {lots_per_member} purchases")
    chance = random.Random(SEED)
    with path.open("w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(imports.CSV_COLUMNS)
        for member in range(1, members + 1):
            days = sorted(chance.sample(range(DAYS), lots_per_member))
            for nth, day in enumerate(days, start=1):
                occurred = (FIRST_DAY + timedelta(days=day)).isoformat()
                amount = f"{chance.randint(100, 6000) / 100:.2f}"  # 1 to 60 USD: 1+ point
                writer.writerow((f"c{member}", f"o{member}-{nth}", occurred, amount, "USD"))


def measure(
    backend: str, postgres_url: str, program_file: Path, history: Path, workers: int
) -> dict[str, Any]:
    """Import the history (setup), time the expiry run and its raw ceiling, check the ledger."""
    with fresh_database(backend, postgres_url, "expiry") as engine:
        uow = UnitOfWork(engine)
        text = program_file.read_text(encoding="utf-8")
        program_id = programs.apply(uow, text, now=IMPORT_NOW).program_id
        figures = {"database": server_version(engine), **import_history(uow, program_id, history)}
        before = ledger_state(engine)
        with fresh_database(backend, postgres_url, "expiry_raw") as snapshot:
            take_snapshot(engine, snapshot, before)
            report.step(f"expiring: run_due at {EXPIRY_NOW.isoformat()}")
            with writer_waits(engine, program_id) as waits:
                counts, seconds = report.timed(
                    lambda: jobs.run_due(
                        uow, program_id, now=EXPIRY_NOW, progress=Progress(), workers=workers
                    )
                )
            figures.update(wait_figures(waits))
            after = ledger_state(engine)
            figures.update(expiry_figures(before, after, counts, seconds))
            figures.update(raw_ceiling(engine, snapshot, before))
        figures["ratio_percent"] = round(
            100 * figures["raw_seconds"] / figures["expiry_seconds"], 1
        )
        figures.update(check_ledger(uow, program_id))
    figures["peak_rss_mib_so_far"] = round(report.peak_rss_mib(), 1)
    return figures


def import_history(uow: UnitOfWork, program_id: ProgramId, history: Path) -> dict[str, Any]:
    """The setup: read and import the history, each timed, since both are worth knowing."""
    figures = report.timed_import(uow, program_id, history, "csv", IMPORT_NOW)
    return {f"setup_{key}": value for key, value in figures.items()}


class Progress:
    """Prints how many members run_due has done, every PRINT_EVERY of them."""

    PRINT_EVERY = 10_000

    def __init__(self) -> None:
        self.members = 0

    def __call__(self, members: int) -> None:
        before, self.members = self.members, self.members + members
        if before // self.PRINT_EVERY != self.members // self.PRINT_EVERY:
            report.step(f"  {self.members:,} members done")


PROBE_EVERY = 0.02  # seconds between writer_waits' tries


@contextmanager
def writer_waits(engine: Engine, program_id: ProgramId) -> Iterator[list[float]]:
    """The seconds each try of another writer waited while the block ran (see the top)."""
    waits: list[float] = []
    failed: list[BaseException] = []
    stop = threading.Event()

    def probe() -> None:
        writer = UnitOfWork(engine)
        try:
            while not stop.wait(PROBE_EVERY):
                started = time.perf_counter()
                with writer:  # SQLite: BEGIN IMMEDIATE; then rolled back, as not committed
                    writer.ledger.lock(program_id)
                waits.append(time.perf_counter() - started)
        except BaseException as error:  # re-raised in the caller's thread
            failed.append(error)

    prober = threading.Thread(target=probe, name="writer-waits")
    prober.start()
    try:
        yield waits
    finally:
        stop.set()
        prober.join()
    if failed:
        raise failed[0]


def wait_figures(waits: list[float]) -> dict[str, Any]:
    """The longest wait and the 90th percentile, in milliseconds."""
    tries = len(waits)
    waits = sorted(waits) or [0.0]
    return {
        "writer_waits": tries,
        "writer_wait_max_ms": round(1000 * waits[-1]),
        "writer_wait_p90_ms": round(1000 * waits[int(0.9 * (len(waits) - 1))]),
    }


def ledger_state(engine: Engine) -> dict[str, int]:
    """Lots still open and their points, all lots, members' points, the last numbers used."""
    queries = {
        "open_lots": "SELECT count(*) FROM lots WHERE remaining > 0",
        "open_points": "SELECT coalesce(sum(remaining), 0) FROM lots",
        "lots": "SELECT count(*) FROM lots",
        "available_points": "SELECT coalesce(sum(available), 0) FROM members",
        "last_seq": "SELECT coalesce(max(last_seq), 0) FROM ledger_heads",
        "last_outbox_id": "SELECT coalesce(max(id), 0) FROM outbox",
    }
    with driver_connection(engine) as connection:
        cursor = connection.cursor()
        state = {}
        for name, query in queries.items():
            cursor.execute(query)
            state[name] = int(cursor.fetchone()[0])
        cursor.close()
        connection.rollback()
    return state


def take_snapshot(engine: Engine, snapshot: Engine, before: dict[str, int]) -> None:
    """Copy the database before expiry into `snapshot` (untimed), for the raw ceiling.

    Both databases' writes are then checkpointed, so that run_due's time does not
    include writing the copy to disk.
    """
    report.step("copying the database before expiry, for the raw ceiling")
    copy_database(engine, snapshot)
    if ledger_state(snapshot) != before:
        raise AssertionError("the copy of the database differs from the original")
    checkpoint(snapshot)
    checkpoint(engine)


def expiry_figures(
    before: dict[str, int], after: dict[str, int], counts: dict[str, int], seconds: float
) -> dict[str, Any]:
    """What run_due did, from the database's own counts, and how fast."""
    expired = before["open_lots"] - after["open_lots"]
    return {
        "lots": before["lots"],
        "lots_expired": expired,
        "lots_open_after": after["open_lots"],
        "expiry_seconds": round(seconds, 3),
        "lots_per_second": round(expired / seconds),
        "transactions_written": after["last_seq"] - before["last_seq"],
        "run_due_report": counts,
    }


def raw_ceiling(engine: Engine, snapshot: Engine, before: dict[str, int]) -> dict[str, Any]:
    """Time the snapshot storing what run_due wrote, then check it matches Fidela's database."""
    report.step("reading back what run_due wrote")
    inserted, updated = read_written(engine, snapshot, before)
    checkpoint(snapshot)  # run_due's writes, on PostgreSQL: not while the raw load is timed
    report.step(f"raw ceiling: {RAW_METHOD[snapshot.dialect.name]}")
    seconds = store(snapshot, inserted, updated)
    fidela_counts, raw_counts = raw_check(engine), raw_check(snapshot)
    if raw_counts != fidela_counts:
        raise AssertionError(f"the raw database holds {raw_counts}, Fidela's {fidela_counts}")
    return {
        "raw_seconds": round(seconds, 3),
        "raw_method": RAW_METHOD[snapshot.dialect.name],
        "raw_rows_inserted": {rows.table.name: len(rows.rows) for rows in inserted},
        "raw_rows_updated": {rows.table.name: len(rows.rows) for rows in updated},
    }


def read_written(
    engine: Engine, snapshot: Engine, before: dict[str, int]
) -> tuple[list[TableRows], list[TableRows]]:
    """What run_due wrote, as the driver returns it: new rows, and changed rows' new values.

    New rows are numbered past the ledger's last transaction and the outbox's last id
    before the run. Changed rows are those whose CHANGED_COLUMNS differ from the
    snapshot's (here every lot and member: each loses its points), keyed by primary key.
    """
    last_seq, last_outbox_id = before["last_seq"], before["last_outbox_id"]
    with reading(engine) as cursor:
        inserted = [
            read_table(cursor, tables.transactions, where=f"seq > {last_seq}"),
            read_table(cursor, tables.lines, where=f"seq > {last_seq}"),
            read_table(cursor, tables.outbox, where=f"id > {last_outbox_id}"),
        ]
        after = [
            read_table(cursor, table, [*table.primary_key.columns.keys(), *columns])
            for table, columns in CHANGED_COLUMNS.items()
        ]
    with reading(snapshot) as cursor:
        updated = [_changed(rows, read_table(cursor, rows.table, rows.columns)) for rows in after]
    return inserted, updated


def _changed(after: TableRows, before: TableRows) -> TableRows:
    """The rows of `after` not in `before`: those whose values changed."""
    unchanged = set(before.rows)
    return TableRows(
        after.table, after.columns, [row for row in after.rows if row not in unchanged]
    )


def raw_check(engine: Engine) -> dict[str, int]:
    """What must be equal in Fidela's database and the raw one after the writes."""
    return {**ledger_state(engine), **count_rows(engine, CHECKED_TABLES)}


def check_ledger(uow: UnitOfWork, program_id: ProgramId) -> dict[str, Any]:
    """The summary must show every issued point expired; the full verification must pass."""
    summary = ledger.summary(uow, program_id)
    report.step("verifying the ledger")
    verification, seconds = report.timed(lambda: ledger.verify(uow, program_id))
    return {
        "summary": {key: summary[key] for key in ("issued", "expired", "outstanding", "pending")},
        "all_expired": summary["expired"] == summary["issued"] and summary["outstanding"] == 0,
        "verify_ok": verification.ok,
        "verify_problem": verification.problem,
        "verify_transactions": verification.transactions,
        "verify_seconds": round(seconds, 3),
    }


def print_figures(backend: str, figures: dict[str, Any]) -> None:
    """The figures of one backend, with the goal beside them."""
    speed = figures["lots_per_second"]
    summary = figures["summary"]
    met = report.goal(speed >= GOAL_LOTS_PER_SECOND)
    size = f"{figures['members']:,} members x {figures['lots_per_member']}"
    workers = f", {figures['workers']} workers" if figures["workers"] > 1 else ""
    lines = [
        ("size", f"{size} = {figures['lots']:,} lots"),
        ("setup: read CSV", f"{figures['setup_read_seconds']:.1f} s"),
        (
            "setup: import",
            f"{figures['setup_import_seconds']:.1f} s, {figures['setup_rows_per_second']:,} rows/s",
        ),
        ("expiry (run_due)", f"{figures['expiry_seconds']:.1f} s{workers}"),
        ("lots expired", f"{figures['lots_expired']:,} ({figures['lots_open_after']:,} left)"),
        ("lots per second", f"{speed:,}  (goal ≥ {GOAL_LOTS_PER_SECOND:,}: {met})"),
        (
            "a writer waited",
            f"up to {figures['writer_wait_max_ms']:,} ms, p90 {figures['writer_wait_p90_ms']:,}"
            f" ms ({figures['writer_waits']:,} tries)",
        ),
        ("raw ceiling", f"{figures['raw_seconds']:.2f} s for the same writes"),
        ("raw method", figures["raw_method"]),
        ("transactions", f"{figures['transactions_written']:,} written by run_due"),
        ("issued/expired", f"{summary['issued']:,} / {summary['expired']:,} points"),
        ("outstanding", f"{summary['outstanding']:,}  (all expired: {figures['all_expired']})"),
        (
            "verify",
            f"{figures['verify_seconds']:.1f} s, ok={figures['verify_ok']}"
            f" ({figures['verify_transactions']:,} transactions)",
        ),
    ]
    print(f"\n{backend} ({figures['database']})")
    print(report.table(lines))
    ratio = figures["ratio_percent"]
    print(f"  run_due reaches {ratio:.0f} % of the raw ceiling (no goal: for context)")
    if not passed(figures):
        print(f"  CHECK FAILED: {figures['verify_problem'] or 'not every lot expired'}")


def passed(figures: dict[str, Any]) -> bool:
    """Whether every lot expired and the ledger verified: else the speed means nothing."""
    return bool(figures["all_expired"] and figures["verify_ok"])


if __name__ == "__main__":
    main()
