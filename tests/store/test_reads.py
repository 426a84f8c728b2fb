"""Reads sent together: on PostgreSQL a pipeline whose rows must be exactly what
SQLAlchemy reads (values, types, time zones); on both databases, lists of any length."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import bindparam, select

from fidela.domain.ids import ProgramId
from fidela.services import demo
from fidela.store.reads import Query, Read, any_of, read_one
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
SQLITE_PARAMETERS = 32_766  # the most a statement may have on SQLite


@pytest.mark.parametrize("asked", [0, 1, SQLITE_PARAMETERS + 1])
def test_a_list_parameter_of_any_length_reads_every_match(
    uow: UnitOfWork, cafe: ProgramId, asked: int
) -> None:
    """A list is one parameter, however long: a JSON list on SQLite (more values than a
    statement may have parameters), an array on PostgreSQL."""
    enroll(uow, cafe, "ana@example.com", NOW)
    for n in range(3):
        purchase(uow, cafe, "ana@example.com", f"A{n}", "10.00", NOW)
    # A0 to A2 exist, the rest do not; A0 comes last, past SQLite's limit of parameters.
    keys = [f"purchase-A{n}" for n in reversed(range(asked))]
    with uow.reading() as reader:
        found = read_one(reader.connection, Read(KEYS, list, program_id=cafe, keys=keys))
    expected = [f"purchase-A{n}" for n in range(min(asked, 3))]
    assert [row.idempotency_key for row in found] == expected


def test_a_repositorys_look_up_by_a_list_of_any_length_finds_every_match(
    uow: UnitOfWork, cafe: ProgramId
) -> None:
    """`among`, as an import's look-ups use it: one parameter however long the list."""
    enroll(uow, cafe, "ana@example.com", NOW, customer_id="00042")
    enroll(uow, cafe, "bo@example.com", NOW, customer_id="7")
    wanted = [str(n) for n in range(SQLITE_PARAMETERS + 1)] + ["00042"]  # "42" is not "00042"
    with uow:
        found = uow.customers.ids_by_external(cafe, wanted)
        by_email = uow.customers.external_ids_by_email(
            cafe, ["ana@example.com", "bo@example.com", "cy@example.com"]
        )
    assert sorted(found) == ["00042", "7"]
    assert by_email == {"ana@example.com": "00042", "bo@example.com": "7"}
