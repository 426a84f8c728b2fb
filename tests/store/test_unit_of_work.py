"""Units of work on a pool: a read without a transaction leaves none of that behind, and a
connection the database closed while it rested is replaced before use."""

import time

import pytest
from sqlalchemy import Engine

from fidela.domain.ids import ProgramId
from fidela.store import database
from fidela.store.database import make_engine
from fidela.store.unit_of_work import UnitOfWork
from tests.conftest import POSTGRES_URL, T0


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
