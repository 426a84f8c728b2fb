"""Migrations that fill new columns from what is stored, or rebuild a table keeping it."""

from datetime import timedelta

import pytest
from alembic import command
from sqlalchemy import Engine, insert, select
from sqlalchemy.exc import IntegrityError, OperationalError

from fidela.domain.ids import ProgramId
from fidela.services import ledger, programs, webhooks
from fidela.store.database import _alembic_config, upgrade
from fidela.store.tables import ledger_heads, lines, lots, members
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


def test_0020_keys_lots_by_member_keeping_every_lot_and_each_number_once_a_program(
    engine: Engine, uow: UnitOfWork, cafe: ProgramId
) -> None:
    ana = enroll(uow, cafe, "ana@example.com", T0)
    bob = enroll(uow, cafe, "bob@example.com", T0)
    for day, (email, order) in enumerate([("ana", "A1"), ("bob", "B1"), ("ana", "A2")]):
        purchase(uow, cafe, f"{email}@example.com", order, "8.00", T0 + timedelta(days=day))

    def stored_lots() -> list[dict[str, object]]:
        with engine.connect() as connection:
            rows = connection.execute(select(lots).order_by(lots.c.lot_no)).mappings()
            return [dict(row) for row in rows]

    before = stored_lots()
    _migrate_again(engine, "0020", "0019")
    assert stored_lots() == before
    assert [lot["member_id"] for lot in before] == [ana, bob, ana]
    assert ledger.verify(uow, cafe).ok
    with pytest.raises(IntegrityError), engine.begin() as connection:  # ana's lot's number
        connection.execute(insert(lots).values({**before[0], "member_id": bob}))
    if engine.dialect.name == "sqlite":  # stored in the key's order: there is no rowid
        with pytest.raises(OperationalError, match="rowid"), engine.connect() as connection:
            connection.exec_driver_sql("SELECT rowid FROM lots")


def test_0021_keeps_every_line_and_the_ledger_still_verifies(
    engine: Engine, uow: UnitOfWork, cafe: ProgramId
) -> None:
    enroll(uow, cafe, "ana@example.com", T0)
    purchase(uow, cafe, "ana@example.com", "A1", "8.00", T0)

    def stored_lines() -> list[tuple[object, ...]]:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(select(lines).order_by(lines.c.seq))]

    before = stored_lines()
    _migrate_again(engine, "0021", "0020")
    assert stored_lines() == before and len(before) == 2
    assert ledger.verify(uow, cafe).ok
