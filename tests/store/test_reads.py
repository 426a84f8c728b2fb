"""Reads sent together: on PostgreSQL a pipeline whose rows must be exactly what
SQLAlchemy reads (values, types, time zones); on both databases, lists of any length."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import bindparam, select

from fidela.domain.ids import ProgramId
from fidela.services import demo
from fidela.store.reads import IN_CHUNK, Query, Read, any_of, read_one
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
    listed="keys",
)


@pytest.mark.parametrize("asked", [0, 1, IN_CHUNK + 1])
def test_a_list_parameter_of_any_length_reads_every_match(
    uow: UnitOfWork, cafe: ProgramId, asked: int
) -> None:
    """SQLite takes a long list IN_CHUNK values at a time; PostgreSQL as one array."""
    enroll(uow, cafe, "ana@example.com", NOW)
    for n in range(3):
        purchase(uow, cafe, "ana@example.com", f"A{n}", "10.00", NOW)
    # A0 to A2 exist, the rest do not; A0 comes last, past the first IN_CHUNK.
    keys = [f"purchase-A{n}" for n in reversed(range(asked))]
    with uow.reading() as reader:
        found = read_one(reader.connection, Read(KEYS, list, program_id=cafe, keys=keys))
    expected = [f"purchase-A{n}" for n in range(min(asked, 3))]
    assert sorted(row.idempotency_key for row in found) == expected  # ordered per chunk
