"""The raw ceiling: how fast a database stores given rows with plain batched SQL.

A benchmark reads back what Fidela wrote, as the driver returns it, and times the same
database storing exactly those rows in one transaction, with nothing computed: new rows
by multi-row INSERT ... VALUES on SQLite and psycopg's COPY FROM STDIN on PostgreSQL,
changed rows by their primary key. The ratio raw/Fidela says how much of the database's
own speed Fidela keeps.

For use cases that commit one at a time (an HTTP request), `store_each` times the same
database storing each use case's rows in a transaction of its own, from several
connections at once, with plain INSERT and UPDATE statements.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from psycopg.types.string import TextLoader
from sqlalchemy import Engine, Table

from bench.databases import driver_connection

SQLITE_VARIABLES = 32_766  # SQLite's limit of bound parameters per statement (since 3.32)


@dataclass(frozen=True)
class TableRows:
    """Some or all columns of a table's rows as the driver returns them, in primary-key order."""

    table: Table
    columns: list[str]
    rows: list[tuple[Any, ...]]

    @property
    def key_columns(self) -> list[str]:
        """The table's primary-key columns: what an update finds its row by."""
        return [column.name for column in self.table.primary_key.columns]

    @property
    def value_columns(self) -> list[str]:
        """The columns an update sets: every column read but the key."""
        return [column for column in self.columns if column not in self.key_columns]


@contextmanager
def reading(engine: Engine) -> Iterator[Any]:
    """A driver cursor that returns the stored values untouched, in a transaction rolled back.

    SQLite's driver returns them as stored (times are text); on PostgreSQL JSON columns
    are read as their text, so that COPY writes them back unchanged.
    """
    with driver_connection(engine) as connection:
        cursor = connection.cursor()
        if engine.dialect.name == "postgresql":
            for json_type in ("json", "jsonb"):
                cursor.adapters.register_loader(json_type, TextLoader)
        try:
            yield cursor
        finally:
            cursor.close()
            connection.rollback()


def read_table(
    cursor: Any, table: Table, columns: Sequence[str] | None = None, where: str = ""
) -> TableRows:
    """The rows of `table` (those matching the SQL condition `where`, if given)."""
    names = list(columns) if columns is not None else [column.name for column in table.columns]
    order = ", ".join(column.name for column in table.primary_key.columns)
    condition = f" WHERE {where}" if where else ""
    cursor.execute(f"SELECT {', '.join(names)} FROM {table.name}{condition} ORDER BY {order}")
    return TableRows(table, names, [tuple(row) for row in cursor.fetchall()])


def store(
    engine: Engine, inserted: Sequence[TableRows], updated: Sequence[TableRows] = ()
) -> float:
    """Insert `inserted`, then update `updated` by primary key, in one transaction.

    Plain batched SQL, tables in the order given; returns the seconds taken.
    """
    with driver_connection(engine) as connection:
        if engine.dialect.name == "sqlite":
            return _store_sqlite(connection, inserted, updated)
        return _store_postgres(connection, inserted, updated)


def _store_sqlite(
    connection: Any, inserted: Sequence[TableRows], updated: Sequence[TableRows]
) -> float:
    """New rows by INSERT ... VALUES with as many rows a statement as SQLite's limit of
    bound parameters allows; changed rows by executemany of UPDATE ... WHERE key.

    For the rows of a CDNOW import, the multi-row INSERT took 2.0-2.1 s where an
    executemany of one-row INSERTs took 2.5 s (until 2026-12-06 the raw ceiling used
    that). For 95,000 changed rows, an UPDATE ... FROM a multi-row VALUES list took
    0.28-0.33 s, executemany 0.30 s: the same.
    """
    start = time.perf_counter()
    connection.execute("BEGIN IMMEDIATE")
    for rows in inserted:
        names = ", ".join(rows.columns)
        row = f"({', '.join('?' * len(rows.columns))})"
        per_statement = SQLITE_VARIABLES // len(rows.columns)
        for first in range(0, len(rows.rows), per_statement):
            chunk = rows.rows[first : first + per_statement]
            connection.execute(
                f"INSERT INTO {rows.table.name} ({names}) VALUES {', '.join([row] * len(chunk))}",
                [value for values in chunk for value in values],
            )
    for rows in updated:
        # Numbered parameters (?1, ?2...) take each row as read, whatever its columns' order.
        mark = {name: f"?{number}" for number, name in enumerate(rows.columns, start=1)}
        assignments = ", ".join(f"{name} = {mark[name]}" for name in rows.value_columns)
        where = " AND ".join(f"{name} = {mark[name]}" for name in rows.key_columns)
        statement = f"UPDATE {rows.table.name} SET {assignments} WHERE {where}"
        connection.executemany(statement, rows.rows)
    connection.execute("COMMIT")
    return time.perf_counter() - start


def _store_postgres(
    connection: Any, inserted: Sequence[TableRows], updated: Sequence[TableRows]
) -> float:
    """psycopg's COPY FROM STDIN per table; updates COPYed to a temporary table, then joined.

    For updates, COPY into a temporary table and one UPDATE ... FROM it was the fastest
    plain way measured (100,000 lots: 1.0 s, against 1.2-1.4 s for UPDATE ... FROM
    unnest(arrays), in one statement or by 10,000 rows, and 2.2 s for executemany of
    UPDATE ... WHERE key, which psycopg pipelines).
    """
    start = time.perf_counter()
    with connection.cursor() as cursor:
        for rows in inserted:
            _copy(cursor, rows.table.name, rows)
        for rows in updated:
            table, names = rows.table.name, ", ".join(rows.columns)
            cursor.execute(
                f"CREATE TEMPORARY TABLE new_{table} ON COMMIT DROP"
                f" AS SELECT {names} FROM {table} WITH NO DATA"
            )
            _copy(cursor, f"new_{table}", rows)
            assignments = ", ".join(f"{name} = changed.{name}" for name in rows.value_columns)
            where = " AND ".join(f"{table}.{name} = changed.{name}" for name in rows.key_columns)
            cursor.execute(
                f"UPDATE {table} SET {assignments} FROM new_{table} changed WHERE {where}"
            )
    connection.commit()
    return time.perf_counter() - start


def _copy(cursor: Any, table: str, rows: TableRows) -> None:
    with cursor.copy(f"COPY {table} ({', '.join(rows.columns)}) FROM STDIN") as copy:
        for row in rows.rows:
            copy.write_row(row)


@dataclass(frozen=True)
class Write:
    """Rows to insert into one table, or (with `update`) to update in it by primary key."""

    rows: TableRows
    update: bool = False


def store_each(
    engine: Engine, transactions: Sequence[Sequence[Write]], *, connections: int
) -> float:
    """Store each group of writes in a transaction of its own, from `connections` threads.

    PostgreSQL only. Plain SQL, in the order given: one INSERT ... VALUES per table (all
    its rows in one statement) and one UPDATE ... WHERE key per row, then COMMIT; each
    statement is a round trip, as a plain client sends them. Returns the seconds taken.
    """
    groups = iter(transactions)
    lock = threading.Lock()

    def next_group() -> Sequence[Write] | None:
        with lock:
            return next(groups, None)

    def client() -> None:
        with driver_connection(engine) as connection, connection.cursor() as cursor:
            while (group := next_group()) is not None:
                for write in group:
                    _write(cursor, write)
                connection.commit()

    start = time.perf_counter()
    with ThreadPoolExecutor(connections) as pool:
        for done in [pool.submit(client) for _ in range(connections)]:
            done.result()
    return time.perf_counter() - start


def _write(cursor: Any, write: Write) -> None:
    rows, table = write.rows, write.rows.table.name
    if not write.update:
        marks = ", ".join([f"({', '.join(['%s'] * len(rows.columns))})"] * len(rows.rows))
        values = [value for row in rows.rows for value in row]
        cursor.execute(f"INSERT INTO {table} ({', '.join(rows.columns)}) VALUES {marks}", values)
        return
    # Parameters by name take each row as read, whatever its columns' order.
    assignments = ", ".join(f"{name} = %({name})s" for name in rows.value_columns)
    where = " AND ".join(f"{name} = %({name})s" for name in rows.key_columns)
    for row in rows.rows:
        cursor.execute(
            f"UPDATE {table} SET {assignments} WHERE {where}",
            dict(zip(rows.columns, row, strict=True)),
        )
