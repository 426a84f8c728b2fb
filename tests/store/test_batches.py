"""Batched writes: inserts that return ids get every row its own, across several
statements; every way of sending rows stores each value as its column would."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from fidela.domain.ids import ProgramId
from fidela.store import batches
from fidela.store.batches import UPDATE_CHUNK, BatchWriter
from fidela.store.tables import customers, members, outbox, pilots
from fidela.store.unit_of_work import UnitOfWork
from tests.conftest import T0


def test_customers_and_members_inserted_in_chunks_map_to_their_own_ids(
    uow: UnitOfWork, cafe: ProgramId
) -> None:
    count = UPDATE_CHUNK + 1  # two statements each
    first_seen = {
        f"c{n}": (T0 + timedelta(seconds=n), f"c{n}@example.com" if n % 2 else None)
        for n in range(count)
    }
    with uow:
        ids = uow.customers.add_many(cafe, first_seen)
        enrolled = {ids[f"c{n}"]: T0 + timedelta(minutes=n) for n in range(count)}
        member_ids = uow.members.add_many(cafe, enrolled)
        uow.commit()
    assert len(set(ids.values())) == len(set(member_ids.values())) == count
    with uow:
        stored = {
            row.external_id: (row.id, row.email, row.first_seen_at)
            for row in uow.connection.execute(select(customers))
        }
        joined = {
            row.customer_id: (row.id, row.enrolled_at)
            for row in uow.connection.execute(select(members))
        }
    for external_id, (at, email) in first_seen.items():
        assert stored[external_id] == (ids[external_id], email, at)
    for customer_id, member_id in member_ids.items():
        assert joined[customer_id] == (member_id, enrolled[customer_id])


# Half of them, updated in three columns, are still more values than a VALUES list takes.
MANY = 2 * (batches.VALUES_PARAMETERS_UP_TO // 3) + 5
ROUTES = {  # rows inserted, and the most a pipeline takes: how PostgreSQL gets them
    "a VALUES list": (3, batches.PIPELINED_UP_TO),
    "a JSON array": (MANY, batches.PIPELINED_UP_TO),
    "COPY, then JSON arrays outside a pipeline": (MANY, MANY - 1),
}


@pytest.mark.parametrize("route", ROUTES)
def test_every_route_stores_each_type_as_the_column_would(
    uow: UnitOfWork, cafe: ProgramId, route: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    count, pipelined_up_to = ROUTES[route]
    monkeypatch.setattr(batches, "PIPELINED_UP_TO", pipelined_up_to)
    paris = ZoneInfo("Europe/Paris")
    sent = [
        (f"kind 'n{n}' \"é\" \\", datetime(2026, 3, 29, 1, 59, 59, n, tzinfo=paris), n % 2 == 0)
        for n in range(count)
    ]
    data = [{"n": n, "text": 'ü\n\t"', "list": [1.5, None, True]} for n in range(count)]
    with uow:
        write = BatchWriter(uow.connection)
        write.insert(
            outbox,
            ("program_id", "member_id", "kind", "occurred_at", "data", "delivered"),
            [
                (cafe, None, kind, write.time(at), write.json(data[n]), delivered)
                for n, (kind, at, delivered) in enumerate(sent)
            ],
        )
        write.insert(
            pilots,
            ("program_id", "name", "share", "seed", "strata", "created_at"),
            [(cafe, f"p{n}", 0.1 * n, 2**62 + n, "none", write.time(T0)) for n in range(count)],
        )
        write.run()
        ids = list(uow.connection.execute(select(outbox.c.id).order_by(outbox.c.id)).scalars())
        write.update(outbox, ("delivered", "data"), ("id",), [(True, "[]", i) for i in ids[::2]])
        write.run()
        uow.commit()
    with uow:
        stored = uow.connection.execute(select(outbox).order_by(outbox.c.id)).all()
        shares = uow.connection.execute(select(pilots).order_by(pilots.c.seed)).all()
    updated = set(ids[::2])
    assert [(r.kind, r.occurred_at, r.member_id) for r in stored] == [
        (kind, at, None) for kind, at, _ in sent
    ]
    assert [r.occurred_at.tzinfo for r in stored] == [UTC] * count
    assert [(r.delivered, r.data) for r in stored] == [
        (True, []) if r.id in updated else (delivered, data[n])
        for n, (r, (_, _, delivered)) in enumerate(zip(stored, sent, strict=True))
    ]
    assert [(p.name, p.share, p.seed) for p in shares] == [
        (f"p{n}", 0.1 * n, 2**62 + n) for n in range(count)
    ]
