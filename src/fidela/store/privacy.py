"""What Fidela holds on one person, to export it, and erasing the personal part of it.

Personal data lives in four places: the customer (e-mail, the shop's id), the member
(name, birthday), the events the shop sent (their `customer` object and an activity's
free-form `attributes`), and answers kept
for retries. Ledger rows hold ids and points only, so erasure never touches them and
the hash chain still verifies.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Row, Text, cast, delete, or_, select, update
from sqlalchemy.engine import Connection

from fidela.domain.ids import CustomerId, MemberId, ProgramId
from fidela.store.tables import (
    api_keys,
    customers,
    events,
    idempotent_requests,
    members,
    orders,
    referrals,
)

ERASED = {"erased": True}  # what stands in an event for the customer it named


class PrivacyRepository:
    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def customer(self, customer_id: CustomerId) -> Row[Any]:
        return self.connection.execute(select(customers).where(customers.c.id == customer_id)).one()

    def events_of(self, program_id: ProgramId, customer_id: CustomerId) -> list[Row[Any]]:
        return list(
            self.connection.execute(
                select(events)
                .where(events.c.program_id == program_id, events.c.customer_id == customer_id)
                .order_by(events.c.event_no)
            )
        )

    def orders_of(self, program_id: ProgramId, customer_id: CustomerId) -> list[Row[Any]]:
        return list(
            self.connection.execute(
                select(orders)
                .where(orders.c.program_id == program_id, orders.c.customer_id == customer_id)
                .order_by(orders.c.occurred_at, orders.c.order_ref)
            )
        )

    def erase(
        self, program_id: ProgramId, member_id: MemberId, customer_id: CustomerId, at: datetime
    ) -> int:
        """Remove the person's data, keeping ids and amounts; how many events were scrubbed."""
        email = self.customer(customer_id).email
        self.connection.execute(
            update(customers)
            .where(customers.c.id == customer_id)
            .values(email=None, external_id=None)
        )
        self.connection.execute(
            update(members)
            .where(members.c.id == member_id)
            .values(
                name=None, birthday=None, leaderboard_name=None, referral_code=None, erased_at=at
            )
        )
        # Referrals the member is part of that nothing decided yet will bring nothing.
        self.connection.execute(
            update(referrals)
            .where(
                or_(referrals.c.referrer_id == member_id, referrals.c.referee_id == member_id),
                referrals.c.status.in_(("pending", "waiting")),
            )
            .values(status="cancelled", reason="a member's data was erased", closed_at=at)
        )
        scrubbed = 0
        for row in self.events_of(program_id, customer_id):
            payload = _scrubbed(row.payload)
            if payload != row.payload:
                self.connection.execute(
                    update(events)
                    .where(events.c.program_id == program_id, events.c.event_no == row.event_no)
                    .values(payload=payload)
                )
                scrubbed += 1
        self.connection.execute(delete(api_keys).where(api_keys.c.member_id == member_id))
        if email:  # answers kept for retries that show the member (an update, say)
            self.connection.execute(
                delete(idempotent_requests).where(
                    idempotent_requests.c.program_id == program_id,
                    cast(idempotent_requests.c.response, Text).contains(email),
                )
            )
        return scrubbed


def _scrubbed(payload: dict[str, Any]) -> dict[str, Any]:
    """An event without who it named or what free text it carried; amounts, lines stay."""
    scrubbed = dict(payload)
    if scrubbed.get("customer"):
        scrubbed["customer"] = ERASED
    if scrubbed.get("attributes"):
        scrubbed["attributes"] = {}
    return scrubbed
