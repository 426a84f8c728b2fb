"""Units of work on a pool: a read without a transaction leaves none of that behind."""

from sqlalchemy import Engine

from fidela.domain.ids import ProgramId
from fidela.store.database import make_engine
from fidela.store.unit_of_work import UnitOfWork
from tests.conftest import T0


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
