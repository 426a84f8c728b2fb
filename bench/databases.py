"""Throw-away databases for a benchmark run: a temporary SQLite file or a PostgreSQL schema.

Every run starts from an empty database built by the Alembic migrations (as the tests
do), so results never depend on what an earlier run or another user left behind.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.engine import Connection

from fidela.store.database import make_engine, temporary_sqlite, upgrade
from fidela.store.tables import metadata

BACKENDS = ("sqlite", "postgresql")
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
ANALYZE_EVERY = 5.0  # seconds between autoanalyzed()'s looks (autovacuum's: 60)


@contextmanager
def fresh_database(backend: str, postgres_url: str, name: str) -> Iterator[Engine]:
    """A migrated, empty database of `backend`, removed when the block ends."""
    if backend == "sqlite":
        with temporary_sqlite("fidela-bench-") as engine:
            yield engine
    elif backend == "postgresql":
        with _postgres_database(postgres_url, name) as engine:
            yield engine
    else:
        raise ValueError(f"unknown backend {backend!r}")


@contextmanager
def _postgres_database(postgres_url: str, name: str) -> Iterator[Engine]:
    """A dedicated schema, reached through `search_path` exactly as tests/conftest.py does."""
    schema = f"fidela_bench_{name}_{os.getpid()}"
    admin = make_engine(postgres_url)
    try:
        _run(admin, f"DROP SCHEMA IF EXISTS {schema} CASCADE", f"CREATE SCHEMA {schema}")
        engine = make_engine(f"{postgres_url}?options=-csearch_path%3D{schema}")
        try:
            upgrade(engine)
            yield engine
        finally:
            engine.dispose()
    finally:
        _run(admin, f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        admin.dispose()


def _run(engine: Engine, *statements: str) -> None:
    with engine.begin() as connection:
        for statement in statements:
            connection.execute(text(statement))


@contextmanager
def driver_connection(engine: Engine) -> Iterator[Any]:
    """The engine's own driver connection (sqlite3 or psycopg), with Fidela's settings.

    Taken from Fidela's pool, so SQLite has the same PRAGMAs (WAL, synchronous,
    foreign keys, cache) and PostgreSQL the same search_path as Fidela's own writes.
    """
    pooled = engine.raw_connection()
    try:
        yield pooled.driver_connection
    finally:
        pooled.close()


def copy_database(source: Engine, target: Engine) -> None:
    """Give `target`, a fresh database of the same backend, every row of `source`.

    Both are built by the same migrations, so the copy has the same rows, constraints
    and indexes. SQLite copies the file through its backup API (which reads the WAL
    too); PostgreSQL copies each table, in foreign-key order, with INSERT ... SELECT
    from the other schema, then VACUUM ANALYZE, so that autovacuum does not visit the
    copy later, while something is timed. Sequences are not copied: rows written later
    by plain SQL carry their ids.
    """
    if source.dialect.name == "sqlite":
        with driver_connection(source) as original, driver_connection(target) as copy:
            original.backup(copy)
        return
    with _reading(source) as connection:
        schema = connection.exec_driver_sql("SELECT current_schema()").scalar()
    with target.begin() as connection:
        for table in metadata.sorted_tables:
            names = ", ".join(column.name for column in table.columns)
            connection.exec_driver_sql(
                f"INSERT INTO {table.name} ({names}) SELECT {names} FROM {schema}.{table.name}"
            )
    tables = ", ".join(table.name for table in metadata.sorted_tables)
    with target.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql(f"VACUUM ANALYZE {tables}")


def checkpoint(engine: Engine) -> None:
    """Write the write-ahead log into the database files now, not while something is timed.

    On SQLite, this file's WAL, emptied; on PostgreSQL, CHECKPOINT, which is the whole
    server's (it needs a superuser or the pg_checkpoint role, as the default URL has).
    """
    sqlite = engine.dialect.name == "sqlite"
    with driver_connection(engine) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)" if sqlite else "CHECKPOINT")
        connection.commit()


def analyze(engine: Engine) -> None:
    """Give PostgreSQL's planner statistics of every table in the schema, as autovacuum would.

    This machine's PostgreSQL runs with autovacuum off (a CI setting), so a fresh schema
    that grows during a run keeps the statistics of its empty tables, and its plans are
    those of empty tables: a member's history then scanned every line of the program.
    """
    with driver_connection(engine) as connection:
        cursor = connection.cursor()
        cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
        for (table,) in cursor.fetchall():
            cursor.execute(f"ANALYZE {table}")
        connection.commit()


@contextmanager
def autoanalyzed(engine: Engine) -> Iterator[None]:
    """Within the block, keep PostgreSQL's statistics fresh as autovacuum would.

    This machine's PostgreSQL runs with autovacuum off (a CI setting). A workload here
    multiplies the rows of a fresh schema within a minute, so the plans PostgreSQL
    prepared at its start (psycopg prepares a statement on its fifth run, and PostgreSQL
    keeps a generic plan) stay those of small tables: a member's lots, orders and lines
    read by scanning every row of the program. A deployment's autovacuum analyzes a
    table once 50 rows plus 10 % of it changed (its defaults), which invalidates those
    plans; a thread does the same here, looking every ANALYZE_EVERY seconds rather than
    every minute, as these tables grow tenfold where a deployment's grow by a fraction.
    """
    if engine.dialect.name != "postgresql":
        yield
        return
    stop = threading.Event()
    with ThreadPoolExecutor(max_workers=1) as pool:
        analyzing = pool.submit(_analyze_changed, engine, stop)
        try:
            yield
        finally:
            stop.set()
        analyzing.result()  # a failed analyzer fails the run: not measured as described


def _analyze_changed(engine: Engine, stop: threading.Event) -> None:
    """ANALYZE, until `stop`, each table of the schema that autovacuum would."""
    with driver_connection(engine) as connection:
        connection.autocommit = True
        cursor = connection.cursor()
        while not stop.wait(ANALYZE_EVERY):
            cursor.execute(
                "SELECT s.relname FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid"
                " WHERE s.schemaname = current_schema()"
                " AND s.n_mod_since_analyze > 50 + 0.1 * greatest(c.reltuples, 0)"
            )
            for (table,) in cursor.fetchall():
                cursor.execute(f"ANALYZE {table}")


def server_version(engine: Engine) -> str:
    """The database's own version string: SQLite's library or PostgreSQL's server."""
    sqlite = engine.dialect.name == "sqlite"
    query = "SELECT sqlite_version()" if sqlite else "SHOW server_version"
    with _reading(engine) as connection:
        version = connection.exec_driver_sql(query).scalar()
    return f"{'SQLite' if sqlite else 'PostgreSQL'} {version}"


def count_rows(engine: Engine, tables: list[str]) -> dict[str, int]:
    """Rows in each of `tables`."""
    with _reading(engine) as connection:
        return {
            table: int(connection.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar() or 0)
            for table in tables
        }


def _reading(engine: Engine) -> Connection:
    """A connection for reads only (on SQLite, a plain BEGIN instead of BEGIN IMMEDIATE)."""
    return engine.connect().execution_options(fidela_read_only=True)
