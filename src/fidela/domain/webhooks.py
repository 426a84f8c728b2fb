"""Webhooks: what is announced, when a failed delivery is tried again, and signatures.

Deliveries follow the Standard Webhooks specification (standardwebhooks.com): each
message has an id that stays the same across retries, and is signed with the
subscription's secret over `<id>.<timestamp>.<body>` (HMAC-SHA256, base64), sent as
`webhook-id`, `webhook-timestamp` and `webhook-signature: v1,<signature>`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import datetime, timedelta
from typing import Any

import orjson

from fidela.domain.errors import InvalidInput
from fidela.domain.ledger import CREDIT, Account, Kind, Transaction
from fidela.domain.members import Effect

KINDS = (
    "member.enrolled",
    "points.earned",
    "points.reversed",
    "points.expired",
    "points.expiring",
    "points.adjusted",
    "tier.changed",
    "reward.redeemed",
    "voucher.consumed",
    "badge.awarded",
    "credit.earned",
    "credit.reversed",
    "punch_card.completed",
    "membership.changed",
)

# After the first attempt fails: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h (about 27 hours
# in all), then the delivery is failed; an admin can replay it.
RETRY_DELAYS = tuple(
    timedelta(seconds=seconds) for seconds in (5, 300, 1800, 7200, 18000, 36000, 36000)
)
SECRET_PREFIX = "whsec_"
# How long a delivery that ended (delivered, or failed for good) is kept after its last
# attempt, with the log of its attempts: it can be looked at and replayed until then.
KEPT = timedelta(days=30)


def check_kinds(kinds: list[str] | None) -> list[str] | None:
    """The event kinds a subscription asks for (None: all), refusing unknown ones."""
    if kinds is None:
        return None
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown:
        raise InvalidInput("events", f"unknown {', '.join(unknown)}; known: {', '.join(KINDS)}")
    if not kinds:
        raise InvalidInput("events", "is empty: leave it out to receive every kind")
    return sorted(set(kinds))


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header's value for one attempt."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def message_id(outbox_id: int) -> str:
    """The same for every attempt and every subscription: receivers dedupe on it."""
    return f"msg_{outbox_id}"


def payload(kind: str, at: datetime, data: dict[str, Any]) -> bytes:
    """The body: `{"type", "timestamp", "data"}`, as the specification recommends."""
    return orjson.dumps({"type": kind, "timestamp": at.isoformat(), "data": data})


def next_attempt(attempts: int, at: datetime) -> datetime | None:
    """When to try again after `attempts` failed attempts, or None: give up."""
    if attempts > len(RETRY_DELAYS):
        return None
    return at + RETRY_DELAYS[attempts - 1]


def announced(transaction: Transaction) -> Effect | None:
    """What a transaction announces to webhooks, if anything.

    Releases and redemptions announce nothing here: a redemption is announced as
    `reward.redeemed` with its voucher, where the voucher is made. Store credit is
    announced in minor units of the program's currency.
    """
    at = transaction.occurred_at
    if transaction.book is CREDIT:
        match transaction.kind:
            case Kind.EARN:
                return Effect("credit.earned", at, {"amount_minor": transaction.issued()})
            case Kind.REVERSE:
                reversed_ = transaction.points(Account.CREDIT_REVERSED)
                return Effect("credit.reversed", at, {"amount_minor": reversed_})
        return None
    match transaction.kind:
        case Kind.EARN:
            lots = (line.lot for line in transaction.lines if line.lot is not None)
            order_id = next((lot.order_ref for lot in lots if lot.order_ref), None)
            rules = sorted({line.rule_id for line in transaction.lines if line.rule_id})
            pending = any(line.account == Account.PENDING for line in transaction.lines)
            held = transaction.points(Account.HELD)
            data = {
                "points": transaction.issued() - held,
                "rules": rules,
                "pending": pending,
            }
            data |= {"order_id": order_id} | ({"held": held} if held else {})
            return Effect("points.earned", at, data)
        case Kind.REVERSE:
            return Effect("points.reversed", at, {"points": transaction.points(Account.REVERSED)})
        case Kind.EXPIRE:
            return Effect("points.expired", at, {"points": transaction.points(Account.EXPIRED)})
        case Kind.ADJUST:
            points = -transaction.points(Account.ADJUSTED)
            return Effect("points.adjusted", at, {"points": points, "reason": transaction.reason})
    return None
