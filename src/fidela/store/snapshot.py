"""A program's history as arrays, a column each, for analytics to load into DuckDB.

The same few SELECTs on SQLite and PostgreSQL. Each table comes back as one array per
column: integers and booleans as int64 (a NULL masked), times as datetime64 in
microseconds, UTC (a NULL as NaT), text as Python strings.

PostgreSQL reads each table in slices of its pages (a TID range scan each; before
PostgreSQL 14, one slice of the whole table), every slice as one row: each column's
values as one string of 8-byte binary numbers (`string_agg(int8send(...), '')`; text
as an array). No number or time is formatted as text and parsed back, and a slice of
some 100,000 rows is one round trip. CONNECTIONS connections read slices at once, each
in the reading transaction's own snapshot (`pg_export_snapshot`: the caller's
transaction is REPEATABLE READ, as `UnitOfWork.reading` makes it), so the server works
on as many cores and the result is still one consistent read. A slice reads its pages
whole, whichever program their rows belong to: a program's export costs a scan of
each table. SQLite's rows come through SQLAlchemy.
"""

from __future__ import annotations

import queue
import re
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import BigInteger, Boolean, Integer, Select, String, cast, func, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement, Label

from fidela.domain.ids import ProgramId
from fidela.domain.ledger import Account, micros
from fidela.store.reads import driver_of
from fidela.store.tables import (
    UTCDateTime,
    customers,
    lines,
    members,
    orders,
    pilot_groups,
    transactions,
)

Columns = dict[str, NDArray[Any]]  # a table: one array per column, by name

NULL = np.iinfo(np.int64).min  # a NULL number or time on its way (NaT, as a time)
CONNECTIONS = 2  # PostgreSQL connections reading at once
PAGES_AT_ONCE = 2048  # pages of 8 kB a slice reads: about 16 MB of table
REPORTED = [  # what points KPIs, liability and backtests read: the rest stays out
    account.value
    for account in (
        Account.ISSUED,
        Account.REDEEMED,
        Account.EXPIRED,
        Account.REVERSED,
        Account.ADJUSTED,
        Account.AVAILABLE,
    )
]
_POSTGRES_EPOCH = 946_684_800_000_000  # PostgreSQL's zero, 2000-01-01, in Unix microseconds
# A slice to read: table, number, SQL and its parameters, the kinds of its columns.
Slice = tuple[str, int, str, dict[str, Any], tuple[str, ...]]
CONSISTENT = ("repeatable read", "serializable")  # isolation levels of one snapshot
SNAPSHOT_ID = re.compile(r"[0-9A-F]+-[0-9A-F]+-[0-9]+")  # what pg_export_snapshot() returns
BEYOND_ANY_PAGE = 2**32 - 1  # a page number past the largest a table can have


def queries(program_id: ProgramId) -> dict[str, Select[Any]]:
    """What analytics reads of a program, table by table."""
    return {
        "customers": select(customers.c.id, customers.c.first_seen_at).where(
            customers.c.program_id == program_id
        ),
        "members": select(
            members.c.id,
            members.c.customer_id,
            members.c.enrolled_at,
            members.c.erased_at,
            members.c.tier,
        ).where(members.c.program_id == program_id),
        "orders": select(
            orders.c.customer_id,
            orders.c.member_id,
            orders.c.occurred_at,
            orders.c.amount_minor.label("amount"),
            orders.c.refunded_minor.label("refunded"),
        ).where(orders.c.program_id == program_id),
        "pilot_groups": select(
            pilot_groups.c.pilot, pilot_groups.c.customer_id, pilot_groups.c.in_pilot
        ).where(pilot_groups.c.program_id == program_id),
        "transactions": select(transactions.c.seq, transactions.c.occurred_at).where(
            transactions.c.program_id == program_id
        ),
        # The lines of the accounts reports read; analytics joins them to their instants.
        "lines": select(lines.c.seq, lines.c.account, lines.c.amount).where(
            lines.c.program_id == program_id, lines.c.account.in_(REPORTED)
        ),
    }


def export(connection: Connection, program_id: ProgramId) -> dict[str, Columns]:
    """Every table of `queries`, read in `connection`'s transaction (on PostgreSQL, a
    REPEATABLE READ one, whose snapshot the other connections share)."""
    wanted = queries(program_id)
    if connection.dialect.name == "postgresql":
        return _read_in_slices(connection, wanted)
    return {
        table: _from_rows(query, connection.execute(query).all()) for table, query in wanted.items()
    }


def _kind(column: ColumnElement[Any]) -> str:
    """How a column travels: as a time, as text, as a boolean or as an integer (the two
    last as int64)."""
    if isinstance(column.type, UTCDateTime):
        return "time"
    if isinstance(column.type, Boolean):
        return "bool"
    return "text" if isinstance(column.type, String) else "int"


def _typed(kind: str, values: NDArray[np.int64]) -> NDArray[Any]:
    """Numbers as they leave: times as such (NULL is NaT), NULL numbers masked."""
    if kind == "time":
        return values.view("datetime64[us]")
    return np.ma.masked_equal(values, NULL) if np.any(values == NULL) else values


def _from_rows(query: Select[Any], rows: Sequence[Any]) -> Columns:
    """SQLite: the rows SQLAlchemy read, column by column."""
    found: Columns = {}
    for position, column in enumerate(query.selected_columns):
        kind = _kind(column)
        values = [row[position] for row in rows]
        if kind == "text":
            found[column.name] = np.array(values, dtype=object)
            continue
        numbers = [
            NULL if value is None else micros(value) if kind == "time" else int(value)
            for value in values
        ]
        found[column.name] = _typed(kind, np.array(numbers, dtype=np.int64))
    return found


def _read_in_slices(connection: Connection, wanted: dict[str, Select[Any]]) -> dict[str, Columns]:
    driver = driver_of(connection)
    by_ranges = driver.info.server_version >= 140000  # TID range scans: PostgreSQL 14
    slices: queue.SimpleQueue[Slice] = queue.SimpleQueue()
    kinds = {table: tuple(map(_kind, query.selected_columns)) for table, query in wanted.items()}
    with driver.cursor() as cursor:
        snapshot, isolation = cursor.execute(
            "SELECT pg_export_snapshot(), current_setting('transaction_isolation')"
        ).fetchone()
        assert SNAPSHOT_ID.fullmatch(snapshot), snapshot
        if isolation not in CONSISTENT:
            # The caller's own reads would each see a newer state than the export's.
            raise ValueError(f"a snapshot needs a REPEATABLE READ transaction, not {isolation}")
        for table, query in wanted.items():
            pages = cursor.execute(
                "SELECT pg_relation_size(%s::regclass) / current_setting('block_size')::int",
                [query.get_final_froms()[0].name],  # type: ignore[attr-defined]
            ).fetchone()[0]
            assert query.whereclause is not None  # the program's rows
            within = text("ctid >= CAST(:first AS tid) AND ctid < CAST(:beyond AS tid)")
            within = within.bindparams(first="(0,0)", beyond="(0,0)")  # each slice's own
            aggregated = select(*map(_sent, query.selected_columns)).where(
                query.whereclause, within
            )
            compiled = aggregated.compile(connection, compile_kwargs={"render_postcompile": True})
            starts = range(0, max(pages, 1), PAGES_AT_ONCE) if by_ranges else range(1)
            for number, first in enumerate(starts):
                # The last slice is open: it takes whatever lies beyond the pages counted.
                beyond = first + PAGES_AT_ONCE if first != starts[-1] else BEYOND_ANY_PAGE
                bounds = {"first": f"({first},0)", "beyond": f"({beyond},0)"}
                slices.put((table, number, str(compiled), compiled.params | bounds, kinds[table]))
    stop = threading.Event()
    with ThreadPoolExecutor(CONNECTIONS) as pool:
        readers = [
            pool.submit(_read, connection, snapshot, slices, stop) for _ in range(CONNECTIONS)
        ]
        read = sorted(found for reader in readers for found in reader.result())
    return {
        table: {
            column.name: _joined(kinds[table][i], [row[i] for t, _, row in read if t == table])
            for i, column in enumerate(query.selected_columns)
        }
        for table, query in wanted.items()
    }


def _sent(column: ColumnElement[Any]) -> ColumnElement[Any]:
    """A column of a slice: numbers and times as one string of their binary forms, 8
    bytes each (int8send, timestamptz_send), with NULL sent as the smallest bigint or as
    -infinity, the time whose binary form that is; text as an array."""
    value = column.element if isinstance(column, Label) else column
    kind = _kind(column)
    if kind == "text":
        return func.array_agg(value)
    if kind == "time":
        sent = func.timestamptz_send(func.coalesce(value, text("'-infinity'::timestamptz")))
    else:
        number = (
            cast(cast(value, Integer), BigInteger) if kind == "bool" else cast(value, BigInteger)
        )
        sent = func.int8send(func.coalesce(number, text("'-9223372036854775808'::bigint")))
    return func.string_agg(sent, text("''::bytea"))


def _read(
    connection: Connection,
    snapshot: str,
    slices: queue.SimpleQueue[Slice],
    stop: threading.Event,
) -> list[tuple[str, int, tuple[NDArray[Any], ...]]]:
    """Read slices on a connection of its own, in the exported snapshot, until none is
    left (or another reader failed); each slice's columns decoded as they come."""
    found = []
    options = {"isolation_level": "REPEATABLE READ"}
    try:
        with connection.engine.connect().execution_options(**options) as own:
            # The transaction's first statement: psycopg has just sent its BEGIN.
            own.exec_driver_sql(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
            driver = own.connection.driver_connection
            assert driver is not None
            with driver.cursor() as cursor:
                while not stop.is_set():
                    try:
                        table, number, sliced, params, kinds = slices.get_nowait()
                    except queue.Empty:
                        break
                    row = cursor.execute(sliced, params, binary=True).fetchone()
                    if row[0] is not None:  # a slice of no rows aggregates to NULLs
                        found.append((table, number, tuple(map(_decoded, kinds, row))))
    except BaseException:
        stop.set()  # the other readers stop at their next slice
        raise
    return found


def _decoded(kind: str, value: bytes | list[str | None]) -> NDArray[Any]:
    """A slice's column: text as PostgreSQL's driver reads an array of it; numbers and
    times from their 8-byte binary forms, in network byte order, a time then moved from
    PostgreSQL's zero to Unix's."""
    if isinstance(value, list):
        return np.array(value, dtype=object)
    numbers = np.frombuffer(value, ">i8").astype(np.int64)
    if kind == "time":  # -infinity is how NULL travelled; +infinity, never stored, too
        finite = (numbers != NULL) & (numbers != np.iinfo(np.int64).max)
        numbers[finite] += _POSTGRES_EPOCH
        numbers[~finite] = NULL
    return numbers


def _joined(kind: str, parts: list[NDArray[Any]]) -> NDArray[Any]:
    """A column from its slices."""
    if kind == "text":
        return np.concatenate(parts) if parts else np.zeros(0, dtype=object)
    return _typed(kind, np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64))
