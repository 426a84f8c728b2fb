"""Migrations that fill new columns from what is stored."""

from datetime import timedelta

from alembic import command
from sqlalchemy import Engine, select

from fidela.domain.ids import ProgramId
from fidela.store.database import _alembic_config, upgrade
from fidela.store.tables import members
from fidela.store.unit_of_work import UnitOfWork
from tests.conftest import T0
from tests.services.helpers import enroll, purchase


def test_0006_fills_each_members_last_purchase_from_their_orders(
    engine: Engine, uow: UnitOfWork, cafe: ProgramId
) -> None:
    ana = enroll(uow, cafe, "ana@example.com", T0)
    bob = enroll(uow, cafe, "bob@example.com", T0)
    purchase(uow, cafe, "ana@example.com", "A2", "9.00", T0 + timedelta(days=9))
    purchase(uow, cafe, "ana@example.com", "A1", "5.00", T0 + timedelta(days=3))  # sent late
    with engine.begin() as connection:
        command.downgrade(_alembic_config(connection), "0005")
    try:
        with engine.begin() as connection:
            command.upgrade(_alembic_config(connection), "0006")
    finally:
        upgrade(engine)  # the schema is the worker's: leave it at head whatever happened
    with engine.connect() as connection:
        last = dict(connection.execute(select(members.c.id, members.c.last_purchase_at)).all())
    assert last == {ana: T0 + timedelta(days=9), bob: None}
