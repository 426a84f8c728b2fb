"""A batch of events, applied in one transaction, does what the same events one at a time do.

Two copies of the café program get the same random events: one copy one event per
call (`events.record`), the other all of them in one call (`events.record_all`). Every
event's answer, every member's account and the ledger's totals must be the same, also
when the batch is posted in parts (`events.POSTED_EVERY`), each written in the
background while the next is applied.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from fidela.domain import members as member_rules
from fidela.domain.errors import FidelaError, InvalidInput
from fidela.domain.events import Event, parse_event
from fidela.domain.ids import ProgramId
from fidela.services import events, ledger, members, programs
from fidela.services.events import Recorded
from fidela.store.customers import CustomerRepository
from fidela.store.ledger import LedgerRepository
from fidela.store.tables import customers, orders
from fidela.store.unit_of_work import UnitOfWork
from tests.conftest import T0, example
from tests.services.helpers import enroll

EMAILS = ("ana@example.com", "bob@example.com")
SHOP_IDS = ("c1", "c2")  # customers who never enrolled
BOTH = "c3"  # named by shop id and e-mail, or by the e-mail alone
MIXED = "mixed"
_program_numbers = itertools.count()


def story(draws: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    """Events a shop might send, an hour apart: some refused, some sent again."""
    sent: list[dict[str, Any]] = []
    at = T0
    for step, (kind, who, number, cents) in enumerate(draws):
        at += timedelta(hours=1) if kind != "wait" else timedelta(days=number * 20)
        customer = {"email": who} if "@" in who else {"customer_id": who}
        if who == BOTH:
            customer = {"customer_id": BOTH, "email": f"{BOTH}@example.com"}
        if who == MIXED:  # a guest's shop id with a member's e-mail: two customers, once c1 exists
            customer = {"customer_id": SHOP_IDS[0], "email": EMAILS[0]}
        when = (at + timedelta(days=2) if kind == "future" else at).isoformat()
        match kind:
            case "purchase" | "future":
                sent.append({"type": "purchase", "idempotency_key": f"p{step}",
                             "customer": customer, "order_id": f"o{step}",
                             "amount": f"{cents / 100:.2f}", "currency": "EUR",
                             "occurred_at": when})  # fmt: skip
            case "refund":
                amount = {"amount": f"{cents / 100:.2f}"} if cents else {}
                sent.append({"type": "refund", "idempotency_key": f"r{step}",
                             "order_id": f"o{number}", "occurred_at": when} | amount)  # fmt: skip
            case "review":
                sent.append({"type": "review", "idempotency_key": f"v{step}",
                             "customer": customer, "occurred_at": when})  # fmt: skip
            case "again" if sent:
                sent.append(sent[number % len(sent)])
            case "conflict" if sent:
                earlier = sent[number % len(sent)]
                sent.append(earlier | {"occurred_at": when})
    return sent


draws = st.lists(
    st.tuples(
        st.sampled_from(
            ["purchase"] * 4 + ["refund"] * 2 + ["review", "again", "conflict", "future", "wait"]
        ),
        st.sampled_from(
            [*EMAILS, *SHOP_IDS, BOTH, f"{BOTH}@example.com", MIXED, "new@example.com"]
        ),
        st.integers(0, 30),
        st.sampled_from([0, 1, 250, 999, 4000, 20000]),
    ),
    min_size=1,
    max_size=24,
)


VARIANTS = {  # the café, and what a variant changes in it
    "rolling": {},
    # A purchase moves the expiry of lots, stored or not yet.
    "inactivity": {"policy: rolling ": "policy: inactivity "},
    # Points above 25 a day are held: the day's grants so far are read, then counted.
    "capped": {"pending_days: 0 ": "caps: {points_per_member_per_day: 25}\npending_days: 0 "},
    # A budget read once per batch, then spent event by event.
    "campaign": {
        "\ntiers:": "\ncampaigns:\n  - {id: promo, name: Promo, when: purchase, multiplier: '2',"
        " budget_points: 60, starts: '2026-01-01T00:00:00+00:00',"
        " ends: '2028-01-01T00:00:00+00:00'}\ntiers:"
    },
    # Events counted from the store, then by the batch itself; a badge stored once.
    "challenge": {
        "\ntiers:": "\nchallenges:\n  - {id: two, name: Two, when: purchase, count: 2, within: day,"
        " points: 5, badge: b}\ntiers:"
    },
}


def fresh_program(uow: UnitOfWork, variant: str = "rolling") -> ProgramId:
    text = example("cafe.yaml").replace(
        "program: cafe-lumiere", f"program: b{next(_program_numbers)}"
    )
    for old, new in VARIANTS[variant].items():
        text = text.replace(old, new)
    program_id = programs.apply(uow, text, now=T0).program_id
    for email in EMAILS:
        enroll(uow, program_id, email, T0)
    return program_id


def one_at_a_time(
    uow: UnitOfWork, program_id: ProgramId, event: Event, now: datetime
) -> Recorded | FidelaError:
    try:
        return events.record(uow, program_id, event, now=now)
    except FidelaError as error:
        return error


def answer(outcome: Recorded | FidelaError) -> tuple[Any, ...]:
    """An event's answer, without what differs between two programs (ids, numbers)."""
    if isinstance(outcome, FidelaError):
        return (type(outcome).__name__, outcome.field)
    result = {k: v for k, v in outcome.result.items() if k != "member_id"}
    return (outcome.duplicate, outcome.result["member_id"] is not None, result)


def accounts(uow: UnitOfWork, program_id: ProgramId) -> dict[str, Any]:
    def account(email: str) -> tuple[Any, ...]:
        shown = members.show(uow, program_id, email)
        lots = [
            (lot["remaining"], lot["expires_at"], lot["order_id"], lot["held"])
            for lot in shown["lots"]
        ]
        history = [(e["cause"], e["at"], e["points"], e["rules"]) for e in shown["history"]]
        balances = shown["available"], shown["pending"], shown["held"], shown["debt"]
        return *balances, shown["tier"], lots, history

    with uow.reading() as reader:
        known = reader.connection.execute(
            select(func.count()).select_from(customers).where(customers.c.program_id == program_id)
        ).scalar_one()
        refunded = reader.connection.execute(
            select(orders.c.order_ref, orders.c.refunded_minor, orders.c.reversed_points,
                   orders.c.refunded_quantities, orders.c.points)
            .where(orders.c.program_id == program_id)
            .order_by(orders.c.order_ref)
        ).all()  # fmt: skip
    summary = ledger.summary(uow, program_id)
    totals = {k: v for k, v in summary.items() if k not in ("program", "head", "as_of")}
    return {
        "members": [account(email) for email in EMAILS],
        "customers": known,
        "orders": [tuple(row) for row in refunded],
    } | totals


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(draws=draws, posted_every=st.sampled_from([1, 2, 3, events.POSTED_EVERY]))
@pytest.mark.parametrize("variant", VARIANTS)
def test_a_batch_does_what_the_same_events_one_at_a_time_do(
    uow: UnitOfWork,
    monkeypatch: pytest.MonkeyPatch,
    variant: str,
    draws: list[tuple[Any, ...]],
    posted_every: int,
) -> None:
    monkeypatch.setattr(events, "POSTED_EVERY", posted_every)
    sent = story(draws)
    now = T0 + timedelta(days=len(draws) * 20)
    parsed = [parse_event(data) for data in sent]
    # The first events are history both copies get one at a time; the rest are the batch.
    history, batch = parsed[: len(parsed) // 3], parsed[len(parsed) // 3 :]
    one_by_one, batched = fresh_program(uow, variant), fresh_program(uow, variant)
    for program_id, event in itertools.product((batched, one_by_one), history):
        one_at_a_time(uow, program_id, event, now)
    singly = [one_at_a_time(uow, one_by_one, event, now) for event in batch]
    together = events.record_all(uow, batched, batch, now=now)
    assert [answer(o) for o in together] == [answer(o) for o in singly]
    assert accounts(uow, batched) == accounts(uow, one_by_one)
    assert ledger.verify(uow, batched).ok


def test_a_batch_in_parts_writes_its_last_part_with_the_commit(
    uow: UnitOfWork, monkeypatch: pytest.MonkeyPatch
) -> None:
    program_id = fresh_program(uow)
    posts: list[tuple[bool, bool]] = []
    post = LedgerRepository.post

    def watched(self: LedgerRepository, *args: Any, **options: bool) -> Any:
        posts.append((options.get("in_background", False), options.get("commit", False)))
        return post(self, *args, **options)

    monkeypatch.setattr(LedgerRepository, "post", watched)
    monkeypatch.setattr(events, "POSTED_EVERY", 2)
    sent = [{"type": "purchase", "idempotency_key": f"p{n}", "customer": {"email": EMAILS[0]},
             "order_id": f"o{n}", "amount": "10.00", "currency": "EUR",
             "occurred_at": (T0 + timedelta(hours=n)).isoformat()} for n in range(4)]  # fmt: skip
    outcomes = events.record_each(uow, program_id, sent, now=T0 + timedelta(days=1))
    earned = [outcome.result["points"] for outcome in outcomes if isinstance(outcome, Recorded)]
    assert len(earned) == 4
    assert posts == [(True, False), (False, True)]  # two events in the background, two last
    assert members.show(uow, program_id, EMAILS[0])["available"] == sum(earned) > 0
    assert ledger.verify(uow, program_id).ok


def test_a_batch_refunds_an_order_it_recorded_and_counts_a_repeated_key_once(
    uow: UnitOfWork,
) -> None:
    program_id = fresh_program(uow)
    buy = {"type": "purchase", "idempotency_key": "p1", "customer": {"email": EMAILS[0]},
           "order_id": "o1", "amount": "40.00", "currency": "EUR",
           "occurred_at": T0.isoformat()}  # fmt: skip
    refund = {"type": "refund", "idempotency_key": "r1", "order_id": "o1", "amount": "10.00",
              "occurred_at": (T0 + timedelta(hours=1)).isoformat()}  # fmt: skip
    outcomes = events.record_each(uow, program_id, [buy, refund, buy, refund | {"amount": "5"}],
                                  now=T0 + timedelta(days=1))  # fmt: skip
    first, refunded, again, conflict = outcomes
    assert isinstance(first, Recorded) and first.result["points"] == 40
    assert isinstance(refunded, Recorded) and refunded.result["points"] == -10
    assert isinstance(again, Recorded) and again.duplicate and again.event_no == first.event_no
    assert isinstance(conflict, FidelaError) and conflict.field == "idempotency_key"
    assert members.show(uow, program_id, EMAILS[0])["available"] == 30
    assert ledger.verify(uow, program_id).ok


def test_a_refusal_in_a_batch_is_answered_and_the_others_go_on(uow: UnitOfWork) -> None:
    program_id = fresh_program(uow)
    at = T0
    buy = {"type": "purchase", "idempotency_key": "p1", "customer": {"email": EMAILS[1]},
           "order_id": "o1", "amount": "20.00", "currency": "EUR",
           "occurred_at": at.isoformat()}  # fmt: skip
    too_much = {"type": "refund", "idempotency_key": "r1", "order_id": "o1", "amount": "25.00",
                "occurred_at": at.isoformat()}  # fmt: skip
    later = buy | {"idempotency_key": "p2", "order_id": "o2", "amount": "3.00"}
    outcomes = events.record_each(uow, program_id, [buy, too_much, later], now=at)
    assert [type(o).__name__ for o in outcomes] == ["Recorded", "InvalidInput", "Recorded"]
    assert members.show(uow, program_id, EMAILS[1])["available"] == 23
    assert ledger.verify(uow, program_id).ok


def test_an_event_the_rules_refuse_halfway_leaves_nothing_and_the_batch_runs_again(
    uow: UnitOfWork, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rules changed the member's wallet, then refused: that change must not stay."""
    program_id = fresh_program(uow)
    real_purchase = member_rules.purchase
    calls: list[str] = []

    def purchase_refusing_o2(program, state, order, amount, **kw):  # type: ignore[no-untyped-def]
        outcome = real_purchase(program, state, order, amount, **kw)  # lots are in the wallet
        calls.append(order.order_ref)
        if order.order_ref == "o2":
            raise InvalidInput("amount", "refused after the points were credited")
        return outcome

    monkeypatch.setattr(member_rules, "purchase", purchase_refusing_o2)
    buy = {"type": "purchase", "idempotency_key": "p1", "customer": {"email": EMAILS[0]},
           "order_id": "o1", "amount": "20.00", "currency": "EUR",
           "occurred_at": T0.isoformat()}  # fmt: skip
    second, third = (buy | {"idempotency_key": f"p{n}", "order_id": f"o{n}"} for n in (2, 3))
    outcomes = events.record_each(uow, program_id, [buy, second, third], now=T0)
    assert [type(o).__name__ for o in outcomes] == ["Recorded", "InvalidInput", "Recorded"]
    assert calls == ["o1", "o2", "o1", "o3"]  # run again without o2
    shown = members.show(uow, program_id, EMAILS[0])
    assert shown["available"] == 40 == sum(lot["remaining"] for lot in shown["lots"])
    assert ledger.verify(uow, program_id).ok


def test_two_batches_naming_the_same_new_customers_in_opposite_orders_both_land(
    uow: UnitOfWork, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each batch adds one new customer, then waits until the other has added its own
    before adding the second: on PostgreSQL each then waits for the other's row (a
    deadlock, which the database breaks by failing one); the failed one runs again.
    SQLite lets one writer in at a time: there the second never arrives, and the first
    goes on once it has waited a moment."""
    program_id = fresh_program(uow)
    sqlite = uow.engine.dialect.name == "sqlite"
    both_added_one = threading.Barrier(2, timeout=0.2 if sqlite else 30)
    waited = threading.local()
    real_add = CustomerRepository.add

    def add_then_wait(self: CustomerRepository, *args: Any, **kwargs: Any) -> Any:
        added = real_add(self, *args, **kwargs)
        if not getattr(waited, "once", False):
            waited.once = True
            with contextlib.suppress(threading.BrokenBarrierError):
                both_added_one.wait()
        return added

    monkeypatch.setattr(CustomerRepository, "add", add_then_wait)

    def batch(first: str, second: str) -> list[dict[str, Any]]:
        return [
            {"type": "purchase", "idempotency_key": f"{who}-{first}",
             "customer": {"customer_id": who}, "order_id": f"{who}-{first}",
             "amount": "10.00", "currency": "EUR", "occurred_at": T0.isoformat()}
            for who in (first, second)
        ]  # fmt: skip

    answers: dict[str, list[Recorded | FidelaError]] = {}

    def send(first: str, second: str) -> None:
        answers[first] = events.record_each(
            UnitOfWork(uow.engine), program_id, batch(first, second), now=T0
        )

    threads = [threading.Thread(target=send, args=pair) for pair in (("x", "y"), ("y", "x"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert both_added_one.broken == sqlite  # on PostgreSQL, both did wait for each other
    assert sorted(answers) == ["x", "y"]
    assert all(isinstance(a, Recorded) for outcome in answers.values() for a in outcome)
    with uow:
        shop_ids = uow.connection.execute(
            select(customers.c.external_id).where(
                customers.c.program_id == program_id, customers.c.external_id.is_not(None)
            )
        ).scalars()
        assert sorted(shop_ids) == ["x", "y"]
        assert (
            uow.connection.execute(
                select(func.count()).select_from(orders).where(orders.c.program_id == program_id)
            ).scalar_one()
            == 4
        )
