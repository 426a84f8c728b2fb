"""Batched writes: rows as tuples, written in as few round trips as the database allows.

The ledger writes tens of thousands of rows at a time (an import, an expiry run).
SQLite takes each batch as one JSON array, unpacked by `json_each` inside one
statement: SQLite then runs the whole statement without Python's GIL, so a second
thread can write while the first computes (an `executemany` takes the GIL back for
every row). Multi-row `INSERT ... VALUES` lists of bound parameters would take SQLite
half the time for an import's inserts (3.8 s against 7.4 s on the slowest machine,
run alone), but binding 30,000 parameters a statement holds the GIL, which the
computing thread, the import's limit, then waits for: the import took longer there, and
no less on a faster machine, where the writing thread's CPU fell by a fifth. So the
JSON stays. PostgreSQL takes its rows the same way, as one JSON array unpacked by
`jsonb_array_elements`, for every update and every insert of up to PIPELINED_UP_TO
rows, and all of a batch's writes go in one pipeline: one round trip, which matters
as the members (and for a group, the ledger head) are locked meanwhile. orjson
writes the array in C, where psycopg dumped one array per column in Python and COPY
took a round trip per table: in process, a batch of 1,000 events took about 185 ms of
CPU that way, 125 ms this way. Larger inserts go by COPY, and a write of at most
VALUES_PARAMETERS_UP_TO values (a lone event's) as a `VALUES` list, which costs
PostgreSQL less than a JSON array for one event. Above that count psycopg no longer
caches a statement's conversion (it parses the SQL again at every run) and dumps every
value in Python: recorded in groups of six, events took about a quarter less CPU in
process by JSON arrays (0.32 against 0.43-0.44 ms an event) than when a limit of ten
rows sent their writes as `VALUES` lists. Values are converted here exactly as the
SQLAlchemy column types would store them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any, ClassVar

import orjson
from sqlalchemy import ColumnElement, Row, Table
from sqlalchemy.engine import Connection

from fidela.store.reads import any_of, as_sqlalchemy_errors, driver_of

UPDATE_CHUNK = 10_000  # rows per UPDATE statement on PostgreSQL
PIPELINED_UP_TO = 10_000  # rows per insert: up to this, PostgreSQL gets a pipeline, not COPY
# Values (rows x columns) up to which PostgreSQL gets a VALUES list, not a JSON array:
# psycopg's limit for caching a statement's conversion (MAX_CACHED_STATEMENT_PARAMS).
VALUES_PARAMETERS_UP_TO = 50


def among(connection: Connection, column: ColumnElement[Any], values: Iterable[Any]) -> Any:
    """`column IN (values)`, the values one parameter (`reads.any_of`)."""
    wanted = list(values)
    if len(wanted) == 1:  # one event's look-ups: a plain comparison, no array to send
        return column == wanted[0]
    return any_of(column, None, connection.dialect, wanted)


@dataclass(frozen=True)
class _Write:
    table: Table
    columns: Sequence[str]
    rows: list[tuple[Any, ...]]
    keys: Sequence[str] | None = None  # an update's WHERE columns; None for an insert


class BatchWriter:
    """Collects a batch's inserts and updates; `run` executes them, in order."""

    _compiled: ClassVar[dict[tuple[str, tuple[str, ...]], list[str]]] = {}  # PostgreSQL's

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.sqlite = connection.dialect.name == "sqlite"
        self._times: dict[datetime, str] = {}
        self._writes: list[_Write] = []

    def run(self, *, commit: bool = False) -> None:
        """Execute the writes, in order. With `commit`, a pipeline ends with the COMMIT
        (the transaction's last round trip); otherwise the caller commits later."""
        writes, self._writes = self._writes, []
        execute = self.connection.exec_driver_sql
        if self.sqlite:
            for write in writes:
                for statement, parameters in self._statements(write):
                    execute(statement, parameters)
        elif all(w.keys is not None or len(w.rows) <= PIPELINED_UP_TO for w in writes):
            driver = driver_of(self.connection)
            with (
                as_sqlalchemy_errors(self.connection),
                driver.pipeline(),
                driver.cursor() as cursor,
            ):
                for write in writes:
                    for statement, parameters in self._statements(write):
                        cursor.execute(statement, parameters)
                if commit:  # skipped by the server if a write failed: the pipeline aborts
                    driver.commit()
        else:
            for write in writes:
                if write.keys is None:
                    self._copy(write)
                    continue
                for statement, parameters in self._statements(write):
                    execute(statement, parameters)

    def time(self, at: datetime | None) -> Any:
        """A timezone-aware instant in the column's storage form (UTC; text on SQLite)."""
        if at is None:
            return None
        if at.tzinfo is None:
            raise ValueError(f"naive datetime {at} would lose its time zone")
        if not self.sqlite:
            return at
        stored = self._times.get(at)
        if stored is None:
            utc = at if at.tzinfo is UTC else at.astimezone(UTC)
            stored = self._times[at] = utc.replace(tzinfo=None).isoformat(" ", "microseconds")
        return stored

    @staticmethod
    def json(value: Any) -> str:
        return orjson.dumps(value).decode()

    def insert(self, table: Table, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
        """Queue `rows` for inserting, sorted by the table's primary key when they hold
        it: each then lands next to the one before in the key's index (for the lots, in
        the table itself, clustered by member), where an import's orders and lots come
        in date order, scattered over the key: on SQLite the CDNOW import's inserts of
        orders and lots took 11-19 % less time so (docs/benchmarks.md, section 1)."""
        if len(rows) > 1 and (key := _primary_key(table, columns)) is not None:
            rows.sort(key=key)
        if rows:
            self._writes.append(_Write(table, columns, rows))

    def update(
        self,
        table: Table,
        columns: Sequence[str],
        keys: Sequence[str],
        rows: list[tuple[Any, ...]],
    ) -> None:
        """UPDATE `columns` WHERE `keys`; each row holds the new values, then the keys."""
        if rows:
            self._writes.append(_Write(table, columns, rows, keys))

    def insert_returning(
        self,
        table: Table,
        columns: Sequence[str],
        rows: list[tuple[Any, ...]],
        returning: Sequence[str],
    ) -> list[Row[Any]]:
        """Insert at once (not queued) and return the `returning` columns of the new rows."""
        found: list[Row[Any]] = []
        for start in range(0, len(rows), UPDATE_CHUNK):
            source, parameters = self._source(table, columns, rows[start : start + UPDATE_CHUNK])
            found.extend(
                self.connection.exec_driver_sql(
                    f"INSERT INTO {table.name} ({', '.join(columns)}) {source} "
                    f"RETURNING {', '.join(returning)}",
                    parameters,
                )
            )
        return found

    def _source(
        self, table: Table, columns: Sequence[str], rows: list[tuple[Any, ...]]
    ) -> tuple[str, tuple[Any, ...]]:
        """A SELECT of `rows` with columns named `columns`, from one JSON array (or on
        PostgreSQL, for a few values, a VALUES list), each value cast to its column's type."""
        if self.sqlite:
            values = ", ".join(f"value ->> {i} AS {name}" for i, name in enumerate(columns))
            return f"SELECT {values} FROM json_each(?)", (orjson.dumps(rows).decode(),)
        types = self._types(table, columns)
        if len(rows) * len(columns) <= VALUES_PARAMETERS_UP_TO:
            row = f"({', '.join(f'%s::{type_}' for type_ in types)})"
            source = (
                f"SELECT * FROM (VALUES {', '.join([row] * len(rows))}) AS v({', '.join(columns)})"
            )
            return source, tuple(value for values in rows for value in values)
        values = ", ".join(
            f"(value ->> {i})::{type_} AS {name}"
            for i, (name, type_) in enumerate(zip(columns, types, strict=True))
        )
        source = f"SELECT {values} FROM jsonb_array_elements(%s::jsonb)"
        return source, (orjson.dumps(rows).decode(),)

    def _types(self, table: Table, columns: Sequence[str]) -> list[str]:
        """The SQL types of a table's columns, for a write's casts: compiled once, as that
        costs about as much as sending an event's write."""
        key = (table.name, tuple(columns))
        types = self._compiled.get(key)
        if types is None:
            dialect = self.connection.dialect
            types = self._compiled[key] = [table.c[name].type.compile(dialect) for name in columns]
        return types

    def _statements(self, write: _Write) -> Iterator[tuple[str, tuple[Any, ...]]]:
        """The SQL of a write, with its parameters: one INSERT, or an UPDATE per chunk."""
        table, columns = write.table, write.columns
        if write.keys is None:
            source, parameters = self._source(table, columns, write.rows)
            yield f"INSERT INTO {table.name} ({', '.join(columns)}) {source}", parameters
            return
        # The rows are a derived table `v`, joined on the keys.
        names = [*columns, *write.keys]
        assignments = ", ".join(f"{column} = v.{column}" for column in columns)
        where = " AND ".join(f"{table.name}.{key} = v.{key}" for key in write.keys)
        for start in range(0, len(write.rows), UPDATE_CHUNK):
            source, parameters = self._source(
                table, names, write.rows[start : start + UPDATE_CHUNK]
            )
            yield (
                f"UPDATE {table.name} SET {assignments} FROM ({source}) AS v WHERE {where}",
                parameters,
            )

    def _copy(self, write: _Write) -> None:
        statement = f"COPY {write.table.name} ({', '.join(write.columns)}) FROM STDIN"
        with (
            as_sqlalchemy_errors(self.connection),
            driver_of(self.connection).cursor() as cursor,
            cursor.copy(statement) as copy,
        ):
            for row in write.rows:
                copy.write_row(row)


def _primary_key(table: Table, columns: Sequence[str]) -> Callable[[tuple[Any, ...]], Any] | None:
    """A row's primary key, if `columns` hold all of it."""
    names = [column.name for column in table.primary_key.columns]
    if not all(name in columns for name in names):
        return None
    return itemgetter(*(list(columns).index(name) for name in names))
