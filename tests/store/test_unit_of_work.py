"""Units of work on a pool: a read without a transaction leaves none of that behind, a
connection the database closed while it rested is replaced before use, and a write that
waits too long for a lock fails as busy."""

import sqlite3
import threading
import time
from typing import Any

import pytest
from sqlalchemy import Engine, event

from fidela.domain.ids import ProgramId
from fidela.store import database
from fidela.store.database import LOCK_WAIT, DatabaseBusy, make_engine, temporary_sqlite
from fidela.store.unit_of_work import UnitOfWork
from tests.conftest import POSTGRES_URL, T0
from tests.services.helpers import impatient, ledger_held


def test_a_write_after_a_single_statement_read_on_its_connection_still_rolls_back(
    engine: Engine, cafe: ProgramId
) -> None:
    # One connection in the pool: the write gets the very connection the read ran on.
    url = engine.url.render_as_string(hide_password=False)
    alone = make_engine(url, pool_size=1, max_overflow=0)
    uow = UnitOfWork(alone)
    try:
        with uow.reading(single=True) as reader:  # outside a transaction on PostgreSQL
            assert reader.keys.get("no-such-key") is None
        with uow:
            uow.customers.add(cafe, external_id="ghost", email=None, at=T0)
            # left without commit: nothing of it may stay
        with uow.reading() as reader:
            assert reader.customers.find(cafe, external_id="ghost", email=None) == []
    finally:
        alone.dispose()


def test_times_come_back_in_pythons_own_utc_on_every_connection(
    engine: Engine, cafe: ProgramId
) -> None:
    """PostgreSQL's sessions are set to UTC, so that the driver gives `datetime.UTC` itself
    (UTCDateTime then keeps the value as it is); SQLite's stored text is read as UTC."""
    from datetime import UTC

    uow = UnitOfWork(engine)
    with uow:
        uow.customers.add(cafe, external_id="c1", email=None, at=T0)
        uow.commit()
    with uow.reading() as reader:
        (row,) = reader.customers.find(cafe, external_id="c1", email=None)
        if engine.dialect.name == "postgresql":
            assert reader.connection.exec_driver_sql("SHOW TimeZone").scalar() == "UTC"
    assert row.first_seen_at == T0 and row.first_seen_at.tzinfo is UTC


def test_a_rested_connection_that_the_database_closed_is_replaced_before_use(
    postgres_schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL only (SQLite has no server to restart): a pooled connection that rested
    RESTED seconds is pinged before use, so a session the server ended (as a restart
    does) costs no request."""
    monkeypatch.setattr(database, "RESTED", 0.05)
    engine = make_engine(f"{POSTGRES_URL}?options=-csearch_path%3D{postgres_schema}", pool_size=1)
    admin = make_engine(POSTGRES_URL)
    try:
        with engine.connect() as connection:
            ended = connection.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
        with admin.connect() as connection:
            connection.exec_driver_sql(f"SELECT pg_terminate_backend({int(ended)})")
        time.sleep(0.1)  # the pooled connection rests
        with UnitOfWork(engine).reading(single=True) as reader:
            assert reader.keys.get("no-such-key") is None
            pid = reader.connection.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
        assert pid != ended
    finally:
        engine.dispose()
        admin.dispose()


def test_a_write_that_waits_longer_than_its_engine_allows_for_a_lock_is_busy_and_changes_nothing(
    engine: Engine, cafe: ProgramId
) -> None:
    """SQLite: another writer holds the database's write lock; PostgreSQL: another
    transaction holds the program's ledger head. Once it is gone, the same work succeeds."""
    hurried = impatient(engine, 0.2)
    uow = UnitOfWork(hurried)

    def work() -> None:
        with uow:
            uow.customers.add(cafe, external_id="waiter", email=None, at=T0)
            uow.ledger.lock(cafe)  # what every posting takes
            uow.commit()

    try:
        with ledger_held(engine, cafe), pytest.raises(DatabaseBusy) as raised:
            work()
        assert raised.value.status == 503 and raised.value.retry_after is not None
        assert raised.value.field == "database" and "busy" in raised.value.reason
        with uow.reading() as reader:
            assert reader.customers.find(cafe, external_id="waiter", email=None) == []
        work()
        with uow.reading() as reader:
            assert len(reader.customers.find(cafe, external_id="waiter", email=None)) == 1
    finally:
        hurried.dispose()


def test_a_writer_waiting_for_sqlites_write_lock_keeps_trying_then_waits_as_allowed() -> None:
    """SQLite's own busy handler sleeps up to 100 ms between tries, and would miss a lock
    let go for less (run-due's pause between batches): Fidela's writers try every few
    milliseconds. Once in, their statements wait as long as the engine allows."""
    with temporary_sqlite("fidela-lock-") as engine:
        tries: list[str] = []

        def counted(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            if statement == "BEGIN IMMEDIATE":
                tries.append(statement)

        event.listen(engine, "before_cursor_execute", counted)
        holder = sqlite3.connect(engine.url.database or "", check_same_thread=False)
        holder.execute("BEGIN IMMEDIATE")
        released = threading.Timer(0.3, holder.rollback)
        released.start()
        try:
            with UnitOfWork(engine) as uow:
                waits = uow.connection.exec_driver_sql("PRAGMA busy_timeout").scalar()
        finally:
            released.join()
            holder.close()
    assert len(tries) >= 5  # one try every 5 ms or so while the lock was held, 0.3 s
    assert waits == LOCK_WAIT * 1000
