"""Migrations that fill new columns from what is stored."""

from datetime import timedelta

from alembic import command
from sqlalchemy import Engine, select

from fidela.domain.ids import ProgramId
from fidela.services import programs, webhooks
from fidela.store.database import _alembic_config, upgrade
from fidela.store.tables import ledger_heads, members
from fidela.store.unit_of_work import UnitOfWork
from tests.conftest import T0, example
from tests.services.helpers import enroll, purchase


def _migrate_again(engine: Engine, revision: str, previous: str) -> None:
    """Downgrade to `previous`, then upgrade to `revision` with what is stored."""
    with engine.begin() as connection:
        command.downgrade(_alembic_config(connection), previous)
    try:
        with engine.begin() as connection:
            command.upgrade(_alembic_config(connection), revision)
    finally:
        upgrade(engine)  # the schema is the worker's: leave it at head whatever happened


def test_0006_fills_each_members_last_purchase_from_their_orders(
    engine: Engine, uow: UnitOfWork, cafe: ProgramId
) -> None:
    ana = enroll(uow, cafe, "ana@example.com", T0)
    bob = enroll(uow, cafe, "bob@example.com", T0)
    purchase(uow, cafe, "ana@example.com", "A2", "9.00", T0 + timedelta(days=9))
    purchase(uow, cafe, "ana@example.com", "A1", "5.00", T0 + timedelta(days=3))  # sent late
    _migrate_again(engine, "0006", "0005")
    with engine.connect() as connection:
        last = dict(connection.execute(select(members.c.id, members.c.last_purchase_at)).all())
    assert last == {ana: T0 + timedelta(days=9), bob: None}


def test_0019_marks_the_programs_that_have_a_live_webhook_subscription(
    engine: Engine, uow: UnitOfWork, cafe: ProgramId
) -> None:
    shop = programs.apply(uow, example("shop.yaml"), now=T0).program_id
    webhooks.subscribe(uow, cafe, "http://127.0.0.1:9/cafe", None, now=T0)
    ended = webhooks.subscribe(uow, shop, "http://127.0.0.1:9/shop", None, now=T0)
    webhooks.unsubscribe(uow, shop, ended["subscription_id"], now=T0)
    _migrate_again(engine, "0019", "0018")
    with engine.connect() as connection:
        heads = connection.execute(select(ledger_heads.c.program_id, ledger_heads.c.webhooks_live))
        assert dict(heads.all()) == {cafe: True, shop: False}
