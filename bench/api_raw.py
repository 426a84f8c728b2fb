"""The API benchmark's raw ceilings: the rows Fidela wrote for some events, stored again by
plain SQL in a fresh schema, one transaction per event (W1) or per 1,000 events (W4).

The rows are read back between two marks of the ledger (its last numbers before and
after a workload) as the driver returns them, and each is given to the event that
wrote it, so that the raw transactions hold exactly what Fidela's did.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from sqlalchemy import Engine, Table

from bench import report
from bench.ceiling import TableRows, Write, read_table, reading, store, store_each
from bench.databases import analyze, checkpoint, count_rows, fresh_database
from fidela.store import tables
from fidela.store.ledger import MEMBER_STATE_COLUMNS

# The tables an event writes rows into, in the order LedgerRepository.post writes them.
LEDGER_TABLES = (
    tables.events,
    tables.transactions,
    tables.lines,
    tables.lots,
    tables.orders,
    tables.outbox,
)
RAW_METHOD = {
    "each": "psycopg, one transaction per event: UPDATE ledger_heads first (it numbers the "
    "rest), one INSERT ... VALUES per table, UPDATE members, COMMIT; as many connections "
    "as Fidela had clients",
    "batched": "psycopg, one transaction per 1,000 events: COPY FROM STDIN per table, "
    "members and ledger head by COPY into a temporary table and UPDATE ... FROM it",
}
EventRows = dict[Table, list[Any]]  # one event's rows, by table


@dataclass(frozen=True)
class Marks:
    """The last numbers used in the ledger: what a workload wrote is numbered after them."""

    event_no: int = 0
    seq: int = 0
    lot_no: int = 0
    outbox_id: int = 0


def marks(engine: Engine) -> Marks:
    with reading(engine) as cursor:
        cursor.execute(
            "SELECT last_event_no, last_seq, last_lot_no,"
            " (SELECT coalesce(max(id), 0) FROM outbox) FROM ledger_heads"
        )
        return Marks(*cursor.fetchone())


def ledger_rows(engine: Engine, before: Marks, after: Marks) -> dict[Table, TableRows]:
    """The rows of LEDGER_TABLES numbered after `before` and up to `after`."""
    numbers = {
        tables.events: ("event_no", before.event_no, after.event_no),
        tables.transactions: ("seq", before.seq, after.seq),
        tables.lines: ("seq", before.seq, after.seq),
        tables.lots: ("lot_no", before.lot_no, after.lot_no),
        tables.orders: ("event_no", before.event_no, after.event_no),
        tables.outbox: ("id", before.outbox_id, after.outbox_id),
    }
    with reading(engine) as cursor:
        return {
            table: read_table(cursor, table, where=f"{column} > {low} AND {column} <= {high}")
            for table, (column, low, high) in numbers.items()
        }


@dataclass(frozen=True)
class Written:
    """What Fidela wrote for the events between two marks: each event's rows, in event
    order, and the members and ledger head they changed, with their values of now (what
    an update writes costs the same whatever the values)."""

    rows: dict[Table, TableRows]
    events: list[EventRows]
    members: TableRows
    head: TableRows

    @classmethod
    def read(cls, engine: Engine, before: Marks, after: Marks) -> Written:
        rows = ledger_rows(engine, before, after)
        by_event = rows_by_event(rows)
        events = f"event_no > {before.event_no} AND event_no <= {after.event_no}"
        with reading(engine) as cursor:
            members = read_table(
                cursor,
                tables.members,
                ["id", *MEMBER_STATE_COLUMNS],
                where=f"id IN (SELECT member_id FROM events WHERE {events})",
            )
            head = read_table(cursor, tables.ledger_heads)
        return cls(rows, [by_event[number] for number in sorted(by_event)], members, head)

    def inserted(self, events: Sequence[EventRows]) -> list[TableRows]:
        """The rows these events inserted, one TableRows per table that has some."""
        merged = [
            TableRows(table, self.rows[table].columns, [r for own in events for r in own[table]])
            for table in LEDGER_TABLES
        ]
        return [rows for rows in merged if rows.rows]

    def members_of(self, events: Sequence[EventRows]) -> TableRows:
        """The state of the members these events name."""
        member_of = itemgetter(self.rows[tables.events].columns.index("member_id"))
        ids = {member_of(own[tables.events][0]) for own in events}
        state = [row for row in self.members.rows if row[0] in ids]  # `id` is read first
        return TableRows(tables.members, self.members.columns, state)

    def counts(self) -> dict[str, int]:
        return {table.name: len(self.rows[table].rows) for table in LEDGER_TABLES}


def rows_by_event(rows: dict[Table, TableRows]) -> dict[int, EventRows]:
    """Which event wrote each row, by event number.

    Events, orders and transactions name it; a line, its transaction; a new lot, the
    first line that names it; an outbox row, the event of its member and instant (the
    benchmark gives every event an instant of its own).
    """

    def column(table: Table, *names: str) -> Callable[[Any], Any]:
        return itemgetter(*(rows[table].columns.index(name) for name in names))

    event_no = column(tables.events, "event_no")
    transaction_seq = column(tables.transactions, "seq")
    transaction_event = column(tables.transactions, "event_no")
    line_seq, line_lot = column(tables.lines, "seq"), column(tables.lines, "lot_no")
    lot_no = column(tables.lots, "lot_no")
    member_and_instant = column(tables.events, "member_id", "occurred_at")
    effect = column(tables.outbox, "member_id", "occurred_at")

    event_of_seq = {
        transaction_seq(row): transaction_event(row) for row in rows[tables.transactions].rows
    }
    event_of_lot: dict[int, int] = {}
    for line in rows[tables.lines].rows:
        if line_lot(line) is not None:
            event_of_lot.setdefault(line_lot(line), event_of_seq[line_seq(line)])
    event_of_effect = {member_and_instant(row): event_no(row) for row in rows[tables.events].rows}
    owner: dict[Table, Callable[[Any], int]] = {
        tables.events: event_no,
        tables.transactions: transaction_event,
        tables.lines: lambda row: event_of_seq[line_seq(row)],
        tables.lots: lambda row: event_of_lot[lot_no(row)],
        tables.orders: column(tables.orders, "event_no"),
        tables.outbox: lambda row: event_of_effect[effect(row)],
    }
    grouped: dict[int, EventRows] = defaultdict(lambda: defaultdict(list))
    for table, table_rows in rows.items():
        for row in table_rows.rows:
            grouped[owner[table](row)][table].append(row)
    return grouped


def raw_each(
    engine: Engine, postgres_url: str, before: Marks, after: Marks, clients: int
) -> dict[str, Any]:
    """W1's raw ceiling: each event's rows in a transaction of its own, from `clients` threads.

    The transaction updates the ledger head first (Fidela numbers every row under its
    lock), inserts the event's rows table by table, then updates its member.
    """
    written = Written.read(engine, before, after)
    transactions = [
        [
            Write(written.head, update=True),
            *(Write(rows) for rows in written.inserted([own])),
            Write(written.members_of([own]), update=True),
        ]
        for own in written.events
    ]
    with fresh_database("postgresql", postgres_url, "api_raw") as raw:
        prefill(engine, raw)
        report.step(f"W1 raw ceiling: {len(transactions):,} events, {clients} connections")
        seconds = store_each(raw, transactions, connections=clients)
        stored = count_rows(raw, [table.name for table in LEDGER_TABLES])
    if stored != written.counts():
        raise AssertionError(f"the raw database holds {stored}, Fidela wrote {written.counts()}")
    return _figures("each", len(transactions), seconds, written.counts())


def raw_batched(
    engine: Engine, postgres_url: str, before: Marks, after: Marks, batch: int
) -> dict[str, Any]:
    """W4's raw ceiling: the same rows, `batch` events a transaction, by COPY (ceiling.store)."""
    written = Written.read(engine, before, after)
    chunks = [
        written.events[start : start + batch] for start in range(0, len(written.events), batch)
    ]
    names = [table.name for table in LEDGER_TABLES]
    with fresh_database("postgresql", postgres_url, "api_raw_batch") as raw:
        prefill(engine, raw, upto=before)
        report.step(f"W4 raw ceiling: {len(written.events):,} events in {len(chunks)} transactions")
        seconds = sum(
            store(raw, written.inserted(chunk), [written.members_of(chunk), written.head])
            for chunk in chunks
        )
        stored, fidela = count_rows(raw, names), count_rows(engine, names)
    if stored != fidela:
        raise AssertionError(f"the raw database holds {stored}, Fidela's {fidela}")
    return _figures("batched", len(written.events), seconds, written.counts())


def prefill(source: Engine, target: Engine, upto: Marks | None = None) -> None:
    """Give `target`, untimed, what the raw writes rely on: the program, ledger head,
    customers and members of `source`, and with `upto` the ledger's rows up to those
    marks; then statistics for the planner and a checkpoint."""
    with reading(source) as cursor:
        base = [
            read_table(cursor, table)
            for table in (tables.programs, tables.ledger_heads, tables.customers, tables.members)
        ]
    ledger = list(ledger_rows(source, Marks(), upto).values()) if upto else []
    store(target, [*base, *ledger])
    analyze(target)
    checkpoint(target)


def _figures(method: str, events: int, seconds: float, rows: dict[str, int]) -> dict[str, Any]:
    return {
        "raw_events": events,
        "raw_seconds": round(seconds, 3),
        "raw_per_second": round(events / seconds, 1),
        "raw_rows": rows,
        "raw_method": RAW_METHOD[method],
    }
