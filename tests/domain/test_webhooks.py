"""Webhooks without a database: signatures, the retry schedule, what transactions announce."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from fidela.domain import webhooks
from fidela.domain.errors import InvalidInput
from fidela.domain.ledger import Grant, Wallet
from fidela.domain.members import Effect

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def test_signatures_verify_with_the_specifications_own_library() -> None:
    secret = webhooks.new_secret()
    body = webhooks.payload("points.earned", T0, {"points": 12})
    now = int(datetime.now(UTC).timestamp())
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(now),
        "webhook-signature": webhooks.sign(secret, "msg_1", now, body),
    }
    assert Webhook(secret).verify(body, headers)["data"] == {"points": 12}
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body.replace(b"12", b"99"), headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(webhooks.new_secret()).verify(body, headers)


def test_a_failed_delivery_is_retried_on_a_schedule_then_given_up() -> None:
    waits = []
    attempts = 1
    while (retry := webhooks.next_attempt(attempts, T0)) is not None:
        waits.append(retry - T0)
        attempts += 1
    assert waits[:2] == [timedelta(seconds=5), timedelta(minutes=5)]
    assert waits == sorted(waits) and len(waits) == 7
    assert timedelta(hours=24) < sum(waits, timedelta()) < timedelta(hours=30)


def test_subscriptions_name_known_kinds_only() -> None:
    assert webhooks.check_kinds(None) is None
    assert webhooks.check_kinds(["points.earned", "member.enrolled", "points.earned"]) == [
        "member.enrolled",
        "points.earned",
    ]
    with pytest.raises(InvalidInput, match=r"events: unknown points\.earnd"):
        webhooks.check_kinds(["points.earnd"])
    with pytest.raises(InvalidInput, match="events: is empty"):
        webhooks.check_kinds([])


def test_transactions_announce_what_they_did_to_points() -> None:
    wallet = Wallet()
    earn = wallet.earn(
        [Grant("base", 30), Grant("tenth-visit", 50)], T0, expires_at=T0, order_ref="A1"
    )
    assert earn is not None
    earned = webhooks.announced(earn)
    assert earned is not None and earned.kind == "points.earned"
    assert earned.data == {
        "points": 80,
        "rules": ["base", "tenth-visit"],
        "pending": False,
        "order_id": "A1",
    }
    reversed_ = wallet.reverse(100, [], T0)  # more than the member holds: 20 become debt
    assert reversed_ is not None
    assert webhooks.announced(reversed_) == Effect("points.reversed", T0, {"points": 100})
    wallet = Wallet()
    wallet.earn([Grant("base", 7)], T0, expires_at=T0 + timedelta(days=1))
    (expired,) = wallet.expire(T0 + timedelta(days=1))
    assert webhooks.announced(expired) == Effect(
        "points.expired", T0 + timedelta(days=1), {"points": 7}
    )
    adjusted = wallet.adjust(5, T0, expires_at=None, actor="admin", reason="goodwill")
    assert webhooks.announced(adjusted) == Effect(
        "points.adjusted", T0, {"points": 5, "reason": "goodwill"}
    )
    spent = wallet.redeem(5, T0, reason="reward free-coffee")
    assert webhooks.announced(spent) is None  # announced as reward.redeemed, with its voucher
