"""Events already recorded (for idempotency) and the orders purchases created (for refunds)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, bindparam, select
from sqlalchemy.engine import Connection

from fidela.domain.events import OrderLine
from fidela.domain.ids import ProgramId
from fidela.domain.members import OrderState
from fidela.store.ledger import LOT_FIELDS, lot_from_row
from fidela.store.reads import Query, Read, any_of, read_one
from fidela.store.tables import events, lots, orders


class EventRepository:
    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def by_key(self, program_id: ProgramId, key: str) -> Row[Any] | None:
        return self.connection.execute(
            select(events).where(events.c.program_id == program_id, events.c.idempotency_key == key)
        ).one_or_none()

    def hashes(self, program_id: ProgramId, keys: Sequence[str]) -> dict[str, str]:
        """The content hash of each of these keys already recorded."""
        return read_one(self.connection, self.hashes_read(program_id, keys))

    def hashes_read(self, program_id: ProgramId, keys: Sequence[str]) -> Read[dict[str, str]]:
        return Read(_HASHES, _hashes, program_id=program_id, keys=list(keys))

    def order(self, program_id: ProgramId, order_ref: str) -> tuple[Row[Any], OrderState] | None:
        """An order with the open lots it created, locked: two refunds of it never interleave."""
        row = self.connection.execute(
            select(orders)
            .where(orders.c.program_id == program_id, orders.c.order_ref == order_ref)
            .with_for_update()
        ).one_or_none()
        if row is None:
            return None
        own_lots = self.connection.execute(
            select(*LOT_FIELDS)
            .where(lots.c.program_id == program_id, lots.c.order_ref == order_ref)
            .order_by(lots.c.lot_no)
        )
        state = OrderState(
            order_ref=row.order_ref,
            occurred_at=row.occurred_at,
            amount_minor=row.amount_minor,
            currency=row.currency,
            lines=tuple(OrderLine.model_validate(line) for line in row.lines),
            refunded_minor=row.refunded_minor,
            refunded_quantities=dict(row.refunded_quantities),
            points=row.points,
            reversed_points=row.reversed_points,
            cashback=row.cashback,
            reversed_cashback=row.reversed_cashback,
            punches=row.punches or {},
            removed_punches=row.removed_punches or {},
            lots=[lot_from_row(lot) for lot in own_lots],
        )
        return row, state

    def existing_orders(self, program_id: ProgramId, order_refs: Sequence[str]) -> set[str]:
        """Which of these orders are recorded already."""
        return read_one(self.connection, self.existing_orders_read(program_id, order_refs))

    def existing_orders_read(
        self, program_id: ProgramId, order_refs: Sequence[str]
    ) -> Read[set[str]]:
        return Read(_ORDERED, _ordered, program_id=program_id, refs=list(order_refs))


_HASHES = Query(
    lambda dialect: select(events.c.idempotency_key, events.c.content_hash).where(
        events.c.program_id == bindparam("program_id"),
        any_of(events.c.idempotency_key, "keys", dialect),
    ),
)
_ORDERED = Query(
    lambda dialect: select(orders.c.order_ref).where(
        orders.c.program_id == bindparam("program_id"),
        any_of(orders.c.order_ref, "refs", dialect),
    ),
)


def _hashes(rows: list[Row[Any]]) -> dict[str, str]:
    return {row.idempotency_key: row.content_hash for row in rows}


def _ordered(rows: list[Row[Any]]) -> set[str]:
    return {row.order_ref for row in rows}
