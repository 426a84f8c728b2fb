"""Webhooks: subscriptions, the outbox they are fed from, deliveries and their attempts.

The outbox is written in the transaction of the change it announces (`Changes`, or
`announce` here). Dispatching turns each outbox row into one delivery per matching
subscription and marks the row `delivered` (handed on to webhooks).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, delete, exists, func, insert, or_, select, update
from sqlalchemy.engine import Connection

from fidela.domain.ids import MemberId, ProgramId
from fidela.domain.members import Effect
from fidela.store.batches import among
from fidela.store.tables import (
    customers,
    ledger_heads,
    members,
    outbox,
    webhook_attempts,
    webhook_deliveries,
    webhook_subscriptions,
)

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"


@dataclass(frozen=True)
class Due:
    """A delivery to attempt now: where, with which secret, and what."""

    delivery_id: int
    attempts: int  # made before this one
    url: str
    secret: str
    outbox_id: int
    kind: str
    occurred_at: datetime
    data: dict[str, Any]


class WebhookRepository:
    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self._skip_locked = connection.dialect.name == "postgresql"

    def announce(self, program_id: ProgramId, member_id: MemberId | None, effect: Effect) -> None:
        """Write one effect to the outbox, in the caller's transaction."""
        self.connection.execute(
            insert(outbox).values(
                program_id=program_id,
                member_id=member_id,
                kind=effect.kind,
                occurred_at=effect.at,
                data=effect.data,
                delivered=False,
            )
        )

    def subscribe(
        self, program_id: ProgramId, url: str, secret: str, kinds: list[str] | None, at: datetime
    ) -> int:
        """A new subscription; it receives what is announced from now on, not the backlog."""
        self._lock_head(program_id)
        last = self.connection.execute(select(func.max(outbox.c.id))).scalar_one()
        inserted = self.connection.execute(
            insert(webhook_subscriptions)
            .values(
                program_id=program_id,
                url=url,
                secret=secret,
                kinds=kinds,
                after_outbox_id=last or 0,
                created_at=at,
            )
            .returning(webhook_subscriptions.c.id)
        )
        self._mark_live(program_id)
        return int(inserted.scalar_one())

    def subscriptions(self, program_id: ProgramId) -> list[Row[Any]]:
        return list(
            self.connection.execute(
                select(webhook_subscriptions)
                .where(webhook_subscriptions.c.program_id == program_id)
                .order_by(webhook_subscriptions.c.id)
            )
        )

    def any_live(self) -> bool:
        """Whether any program has a live subscription (else there is nothing to deliver)."""
        live = select(webhook_subscriptions.c.id).where(
            webhook_subscriptions.c.disabled_at.is_(None)
        )
        return self.connection.execute(live.limit(1)).first() is not None

    def disable(self, program_id: ProgramId, subscription_id: int, at: datetime) -> bool:
        self._lock_head(program_id)
        result = self.connection.execute(
            update(webhook_subscriptions)
            .where(
                webhook_subscriptions.c.program_id == program_id,
                webhook_subscriptions.c.id == subscription_id,
                webhook_subscriptions.c.disabled_at.is_(None),
            )
            .values(disabled_at=at)
        )
        self._mark_live(program_id)
        return result.rowcount == 1

    def _lock_head(self, program_id: ProgramId) -> None:
        """Hold the program's ledger head, as every post does, until this transaction ends.

        A post in flight is waited for: its outbox rows are in before a subscription reads
        the last one, and the next post sees what `_mark_live` then sets. Not through
        `LedgerRepository.lock`, which keeps the head it read (with the mark as it was)
        and fails for an unknown program where this finds no live subscription."""
        head = ledger_heads.c
        self.connection.execute(
            select(head.program_id).where(head.program_id == program_id).with_for_update()
        )

    def _mark_live(self, program_id: ProgramId) -> None:
        """Tell the program's posts whether anyone receives the outbox (`Head.webhooks_live`).

        Called under `_lock_head`, so that what it reads includes every subscription
        committed before."""
        s = webhook_subscriptions.c
        live = exists().where(s.program_id == program_id, s.disabled_at.is_(None))
        self.connection.execute(
            update(ledger_heads)
            .where(ledger_heads.c.program_id == program_id)
            .values(webhooks_live=live)
        )

    def dispatch(self, at: datetime, limit: int) -> tuple[int, int]:
        """Turn undispatched outbox rows into deliveries; (rows read, deliveries made)."""
        rows = self.connection.execute(
            select(outbox.c.id, outbox.c.program_id, outbox.c.kind)
            .where(outbox.c.delivered.is_(False))
            .order_by(outbox.c.id)
            .limit(limit)
            .with_for_update(skip_locked=self._skip_locked)
        ).all()
        if not rows:
            return 0, 0
        live = self.connection.execute(
            select(webhook_subscriptions).where(
                webhook_subscriptions.c.program_id.in_({row.program_id for row in rows}),
                webhook_subscriptions.c.disabled_at.is_(None),
            )
        ).all()
        deliveries = [
            {
                "program_id": row.program_id,
                "subscription_id": subscription.id,
                "outbox_id": row.id,
                "status": PENDING,
                "attempts": 0,
                "next_attempt_at": at,
                "created_at": at,
            }
            for row in rows
            for subscription in live
            if subscription.program_id == row.program_id
            and row.id > subscription.after_outbox_id
            and (subscription.kinds is None or row.kind in subscription.kinds)
        ]
        if deliveries:
            self.connection.execute(insert(webhook_deliveries), deliveries)
        self.connection.execute(
            update(outbox)
            .where(among(self.connection, outbox.c.id, [row.id for row in rows]))
            .values(delivered=True)
        )
        return len(rows), len(deliveries)

    def drop_unreceivable(self, program_id: ProgramId) -> int:
        """Delete the program's outbox rows that no delivery came or will come from: handed
        on without one (no subscription wanted their kind), or written while no live
        subscription had begun before them. A subscription made later begins after the
        outbox's last row, so it never wants them either. Rows with a delivery stay, for
        its log and replay. Returns how many rows went."""
        o, d, s = outbox.c, webhook_deliveries.c, webhook_subscriptions.c
        delivered_from = exists().where(d.outbox_id == o.id)
        wanted = exists().where(
            s.program_id == o.program_id, s.disabled_at.is_(None), s.after_outbox_id < o.id
        )
        dropped = self.connection.execute(
            delete(outbox).where(
                o.program_id == program_id, ~delivered_from, or_(o.delivered, ~wanted)
            )
        )
        return dropped.rowcount

    def forget_ended(self, program_id: ProgramId, before: datetime) -> int:
        """Delete the program's deliveries that ended (delivered, or failed for good) with
        no attempt since `before`, and their attempts; return how many deliveries went.
        Their outbox rows, left without a delivery, then go with `drop_unreceivable`."""
        d, a = webhook_deliveries.c, webhook_attempts.c
        ended = select(d.id).where(
            d.program_id == program_id,
            d.status.in_([DELIVERED, FAILED]),
            ~exists().where(a.delivery_id == d.id, a.attempted_at >= before),
        )
        self.connection.execute(delete(webhook_attempts).where(a.delivery_id.in_(ended)))
        return self.connection.execute(delete(webhook_deliveries).where(d.id.in_(ended))).rowcount

    def claim(self, at: datetime, until: datetime, limit: int) -> list[Due]:
        """Deliveries due at `at`, held until `until` so that no other worker sends them."""
        d, s, o = webhook_deliveries.c, webhook_subscriptions.c, outbox.c
        rows = self.connection.execute(
            select(
                d.id,
                d.attempts,
                s.url,
                s.secret,
                o.id.label("outbox_id"),
                o.kind,
                o.occurred_at,
                o.data,
                o.program_id,
                o.member_id,
                customers.c.external_id,
            )
            .join(webhook_subscriptions, s.id == d.subscription_id)
            .join(outbox, o.id == d.outbox_id)
            .outerjoin(members, members.c.id == o.member_id)
            .outerjoin(customers, customers.c.id == members.c.customer_id)
            .where(d.status == PENDING, d.next_attempt_at <= at, s.disabled_at.is_(None))
            .order_by(d.next_attempt_at, d.id)
            .limit(limit)
            .with_for_update(of=webhook_deliveries, skip_locked=self._skip_locked)
        ).all()
        if rows:
            self.connection.execute(
                update(webhook_deliveries)
                .where(among(self.connection, d.id, [row.id for row in rows]))
                .values(next_attempt_at=until)
            )
        return [
            Due(
                row.id,
                row.attempts,
                row.url,
                row.secret,
                row.outbox_id,
                row.kind,
                row.occurred_at,
                {
                    "program_id": row.program_id,
                    "member_id": row.member_id,
                    "customer_id": row.external_id,  # the shop's own id; None once erased
                    **row.data,
                },
            )
            for row in rows
        ]

    def attempted(
        self,
        delivery_id: int,
        at: datetime,
        *,
        status_code: int | None,
        error: str | None,
        duration_ms: int,
        next_attempt_at: datetime | None,
    ) -> None:
        """Log an attempt and move the delivery on: delivered, tried again later, or failed."""
        self.connection.execute(
            insert(webhook_attempts).values(
                delivery_id=delivery_id,
                attempted_at=at,
                status_code=status_code,
                error=error,
                duration_ms=duration_ms,
            )
        )
        if error is None:
            status, delivered_at = DELIVERED, at
        else:
            status, delivered_at = (PENDING if next_attempt_at else FAILED), None
        self.connection.execute(
            update(webhook_deliveries)
            .where(webhook_deliveries.c.id == delivery_id)
            .values(
                status=status,
                attempts=webhook_deliveries.c.attempts + 1,
                next_attempt_at=next_attempt_at if status == PENDING else None,
                delivered_at=delivered_at,
            )
        )

    def deliveries(
        self,
        program_id: ProgramId,
        *,
        status: str | None,
        after: int,
        limit: int,
    ) -> list[Row[Any]]:
        d = webhook_deliveries.c
        query = (
            select(webhook_deliveries, outbox.c.kind, outbox.c.occurred_at)
            .join(outbox, outbox.c.id == d.outbox_id)
            .where(d.program_id == program_id, d.id > after)
            .order_by(d.id)
            .limit(limit)
        )
        if status is not None:
            query = query.where(d.status == status)
        return list(self.connection.execute(query))

    def attempts_of(self, delivery_ids: list[int]) -> list[Row[Any]]:
        return list(
            self.connection.execute(
                select(webhook_attempts)
                .where(among(self.connection, webhook_attempts.c.delivery_id, delivery_ids))
                .order_by(webhook_attempts.c.id)
            )
        )

    def replay(self, program_id: ProgramId, delivery_id: int, at: datetime) -> bool:
        """Send a delivery again from now on, whatever became of it; its attempts stay logged."""
        result = self.connection.execute(
            update(webhook_deliveries)
            .where(
                webhook_deliveries.c.program_id == program_id,
                webhook_deliveries.c.id == delivery_id,
            )
            .values(status=PENDING, attempts=0, next_attempt_at=at, delivered_at=None)
        )
        return result.rowcount == 1
