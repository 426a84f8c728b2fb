"""Whatever events arrive, the stored ledger stays exact (on both databases)."""

from __future__ import annotations

import itertools
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fidela.domain.errors import FidelaError
from fidela.domain.ids import MemberId, ProgramId
from fidela.services import jobs, ledger, members, programs, rewards
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
