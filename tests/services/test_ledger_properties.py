"""Whatever events arrive, the stored ledger stays exact (on both databases)."""

from __future__ import annotations

import itertools
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fidela.domain.errors import FidelaError
from fidela.domain.ids import MemberId, ProgramId
from fidela.services import credit, jobs, ledger, members, programs, rewards
from fidela.store.unit_of_work import UnitOfWork
from tests.conftest import T0, example
from tests.services.helpers import enroll, purchase, send

EMAILS = ("ana@example.com", "bob@example.com")
_program_numbers = itertools.count()


@dataclass
class Story:
    """One program and two members, to which random steps happen hour after hour."""

    uow: UnitOfWork
    program_id: ProgramId
    ids: dict[str, MemberId]
    now: datetime = T0
    orders: list[str] = field(default_factory=list)
    redemptions: list[int] = field(default_factory=list)
    steps: int = 0

    def purchase(self, email: str, cents: int) -> None:
        order_id = f"o{self.steps}"
        purchase(self.uow, self.program_id, email, order_id, f"{cents / 100:.2f}", self.now)
        self.orders.append(order_id)

    def refund(self, pick: int, cents: int) -> None:
        """Refund part of an order, or (cents == 0) all that is left of it."""
        if self.orders:
            order_id = self.orders[pick % len(self.orders)]
            amount = {"amount": f"{cents / 100:.2f}"} if cents else {}
            key = f"r{self.steps}"
            send(self.uow, self.program_id, self.now, idempotency_key=key, type="refund",
                 order_id=order_id, **amount)  # fmt: skip

    def redeem(self, email: str, reward: str) -> None:
        done = rewards.redeem(self.uow, self.program_id, self.ids[email], reward, now=self.now)
        self.redemptions.append(done["redemption_id"])

    def cancel(self, pick: int) -> None:
        if self.redemptions:
            chosen = self.redemptions[pick % len(self.redemptions)]
            rewards.cancel(self.uow, self.program_id, chosen, now=self.now)

    def review(self, email: str) -> None:
        key = f"v{self.steps}"
        send(self.uow, self.program_id, self.now, idempotency_key=key, type="review",
             customer={"email": email})  # fmt: skip

    def wait(self, days: int) -> None:
        self.now += timedelta(days=days)


steps = st.lists(
    st.one_of(
        st.tuples(st.just("purchase"), st.sampled_from(EMAILS), st.integers(0, 40000)),
        st.tuples(st.just("refund"), st.integers(0, 3), st.sampled_from([0, 1, 999, 5000])),
        st.tuples(
            st.just("redeem"),
            st.sampled_from(EMAILS),
            st.sampled_from(["free-coffee", "voucher-10"]),
        ),
        st.tuples(st.just("cancel"), st.integers(0, 10)),
        st.tuples(st.just("review"), st.sampled_from(EMAILS)),
        st.tuples(st.just("wait"), st.integers(1, 200)),
    ),
    min_size=1,
    max_size=25,
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=steps)
def test_any_sequence_of_events_leaves_a_ledger_that_verifies(
    uow: UnitOfWork, steps: list[tuple[str, ...]]
) -> None:
    text = example("cafe.yaml").replace(
        "program: cafe-lumiere", f"program: p{next(_program_numbers)}"
    )
    program_id = programs.apply(uow, text, now=T0).program_id
    story = Story(uow, program_id, {email: enroll(uow, program_id, email, T0) for email in EMAILS})
    for email in EMAILS:  # enough to redeem from the start
        story.purchase(email, 15000)
        story.steps += 1
    for name, *arguments in steps:
        story.steps += 1
        story.now += timedelta(hours=1)
        with suppress(FidelaError):  # refused: an over-refund, too few points...
            getattr(story, name)(*arguments)
    jobs.run_due(uow, program_id, now=story.now)
    assert ledger.verify(uow, program_id).ok
    summary = ledger.summary(uow, program_id)
    earned = summary["issued"] + summary["adjusted"]
    spent = summary["redeemed"] + summary["expired"] + summary["reversed"]
    assert earned - spent == summary["outstanding"] + summary["pending"] - summary["debt"]
    for email in EMAILS:
        shown = members.show(uow, program_id, email)
        assert shown["available"] >= 0
        assert shown["available"] == sum(lot["remaining"] for lot in shown["lots"])
        assert shown["debt"] == 0 or shown["available"] == 0


CASHBACK = "cashback:\n  - {id: back, category: home, rate: '0.05'}\n"

refunded_steps = st.lists(
    st.one_of(
        st.tuples(
            st.just("purchase"),
            st.sampled_from(EMAILS),
            st.integers(1, 40000),
            st.integers(0, 100),  # the share of the order on home lines, in percent
        ),
        st.tuples(st.just("refund"), st.integers(0, 3), st.sampled_from([1, 999, 5000])),
        st.tuples(st.just("redeem"), st.sampled_from(EMAILS), st.just("free-coffee")),
        st.tuples(st.just("pay"), st.sampled_from(EMAILS), st.integers(1, 500)),
        st.tuples(st.just("cancel_payment"), st.integers(0, 10)),
        st.tuples(st.just("wait"), st.integers(1, 60)),
    ),
    min_size=1,
    max_size=20,
)


@dataclass
class RefundedStory(Story):
    """The same, with cashback on home lines, paid at checkout, and every order refunded."""

    payments: list[int] = field(default_factory=list)

    def purchase(self, email: str, cents: int, home_percent: int = 0) -> None:
        order_id = f"o{self.steps}"
        home = cents * home_percent // 100
        lines = [{"sku": "HOME", "category": "home", "amount": f"{home / 100:.2f}"}]
        purchase(self.uow, self.program_id, email, order_id, f"{cents / 100:.2f}", self.now,
                 lines=lines)  # fmt: skip
        self.orders.append(order_id)

    def pay(self, email: str, cents: int) -> None:
        amount = Decimal(cents) / 100
        paid = credit.pay(
            self.uow, self.program_id, self.ids[email], amount, "EUR", order_id=None, now=self.now
        )
        self.payments.append(paid["payment_id"])

    def cancel_payment(self, pick: int) -> None:
        if self.payments:
            chosen = self.payments[pick % len(self.payments)]
            credit.cancel(self.uow, self.program_id, chosen, now=self.now)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=refunded_steps)
def test_a_fully_refunded_history_leaves_no_points_and_no_cashback_earned(
    uow: UnitOfWork, steps: list[tuple[str, ...]]
) -> None:
    text = example("cafe.yaml").replace(
        "program: cafe-lumiere", f"program: p{next(_program_numbers)}"
    )
    program_id = programs.apply(uow, text + CASHBACK, now=T0).program_id
    ids = {email: enroll(uow, program_id, email, T0) for email in EMAILS}
    story = RefundedStory(uow, program_id, ids)
    for email in EMAILS:
        story.purchase(email, 15000, 50)
        story.steps += 1
    for name, *arguments in steps:
        story.steps += 1
        story.now += timedelta(hours=1)
        with suppress(FidelaError):  # refused: an over-refund, too little credit...
            getattr(story, name)(*arguments)
    story.now += timedelta(hours=1)
    for order_id in story.orders:  # whatever is left of every order comes back
        with suppress(FidelaError):  # already fully refunded
            send(uow, program_id, story.now, idempotency_key=f"all-{order_id}", type="refund",
                 order_id=order_id)  # fmt: skip
    jobs.run_due(uow, program_id, now=story.now)
    assert ledger.verify(uow, program_id).ok
    summary = ledger.summary(uow, program_id)
    assert summary["issued"] == summary["reversed"] > 0
    cashback = summary["credit"]
    assert cashback["issued"] == cashback["reversed"] != "0.00"
    # What members still hold, or owe, is exactly what they spent: nothing earned remains.
    held = summary["outstanding"] + summary["pending"] - summary["debt"]
    assert held == -(summary["redeemed"] + summary["expired"])
    credit_held = (
        Decimal(cashback["outstanding"]) + Decimal(cashback["pending"]) - Decimal(cashback["debt"])
    )
    assert credit_held == -Decimal(cashback["spent"])
