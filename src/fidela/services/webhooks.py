"""Webhooks: subscribing, and delivering the outbox to subscribers with retries.

A delivery is sent outside any transaction: a worker first claims what is due (for
`LEASE`), sends it, then logs the attempt. A worker that dies mid-send leaves the
claim to lapse, and the delivery is sent again: at least once, with the same
`webhook-id`, as the Standard Webhooks specification expects receivers to dedupe on.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from fidela.domain import webhooks
from fidela.domain.errors import InvalidInput, NotFound
from fidela.domain.ids import ProgramId
from fidela.store.unit_of_work import UnitOfWork
from fidela.store.webhooks import DELIVERED, FAILED, PENDING, Due

LEASE = timedelta(minutes=2)  # longer than a send may take (its timeout)
STEP = 100  # deliveries claimed at a time
DISPATCH_STEP = 1000  # outbox rows handed on at a time
STATUSES = (PENDING, DELIVERED, FAILED)


# How a delivery reaches its receiver: `send(url, headers, body)` returns the HTTP
# status; it raises OSError when no answer came (refused, timed out, unreachable).
Sender = Callable[[str, dict[str, str], bytes], int]


@dataclass
class Report:
    """What one pass of delivery did."""

    announced: int = 0  # outbox rows handed on
    delivered: int = 0
    retrying: int = 0
    failed: int = 0  # gave up: no retry left

    def counts(self) -> dict[str, int]:
        return {name: count for name, count in vars(self).items() if count}


def subscribe(
    uow: UnitOfWork, program_id: ProgramId, url: str, kinds: list[str] | None, *, now: datetime
) -> dict[str, Any]:
    """A new subscription; its secret is in the answer, to verify signatures with."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise InvalidInput("url", "must be an absolute http:// or https:// URL")
    kinds = webhooks.check_kinds(kinds)
    secret = webhooks.new_secret()
    with uow:
        uow.programs.current(program_id)  # the program must exist
        subscription_id = uow.webhooks.subscribe(program_id, url, secret, kinds, now)
        uow.commit()
    return {"subscription_id": subscription_id, "url": url, "events": kinds, "secret": secret}


def subscriptions(uow: UnitOfWork, program_id: ProgramId) -> list[dict[str, Any]]:
    """The program's subscriptions, without their secrets."""
    with uow.reading() as reader:
        rows = reader.webhooks.subscriptions(program_id)
    return [
        {
            "subscription_id": row.id,
            "url": row.url,
            "events": row.kinds,
            "created_at": row.created_at.isoformat(),
            "disabled_at": row.disabled_at.isoformat() if row.disabled_at else None,
        }
        for row in rows
    ]


def unsubscribe(
    uow: UnitOfWork, program_id: ProgramId, subscription_id: int, *, now: datetime
) -> None:
    """Stop sending to a subscription; what it was owed is not sent."""
    with uow:
        if not uow.webhooks.disable(program_id, subscription_id, now):
            raise NotFound("subscription_id", f"no live subscription {subscription_id}")
        uow.commit()


def deliveries(
    uow: UnitOfWork, program_id: ProgramId, *, status: str | None, after: int, limit: int
) -> dict[str, Any]:
    """Deliveries in id order with every attempt, a page at a time."""
    if status is not None and status not in STATUSES:
        raise InvalidInput("status", f"must be one of {', '.join(STATUSES)}")
    with uow.reading() as reader:
        rows = reader.webhooks.deliveries(program_id, status=status, after=after, limit=limit)
        attempts = reader.webhooks.attempts_of([row.id for row in rows])
    logged: dict[int, list[dict[str, Any]]] = {row.id: [] for row in rows}
    for attempt in attempts:
        logged[attempt.delivery_id].append(
            {
                "at": attempt.attempted_at.isoformat(),
                "status_code": attempt.status_code,
                "error": attempt.error,
                "ms": attempt.duration_ms,
            }
        )
    items = [
        {
            "delivery_id": row.id,
            "subscription_id": row.subscription_id,
            "message_id": webhooks.message_id(row.outbox_id),
            "event": row.kind,
            "status": row.status,
            "next_attempt_at": row.next_attempt_at.isoformat() if row.next_attempt_at else None,
            "delivered_at": row.delivered_at.isoformat() if row.delivered_at else None,
            "attempts": logged[row.id],
        }
        for row in rows
    ]
    return {"deliveries": items, "next": rows[-1].id if len(rows) == limit else None}


def replay(uow: UnitOfWork, program_id: ProgramId, delivery_id: int, *, now: datetime) -> None:
    """Send a delivery again, with a fresh retry schedule (a failed one, or a lost one)."""
    with uow:
        if not uow.webhooks.replay(program_id, delivery_id, now):
            raise NotFound("delivery_id", f"no delivery {delivery_id}")
        uow.commit()


def tidy(uow: UnitOfWork, program_id: ProgramId, *, now: datetime) -> dict[str, int]:
    """Forget the deliveries that ended more than `webhooks.KEPT` before `now`, with their
    attempts; then the outbox rows no subscription receives (see the repository's
    methods), so that a program does not keep a row for every event it ever had."""
    with uow:
        forgotten = uow.webhooks.forget_ended(program_id, now - webhooks.KEPT)
        dropped = uow.webhooks.drop_unreceivable(program_id)
        uow.commit()
    return {"webhook_deliveries_forgotten": forgotten, "outbox_rows_dropped": dropped}


def deliver_due(uow: UnitOfWork, send: Sender, *, now: Callable[[], datetime]) -> Report:
    """Hand new outbox rows to subscriptions, then send every delivery due; one pass.

    Without any live subscription it only reads: outbox rows wait, and a subscription
    made later never receives them (it starts after the outbox's last row).
    """
    report = Report()
    with uow.reading(single=True) as reader:
        if not reader.webhooks.any_live():
            return report
    while True:
        with uow:
            read, _ = uow.webhooks.dispatch(now(), limit=DISPATCH_STEP)
            uow.commit()
        report.announced += read
        if read < DISPATCH_STEP:
            break
    while True:
        at = now()
        with uow:
            due = uow.webhooks.claim(at, at + LEASE, limit=STEP)
            uow.commit()
        for delivery in due:
            _attempt(uow, send, delivery, now, report)
        if len(due) < STEP:
            return report


def _attempt(
    uow: UnitOfWork, send: Sender, delivery: Due, now: Callable[[], datetime], report: Report
) -> None:
    at = now()
    message_id = webhooks.message_id(delivery.outbox_id)
    body = webhooks.payload(delivery.kind, delivery.occurred_at, delivery.data)
    timestamp = int(at.timestamp())
    headers = {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": webhooks.sign(delivery.secret, message_id, timestamp, body),
    }
    started = time.perf_counter()
    status_code: int | None = None
    try:
        status_code = send(delivery.url, headers, body)
        error = None if 200 <= status_code < 300 else f"answered {status_code}"
    except OSError as failure:
        error = (str(failure) or type(failure).__name__)[:500]
    duration_ms = round((time.perf_counter() - started) * 1000)
    attempts = delivery.attempts + 1
    retry_at = webhooks.next_attempt(attempts, at) if error else None
    with uow:
        uow.webhooks.attempted(
            delivery.delivery_id,
            at,
            status_code=status_code,
            error=error,
            duration_ms=duration_ms,
            next_attempt_at=retry_at,
        )
        uow.commit()
    if error is None:
        report.delivered += 1
    elif retry_at is not None:
        report.retrying += 1
    else:
        report.failed += 1
