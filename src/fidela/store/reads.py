"""Reads sent together: the SELECTs a use case needs at once, in one round trip on
PostgreSQL.

On PostgreSQL every statement is a round trip, and under load each one waits for the
server and then for Python's GIL; SQLAlchemy also spends more CPU preparing a
statement than psycopg takes to run it. So the reads of the hot paths (an event's
look-ups, a member's state) are `Query`s: SELECTs built once per dialect with named
parameters and compiled once, which `read_together` sends at once in a psycopg
pipeline, turning the answers into SQLAlchemy rows with the columns' own result
processing. On SQLite, where a statement is a function call, they run one after the
other through SQLAlchemy.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import orjson
from sqlalchemy import ColumnElement, CompoundSelect, Dialect, Row, Select, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection, result_tuple
from sqlalchemy.exc import DBAPIError
from sqlalchemy.types import Integer, String, Text, TypeDecorator

T = TypeVar("T")

Build = Callable[[Dialect], Select[Any] | CompoundSelect[Any]]


def any_of(
    column: ColumnElement[Any], name: str | None, dialect: Dialect, values: Any = None
) -> ColumnElement[bool]:
    """`column IN` a list bound as one parameter, however long: `name`d, its value given
    when the query runs, or anonymous with `values` (`batches.among`). An array on
    PostgreSQL (`in_unnested`), JSON text on SQLite (`in_json_each`).

    Only for integer and text columns, whose values must be of the column's own Python
    type: SQLite finds no text equal to a JSON number (`42` is not `'42'`), and no stored
    time or date equal to the way JSON would write it.
    """
    if not isinstance(column.type, Integer | String):
        raise TypeError(f"{column} is neither an integer nor a text column")
    postgresql = dialect.name == "postgresql"
    kind = ARRAY(column.type) if postgresql else JsonList()
    if values is None:
        parameter = bindparam(name, type_=kind)
    else:
        parameter = bindparam(name, values, type_=kind)
    return in_unnested(column, parameter) if postgresql else in_json_each(column, parameter)


def in_unnested(column: ColumnElement[Any], array: Any) -> ColumnElement[bool]:
    """`column IN (SELECT unnest(array))` on PostgreSQL, the array one parameter.

    A list of 1,000 ids as 1,000 parameters takes about 10 ms to compile and send; as one
    array, about 1 ms. Not `column = ANY(array)`: once psycopg prepares a statement
    (its sixth run), PostgreSQL may plan it once for any array, and such a plan tests
    each row against the array element by element. 500 order ids against 5,000 orders
    took 45 ms that way, against 0.7 ms as a join with the unnested array.
    """
    return column.in_(select(func.unnest(array)).scalar_subquery())


class JsonList(TypeDecorator[list[Any]]):
    """A list bound as one JSON text, which orjson writes (in C)."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: list[Any] | None, dialect: Dialect) -> str | None:
        return None if value is None else orjson.dumps(value).decode()


def in_json_each(column: ColumnElement[Any], values: Any) -> ColumnElement[bool]:
    """`column IN (SELECT value FROM json_each(values))` on SQLite, the list one JSON
    parameter (bound as a `JsonList`), as long as it may be; SQLite looks each value up
    in the column's index.

    Expanded into one parameter per value, a list is rendered into the statement on
    every run: the look-ups before an import of 70,000 rows took twice as long.
    """
    values_of = func.json_each(values).table_valued("value")
    return column.in_(select(values_of.c.value).scalar_subquery())


def driver_of(connection: Connection) -> Any:
    """The driver's own connection under SQLAlchemy's (psycopg's, for a pipeline or COPY)."""
    driver = connection.connection.driver_connection
    assert driver is not None
    return driver


@dataclass
class _Compiled:
    """A query as psycopg runs it: SQL text, the parameters' defaults and processing, and
    how a row of the answer becomes a SQLAlchemy row (the columns' result processing,
    known once the driver has described the answer's types)."""

    sql: str
    defaults: dict[str, Any]
    bind_processors: Mapping[str, Callable[[Any], Any]]
    types: tuple[Any, ...]  # of the selected columns, as the dialect implements them
    make_row: Callable[[Sequence[Any]], Row[Any]]
    # The columns that have a result processor, by position: only they are visited (of
    # a member's 31 columns, the nine times).
    processed: tuple[tuple[int, Callable[[Any], Any]], ...] | None = None

    def parameters(self, given: Mapping[str, Any]) -> dict[str, Any]:
        parameters = self.defaults | dict(given)
        for name, process in self.bind_processors.items():
            parameters[name] = process(parameters[name])
        return parameters

    def rows(self, cursor: Any, dialect: Dialect) -> list[Row[Any]]:
        fetched = cursor.fetchall()
        processed = self.processed
        if processed is None:
            codes = [column.type_code for column in cursor.description]
            processors = (
                kind.result_processor(dialect, code)
                for kind, code in zip(self.types, codes, strict=True)
            )
            processed = self.processed = tuple(
                (i, p) for i, p in enumerate(processors) if p is not None
            )
        make_row = self.make_row
        if not processed:
            return [make_row(values) for values in fetched]
        rows = []
        for fetched_values in fetched:
            values = list(fetched_values)
            for i, process in processed:
                values[i] = process(values[i])
            rows.append(make_row(values))
        return rows


class Query:
    """A SELECT built once per dialect with named parameters."""

    def __init__(self, build: Build) -> None:
        self._build = build
        self._statements: dict[str, Select[Any] | CompoundSelect[Any]] = {}
        self._compiled: dict[str, _Compiled] = {}

    def statement(self, dialect: Dialect) -> Select[Any] | CompoundSelect[Any]:
        statement = self._statements.get(dialect.name)
        if statement is None:
            statement = self._statements[dialect.name] = self._build(dialect)
        return statement

    def compiled(self, dialect: Dialect) -> _Compiled:
        compiled = self._compiled.get(dialect.name)
        if compiled is None:
            compiled = self._compiled[dialect.name] = _compile(self.statement(dialect), dialect)
        return compiled


def _compile(statement: Select[Any] | CompoundSelect[Any], dialect: Dialect) -> _Compiled:
    compiled = statement.compile(dialect=dialect)
    binds = {
        name: processor
        for name, bind in compiled.binds.items()
        if (processor := bind.type.dialect_impl(dialect).bind_processor(dialect)) is not None
    }
    columns = list(statement.selected_columns)
    return _Compiled(
        sql=compiled.string,
        defaults=dict(compiled.params),
        bind_processors=binds,
        types=tuple(column.type.dialect_impl(dialect) for column in columns),
        make_row=result_tuple(list(statement.selected_columns.keys())),
    )


class Read(Generic[T]):
    """A query with its parameters, sent with others by `read_together`; then `value` is
    what its rows mean (`meaning` of the rows)."""

    def __init__(self, query: Query, meaning: Callable[[list[Any]], T], **parameters: Any) -> None:
        self.query = query
        self.meaning = meaning
        self.parameters = parameters
        self._value: T | None = None
        self._read = False

    @property
    def value(self) -> T:
        assert self._read, "read_together has not read this yet"
        return self._value  # type: ignore[return-value]  # T itself may be Optional

    def answer(self, rows: list[Any]) -> None:
        self._value = self.meaning(rows)
        self._read = True


def read_together(connection: Connection, reads: Sequence[Read[Any]]) -> None:
    """Read each query with its parameters, in order: on PostgreSQL in one round trip,
    in the connection's transaction (which it begins if need be)."""
    dialect = connection.dialect
    if dialect.name != "postgresql":
        for one in reads:
            statement = one.query.statement(dialect)
            one.answer(list(connection.execute(statement, one.parameters).all()))
        return
    compiled = [one.query.compiled(dialect) for one in reads]
    driver = driver_of(connection)
    with as_sqlalchemy_errors(connection):
        with driver.pipeline() if len(reads) > 1 else nullcontext():
            cursors = []
            for query, one in zip(compiled, reads, strict=True):
                cursor = driver.cursor()
                cursor.execute(query.sql, query.parameters(one.parameters))
                cursors.append(cursor)
        for query, one, cursor in zip(compiled, reads, cursors, strict=True):
            one.answer(query.rows(cursor, dialect))
            cursor.close()


def read_one(connection: Connection, one: Read[T]) -> T:
    """What one query's rows mean."""
    read_together(connection, [one])
    return one.value


@contextmanager
def as_sqlalchemy_errors(connection: Connection) -> Iterator[None]:
    """What bypasses SQLAlchemy (a pipeline, COPY) raises SQLAlchemy's error types, as the
    other statements do: `run()` retries a lost unique race, a deadlock or a
    serialization failure."""
    driver_error = connection.dialect.loaded_dbapi.Error
    try:
        yield
    except driver_error as error:
        raise DBAPIError.instance(None, None, error, driver_error) from error
