"""Reads sent together: on PostgreSQL a pipeline whose rows must be exactly what
SQLAlchemy reads (values, types, time zones); on both databases, lists of any length."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest
from sqlalchemy import bindparam, select
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Connection

from fidela.domain.ids import CustomerId, ProgramId
from fidela.services import demo
from fidela.store.reads import Query, Read, any_of, driver_of, read_one
from fidela.store.tables import events, metadata
from fidela.store.unit_of_work import UnitOfWork
from tests.conftest import example
from tests.services.helpers import enroll, purchase

NOW = datetime(2026, 11, 24, 20, tzinfo=UTC)


def test_every_table_reads_together_exactly_as_sqlalchemy_reads_it(uow: UnitOfWork) -> None:
    demo.shop_story(uow, example("shop.yaml"), now=NOW)  # memberships, cards, referrals...
    tables = [table for table in metadata.sorted_tables if table.name != "alembic_version"]
    reads = [Read(Query(lambda _d, t=table: select(t)), list) for table in tables]
    with uow.reading() as reader:
        reader.read(*reads)
        for table, together in zip(tables, reads, strict=True):
            plain = reader.connection.execute(select(table)).all()
            assert [repr(row) for row in together.value] == [repr(row) for row in plain], table
            assert [row._mapping for row in together.value] == [row._mapping for row in plain]
    filled = [table.name for table, together in zip(tables, reads, strict=True) if together.value]
    assert {"members", "lots", "orders", "redemptions", "referrals", "member_badges"} <= set(filled)


KEYS = Query(
    lambda dialect: (
        select(events.c.idempotency_key)
        .where(
            events.c.program_id == bindparam("program_id"),
            any_of(events.c.idempotency_key, "keys", dialect),
        )
        .order_by(events.c.idempotency_key)
    ),
)
FEW_PARAMETERS = 20  # all a SQLite statement may hold in the tests below
LONG = 1_000  # values in a long list


@contextmanager
def few_parameters(connection: Connection) -> Iterator[None]:
    """On SQLite, let a statement hold only FEW_PARAMETERS parameters meanwhile, so that a
    list bound one parameter per value fails ("too many SQL variables"). On PostgreSQL
    an array is one parameter by construction."""
    if connection.dialect.name != "sqlite":
        yield
        return
    driver = driver_of(connection)
    before = driver.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, FEW_PARAMETERS)
    try:
        yield
    finally:
        driver.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, before)


@pytest.mark.parametrize("asked", [0, 1, LONG])
def test_a_list_parameter_of_any_length_reads_every_match(
    uow: UnitOfWork, cafe: ProgramId, asked: int
) -> None:
    """A list is one parameter, however long: JSON text on SQLite, an array on PostgreSQL;
    the answer is ordered as a whole."""
    enroll(uow, cafe, "ana@example.com", NOW)
    for n in range(3):
        purchase(uow, cafe, "ana@example.com", f"A{n}", "10.00", NOW)
    keys = [f"purchase-A{n}" for n in reversed(range(asked))]  # A0 to A2 exist, A0 last
    with uow.reading() as reader, few_parameters(reader.connection):
        found = read_one(reader.connection, Read(KEYS, list, program_id=cafe, keys=keys))
    expected = [f"purchase-A{n}" for n in range(min(asked, 3))]
    assert [row.idempotency_key for row in found] == expected


def test_a_repositorys_look_up_by_a_list_of_any_length_finds_every_match(
    uow: UnitOfWork, cafe: ProgramId
) -> None:
    """`among`, as an import's look-ups use it, on text and integer columns: one parameter
    however long the list, none for an empty one, a plain comparison for one value."""
    enroll(uow, cafe, "ana@example.com", NOW, customer_id="00042")
    enroll(uow, cafe, "bo@example.com", NOW, customer_id="7")
    with uow, few_parameters(uow.connection):
        shop_ids = uow.customers.ids_by_external(cafe, [str(n) for n in range(LONG)] + ["00042"])
        some = uow.customers.ids_by_external(cafe, ["7"])
        none = uow.customers.ids_by_external(cafe, [])
        customer_ids = list(shop_ids.values())
        with_members = uow.members.ids_of_customers(
            [*customer_ids, *(CustomerId(n) for n in range(10**6, 10**6 + LONG))]
        )
    assert sorted(shop_ids) == ["00042", "7"]  # "42" is not "00042"
    assert (list(some), none) == (["7"], {})
    assert sorted(with_members) == sorted(customer_ids)


def test_a_list_is_refused_for_a_column_json_cannot_match() -> None:
    """SQLite compares a JSON list's values as JSON writes them: right for integers and
    text, never equal to a stored time."""
    with pytest.raises(TypeError, match="neither an integer nor a text column"):
        any_of(events.c.occurred_at, "instants", sqlite.dialect())
