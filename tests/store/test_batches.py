"""Batched inserts that return ids: every row gets its own, across several statements."""

from datetime import timedelta

from sqlalchemy import select

from fidela.domain.ids import ProgramId
from fidela.store.batches import UPDATE_CHUNK
from fidela.store.tables import customers, members
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
