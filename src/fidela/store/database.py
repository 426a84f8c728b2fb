"""Engines for SQLite (embedded default, WAL) and PostgreSQL, and the schema's migrations."""

from __future__ import annotations

import logging
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError

from fidela.domain.errors import FidelaError

MIGRATIONS = Path(__file__).parent / "migrations"
log = logging.getLogger("fidela.store")
SQLITE_AT_LEAST = (3, 38)  # the `->>` operator the batched writes use (store/batches.py)
RESTED = 1.0  # seconds in the pool after which a PostgreSQL connection is pinged before use
RESTING_SINCE = "fidela_resting_since"  # in a pooled connection's info
# Seconds a statement waits for each lock another transaction holds (SQLite's one write
# lock, PostgreSQL's row and table locks) before it fails with DatabaseBusy, unless the
# engine is given another wait (FIDELA_LOCK_WAIT): what the commands wait, as nobody
# times them out.
LOCK_WAIT = 60.0
# Milliseconds SQLite's busy handler waits before a writer's BEGIN gives up and tries
# again (_begin_sqlite): the handler alone sleeps up to 100 ms between its tries, so a
# writer waiting on it missed the lock whenever another let it go for less than that.
SQLITE_TRY_EVERY = 5
BUSY = {
    "SQLITE_BUSY",  # SQLite: the write lock stayed taken for the whole busy timeout
    "55P03",  # PostgreSQL's lock_not_available: lock_timeout ran out
}


class SchemaOutdated(FidelaError):
    """The database's schema is older (or newer) than this version of Fidela."""

    status = 503


class SQLiteTooOld(FidelaError):
    """Python's SQLite lacks what Fidela's batched writes use (the `->>` operator)."""

    status = 503


class DatabaseUnavailable(FidelaError):
    """The database does not answer."""

    status = 503


class DatabaseBusy(FidelaError):
    """A write waited longer than its engine allows for a lock another write held (an
    import, a run of the scheduler); nothing was changed, and a retry may succeed."""

    status = 503
    retry_after = 5  # seconds: about what a batch of the scheduler holds its locks


def error_code(error: DBAPIError) -> str | None:
    """The driver's code for `error`: PostgreSQL's SQLSTATE, or SQLite's error name."""
    orig = error.orig
    return getattr(orig, "sqlstate", None) or getattr(orig, "sqlite_errorname", None)


def as_busy(error: DBAPIError) -> DatabaseBusy | None:
    """The DatabaseBusy to raise instead of `error`, if it is a lock wait that ran out."""
    if error_code(error) not in BUSY:
        return None
    reason = "is busy: another write held a lock this one needs for too long; try again"
    return DatabaseBusy("database", reason)


@contextmanager
def busy_raised() -> Iterator[None]:
    """Raise DatabaseBusy instead of a driver's error that says a lock wait ran out."""
    try:
        yield
    except DBAPIError as error:
        if (busy := as_busy(error)) is None:
            raise
        raise busy from error


def normalize_url(url: str) -> str:
    """Accept plain `postgresql://` URLs and use the psycopg 3 driver for them."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url.removeprefix(prefix)
    return url


def make_engine(
    url: str, *, pool_size: int = 5, max_overflow: int = 50, lock_wait: float = LOCK_WAIT
) -> Engine:
    """An engine for `url`; SQLite gets WAL, foreign keys and `BEGIN IMMEDIATE` writes.

    A statement waits at most `lock_wait` seconds for each lock, then fails (DatabaseBusy,
    once the unit of work or `upgrade` has it).
    """
    url = normalize_url(url)
    if not url.startswith("sqlite"):
        engine = create_engine(url, pool_size=pool_size, max_overflow=max_overflow)
        event.listen(engine, "connect", partial(_configure_postgresql, lock_wait=lock_wait))
        _ping_when_rested(engine)
        return engine
    if sqlite3.sqlite_version_info < SQLITE_AT_LEAST:
        wanted = ".".join(map(str, SQLITE_AT_LEAST))
        have = sqlite3.sqlite_version
        raise SQLiteTooOld("database", f"Fidela needs SQLite {wanted} or newer; Python has {have}")
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    # A connection is used by one thread at a time, but may be handed to the ledger's writer.
    connect_args = {"timeout": lock_wait, "check_same_thread": False}
    engine = create_engine(
        url, connect_args=connect_args, pool_size=pool_size, max_overflow=max_overflow
    )
    event.listen(engine, "connect", _configure_sqlite)
    event.listen(engine, "begin", partial(_begin_sqlite, lock_wait=lock_wait))
    return engine


def _ping_when_rested(engine: Engine) -> None:
    """Check a pooled connection before use if it has rested RESTED seconds or more.

    A database that restarted meanwhile closed it, and the ping makes the pool open
    another instead of failing the request. Under load connections come back within
    milliseconds, and a ping before every use (SQLAlchemy's `pool_pre_ping`) had cost a
    round trip and about 0.1 ms of CPU per unit of work, two per request.
    """

    def rested(_dbapi_connection: Any, record: Any, *_: Any) -> None:
        record.info[RESTING_SINCE] = time.monotonic()

    def checked_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        if time.monotonic() - record.info.get(RESTING_SINCE, 0.0) < RESTED:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as error:
            raise DisconnectionError("the connection did not answer a ping") from error

    event.listen(engine, "connect", rested)
    event.listen(engine, "checkin", rested)
    event.listen(engine, "checkout", checked_out)


def _configure_postgresql(dbapi_connection: Any, _record: Any, *, lock_wait: float) -> None:
    autocommit = dbapi_connection.autocommit
    dbapi_connection.autocommit = True
    # Times then come back as Python's own UTC instants, which UTCDateTime keeps as they are.
    dbapi_connection.execute("SET TIME ZONE 'UTC'")
    # In milliseconds, at least one: 0 would let a statement wait for a lock forever.
    dbapi_connection.execute(f"SET lock_timeout = {max(1, round(lock_wait * 1000))}")
    dbapi_connection.autocommit = autocommit


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event start transactions, so writers can take the lock up front.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    for pragma in (
        "journal_mode=WAL",
        "synchronous=NORMAL",
        "foreign_keys=ON",
        "cache_size=-65536",
    ):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def _begin_sqlite(connection: Connection, *, lock_wait: float) -> None:
    """Begin; a writer takes SQLite's write lock here, so two redemptions never interleave.

    A writer that finds the lock taken tries again every few milliseconds (at most
    `lock_wait` seconds), so it gets in whenever the lock is let go, even briefly."""
    if connection.get_execution_options().get("fidela_read_only", False):
        connection.exec_driver_sql("BEGIN")
        return
    deadline = time.monotonic() + lock_wait
    connection.exec_driver_sql(f"PRAGMA busy_timeout = {SQLITE_TRY_EVERY}")
    try:
        while True:
            try:
                connection.exec_driver_sql("BEGIN IMMEDIATE")
                return
            except OperationalError as error:
                if error_code(error) not in BUSY or time.monotonic() >= deadline:
                    raise
    finally:  # the transaction's statements wait as long as the engine allows
        connection.exec_driver_sql(f"PRAGMA busy_timeout = {round(lock_wait * 1000)}")


def _alembic_config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def upgrade(engine: Engine) -> tuple[str | None, str]:
    """Create or upgrade the schema to the newest migration; return (before, after)."""
    # A migration's ALTER waits for the tables it changes, which requests may be using.
    with busy_raised(), engine.begin() as connection:
        before = MigrationContext.configure(connection).get_current_revision()
        command.upgrade(_alembic_config(connection), "head")
        after = MigrationContext.configure(connection).get_current_revision()
    assert after is not None
    return before, after


def check_schema(engine: Engine) -> None:
    """Raise SchemaOutdated unless the database is at the newest migration."""
    try:
        with engine.connect().execution_options(fidela_read_only=True) as connection:
            current = MigrationContext.configure(connection).get_current_revision()
            head = ScriptDirectory.from_config(_alembic_config(connection)).get_current_head()
    except OperationalError:
        # The driver's message may name hosts and users: it goes to the log, not the caller.
        log.exception("the database does not answer")
        raise DatabaseUnavailable("database", "does not answer") from None
    if current is None:
        raise SchemaOutdated("database", "has no Fidela schema yet: run `fidela init`")
    if current != head:
        reason = f"schema is at {current}, this Fidela needs {head}: run `fidela init`"
        raise SchemaOutdated("database", reason)


@contextmanager
def temporary_sqlite(prefix: str) -> Iterator[Engine]:
    """A migrated SQLite store in a temporary folder, deleted when the block ends."""
    with tempfile.TemporaryDirectory(prefix=prefix) as folder:
        engine = make_engine(f"sqlite:///{Path(folder) / 'fidela.db'}")
        try:
            upgrade(engine)
            yield engine
        finally:
            engine.dispose()
