"""Webhooks on both databases, delivered to a real HTTP receiver on loopback."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from sqlalchemy import select
from standardwebhooks.webhooks import Webhook

from fidela.domain.errors import InsufficientPoints, InvalidInput
from fidela.domain.ids import MemberId, ProgramId
from fidela.domain.webhooks import KEPT, KINDS, RETRY_DELAYS
from fidela.notify.webhooks import post
from fidela.services import adjustments, jobs, members, memberships, programs, rewards, webhooks
from fidela.services.webhooks import Report
from fidela.store.tables import outbox, webhook_attempts
from fidela.store.unit_of_work import UnitOfWork
from tests.conftest import T0, example
from tests.receiver import receiver
from tests.services.helpers import enroll, purchase, send


class Clock:
    """The delivery worker's "now", moved by hand; near the real time, for the signatures."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def deliver(uow: UnitOfWork, clock: Clock) -> Report:
    return webhooks.deliver_due(uow, post, now=clock)


def test_a_receiver_failing_twice_gets_the_event_once_and_it_verifies(
    uow: UnitOfWork, cafe: ProgramId
) -> None:
    with receiver() as hooks:
        hooks.answers = [500, 503]
        # The third attempt, 5 s + 5 min after the first, falls on the real time: the
        # specification's library refuses signatures more than 5 minutes off.
        clock = Clock(datetime.now(UTC) - RETRY_DELAYS[0] - RETRY_DELAYS[1])
        subscribed = webhooks.subscribe(uow, cafe, hooks.url, ["points.earned"], now=T0)
        enroll(uow, cafe, "ana@example.com", T0, customer_id="shop-7")
        purchase(uow, cafe, "ana@example.com", "A1", "30.00", T0)

        assert deliver(uow, clock) == Report(announced=2, retrying=1)  # enrolled and earned
        assert deliver(uow, clock) == Report()  # not due again yet
        clock.at += RETRY_DELAYS[0]
        assert deliver(uow, clock) == Report(retrying=1)
        clock.at += RETRY_DELAYS[1]
        assert deliver(uow, clock) == Report(delivered=1)
        clock.at += timedelta(days=2)
        assert deliver(uow, clock) == Report()

        assert [request.status for request in hooks.received] == [500, 503, 200]
        assert len({request.headers["webhook-id"] for request in hooks.received}) == 1
        (accepted,) = hooks.accepted
        message = Webhook(subscribed["secret"]).verify(accepted.body, accepted.headers)
        assert message["type"] == "points.earned"
        assert message["data"]["points"] == 30 and message["data"]["order_id"] == "A1"
        assert message["data"]["program_id"] == cafe and message["data"]["event"] == "purchase-A1"
        assert message["data"]["customer_id"] == "shop-7"  # the shop's own id for the member
        (delivery,) = webhooks.deliveries(uow, cafe, status="delivered", after=0, limit=10)[
            "deliveries"
        ]
        assert [attempt["status_code"] for attempt in delivery["attempts"]] == [500, 503, 200]


def test_every_kind_of_event_is_announced(uow: UnitOfWork, cafe: ProgramId) -> None:
    first_order = (
        "challenges:\n  - {id: first, name: First, when: purchase, count: 1, within: year,"
        " badge: hello}\n"
    )
    cashback = "cashback:\n  - {id: back, rate: '0.01'}\n"  # credit.earned and credit.reversed
    card = (  # punch_card.completed: A1's cake completes it
        "punch_cards:\n  - {id: cake, name: Cake, category: cake, punches: 1, reward: free_product,"
        " sku: CAKE}\n"
    )
    plus = "memberships:\n  - {id: plus, name: Plus, fee: '5.00', period: month, trial_days: 7}\n"
    programs.apply(uow, example("cafe.yaml") + first_order + cashback + card + plus, now=T0)
    with receiver() as hooks:
        webhooks.subscribe(uow, cafe, hooks.url, None, now=T0)
        enroll(uow, cafe, "ana@example.com", T0)
        cake = [{"sku": "CAKE", "category": "cake", "amount": "20.00"}]
        purchase(uow, cafe, "ana@example.com", "A1", "520.00", T0, lines=cake)  # gold at once
        memberships.join(uow, cafe, _member(uow, cafe), "plus", None, now=T0)
        redeemed = rewards.redeem(uow, cafe, _member(uow, cafe), "voucher-10", now=T0)
        rewards.consume_voucher(uow, cafe, redeemed["voucher_code"], order_id="A2", now=T0)
        with pytest.raises(InsufficientPoints):  # refused: announces nothing
            adjustments.adjust(
                uow, cafe, _member(uow, cafe), -(10**6), actor="a", reason="r", now=T0
            )
        send(uow, cafe, T0, type="refund", idempotency_key="r1", order_id="A1", amount="20.00")
        adjustments.adjust(
            uow, cafe, _member(uow, cafe), 5, actor="admin", reason="goodwill", now=T0
        )
        jobs.run_due(uow, cafe, now=T0 + timedelta(days=340))  # the expiry reminder
        jobs.run_due(uow, cafe, now=T0 + timedelta(days=366))  # expiry and the tier review

        report = deliver(uow, Clock(datetime.now(UTC)))
        kinds = [_kind(request.body) for request in hooks.accepted]
        assert report.delivered == len(kinds) and set(kinds) == set(KINDS)
        assert kinds.count("reward.redeemed") == 1 and kinds.count("points.adjusted") == 1
        assert kinds.count("tier.changed") == 2  # to gold, and back at the review


def test_a_delivery_is_given_up_after_its_retries_and_can_be_replayed(
    uow: UnitOfWork, cafe: ProgramId
) -> None:
    with receiver() as hooks:
        hooks.answers = [500] * (len(RETRY_DELAYS) + 1)
        clock = Clock(datetime.now(UTC))
        webhooks.subscribe(uow, cafe, hooks.url, ["member.enrolled"], now=T0)
        enroll(uow, cafe, "ana@example.com", T0)
        deliver(uow, clock)
        for delay in RETRY_DELAYS[:-1]:
            clock.at += delay
            assert deliver(uow, clock) == Report(retrying=1)
        clock.at += RETRY_DELAYS[-1]
        assert deliver(uow, clock) == Report(failed=1)
        assert len(hooks.received) == len(RETRY_DELAYS) + 1
        (failed,) = webhooks.deliveries(uow, cafe, status="failed", after=0, limit=10)["deliveries"]

        webhooks.replay(uow, cafe, failed["delivery_id"], now=clock.at)
        assert deliver(uow, clock) == Report(delivered=1)
        (done,) = webhooks.deliveries(uow, cafe, status=None, after=0, limit=10)["deliveries"]
        assert done["status"] == "delivered" and len(done["attempts"]) == len(RETRY_DELAYS) + 2


def test_a_receiver_that_does_not_answer_is_logged_and_retried(
    uow: UnitOfWork, cafe: ProgramId
) -> None:
    with receiver() as hooks:
        gone = hooks.url  # the port is closed once the block ends
    webhooks.subscribe(uow, cafe, gone, None, now=T0)
    enroll(uow, cafe, "ana@example.com", T0)
    assert deliver(uow, Clock(datetime.now(UTC))) == Report(announced=1, retrying=1)
    (delivery,) = webhooks.deliveries(uow, cafe, status="pending", after=0, limit=10)["deliveries"]
    (attempt,) = delivery["attempts"]
    assert attempt["status_code"] is None and "refused" in attempt["error"].lower()


def test_subscriptions_get_what_they_asked_for_from_when_they_began(
    uow: UnitOfWork, cafe: ProgramId
) -> None:
    with receiver() as early, receiver() as late, receiver() as stopped:
        webhooks.subscribe(uow, cafe, early.url, ["member.enrolled"], now=T0)
        gone = webhooks.subscribe(uow, cafe, stopped.url, None, now=T0)["subscription_id"]
        enroll(uow, cafe, "ana@example.com", T0)
        webhooks.subscribe(uow, cafe, late.url, None, now=T0)
        webhooks.unsubscribe(uow, cafe, gone, now=T0)
        enroll(uow, cafe, "bo@example.com", T0)
        purchase(uow, cafe, "bo@example.com", "B1", "12.00", T0)
        deliver(uow, Clock(datetime.now(UTC)))
        assert [_kind(r.body) for r in early.accepted] == ["member.enrolled"] * 2
        assert [_kind(r.body) for r in late.accepted] == ["member.enrolled", "points.earned"]
        assert stopped.received == []
    with pytest.raises(InvalidInput, match="url"):
        webhooks.subscribe(uow, cafe, "ftp://example.com/x", None, now=T0)


def test_two_workers_never_send_the_same_delivery_twice(uow: UnitOfWork, cafe: ProgramId) -> None:
    with receiver() as hooks:
        webhooks.subscribe(uow, cafe, hooks.url, ["member.enrolled"], now=T0)
        for n in range(40):
            enroll(uow, cafe, f"m{n}@example.com", T0)
        clock = Clock(datetime.now(UTC))
        workers = [
            threading.Thread(target=deliver, args=(UnitOfWork(uow.engine), clock)) for _ in range(2)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        ids = [request.headers["webhook-id"] for request in hooks.received]
        assert len(ids) == 40 and len(set(ids)) == 40


def _member(uow: UnitOfWork, program_id: ProgramId) -> MemberId:
    return members.locate(uow, program_id, "ana@example.com")


def _kind(body: bytes) -> str:
    kind: str = orjson.loads(body)["type"]
    return kind


def _outbox_kinds(uow: UnitOfWork) -> list[str]:
    with uow:
        rows = uow.connection.execute(select(outbox.c.kind).order_by(outbox.c.id))
        return list(rows.scalars())


def test_without_a_live_subscription_the_ledger_writes_no_outbox_rows(
    uow: UnitOfWork, cafe: ProgramId
) -> None:
    enroll(uow, cafe, "ana@example.com", T0)
    purchase(uow, cafe, "ana@example.com", "A1", "12.00", T0)
    assert _outbox_kinds(uow) == []  # enrolled and earned: no one would ever receive them
    assert deliver(uow, Clock(datetime.now(UTC))) == Report()  # a pass only reads
    with receiver() as hooks:
        subscribed = webhooks.subscribe(uow, cafe, hooks.url, None, now=T0)
        purchase(uow, cafe, "ana@example.com", "A2", "12.00", T0)
        assert deliver(uow, Clock(datetime.now(UTC))) == Report(announced=1, delivered=1)
        assert [_kind(request.body) for request in hooks.received] == ["points.earned"]
    webhooks.unsubscribe(uow, cafe, subscribed["subscription_id"], now=T0)
    purchase(uow, cafe, "ana@example.com", "A3", "12.00", T0)
    assert _outbox_kinds(uow) == ["points.earned"]  # A2's, kept with its delivery; not A3's


def test_a_subscription_waits_for_a_post_in_flight(uow: UnitOfWork, cafe: ProgramId) -> None:
    """A post decides under the ledger head whether to write the outbox; subscribing takes
    that head too, so that no post can miss a subscription made while it ran."""
    enroll(uow, cafe, "ana@example.com", T0)
    subscribed = threading.Event()
    with uow:
        uow.ledger.lock(cafe)  # as a post in flight holds it
        other = UnitOfWork(uow.engine)
        url = "http://127.0.0.1:9/never-called"
        worker = threading.Thread(
            target=lambda: (webhooks.subscribe(other, cafe, url, None, now=T0), subscribed.set())
        )
        worker.start()
        assert not subscribed.wait(0.5)  # it waits for the head
    worker.join(timeout=30)
    assert subscribed.is_set()
    purchase(uow, cafe, "ana@example.com", "A1", "12.00", T0)
    assert _outbox_kinds(uow) == ["points.earned"]


def test_run_due_drops_the_outbox_rows_no_subscription_receives(
    uow: UnitOfWork, cafe: ProgramId
) -> None:
    def run_due() -> int:
        return jobs.run_due(uow, cafe, now=T0 + timedelta(hours=1)).get("outbox_rows_dropped", 0)

    enroll(uow, cafe, "ana@example.com", T0)
    purchase(uow, cafe, "ana@example.com", "A1", "40.00", T0)
    rewards.redeem(uow, cafe, _member(uow, cafe), "free-coffee", now=T0)
    # Announced apart from the ledger's posts, with no subscription: no one ever gets it.
    assert _outbox_kinds(uow) == ["reward.redeemed"]
    with receiver() as hooks:
        webhooks.subscribe(uow, cafe, hooks.url, ["points.earned"], now=T0)
        enroll(uow, cafe, "bo@example.com", T0)
        purchase(uow, cafe, "bo@example.com", "B1", "12.00", T0)
        assert _outbox_kinds(uow) == ["reward.redeemed", "member.enrolled", "points.earned"]
        assert run_due() == 1  # Ana's; Bo's wait to be handed on
        assert _outbox_kinds(uow) == ["member.enrolled", "points.earned"]
        assert deliver(uow, Clock(datetime.now(UTC))) == Report(announced=2, delivered=1)
        assert run_due() == 1  # Bo's enrollment, which the subscription did not want
        assert _outbox_kinds(uow) == ["points.earned"]  # kept with its delivery, for replays
        assert run_due() == 0
        (delivery,) = webhooks.deliveries(uow, cafe, status="delivered", after=0, limit=10)[
            "deliveries"
        ]
        assert delivery["event"] == "points.earned"


def test_run_due_forgets_a_delivery_a_month_after_its_last_attempt(
    uow: UnitOfWork, cafe: ProgramId
) -> None:
    def statuses() -> list[str]:
        found = webhooks.deliveries(uow, cafe, status=None, after=0, limit=10)["deliveries"]
        return sorted(delivery["status"] for delivery in found)

    def stored(table: Any) -> int:
        with uow:
            return len(uow.connection.execute(select(table)).all())

    def forgotten(now: datetime) -> tuple[int, int]:
        counts = jobs.run_due(uow, cafe, now=now)
        return counts.get("webhook_deliveries_forgotten", 0), counts.get("outbox_rows_dropped", 0)

    with receiver() as hooks, receiver() as failing:
        failing.answers = [500] * (len(RETRY_DELAYS) + 1)
        clock = Clock(datetime.now(UTC))
        for url in (hooks.url, failing.url):
            webhooks.subscribe(uow, cafe, url, ["member.enrolled"], now=T0)
        enroll(uow, cafe, "ana@example.com", T0)
        delivered_at = clock.at
        assert deliver(uow, clock) == Report(announced=1, delivered=1, retrying=1)
        assert forgotten(delivered_at + KEPT - timedelta(minutes=1)) == (0, 0)
        assert forgotten(delivered_at + KEPT + timedelta(minutes=1)) == (1, 0)
        assert statuses() == ["pending"]  # still retried: kept, with its outbox row
        assert stored(webhook_attempts) == 1
        for delay in RETRY_DELAYS:
            clock.at += delay
            deliver(uow, clock)
        failed_at = clock.at
    assert statuses() == ["failed"]
    assert stored(webhook_attempts) == len(RETRY_DELAYS) + 1
    assert forgotten(failed_at + KEPT - timedelta(minutes=1)) == (0, 0)
    assert forgotten(failed_at + KEPT + timedelta(minutes=1)) == (1, 1)
    assert statuses() == [] and stored(webhook_attempts) == 0 and stored(outbox) == 0
