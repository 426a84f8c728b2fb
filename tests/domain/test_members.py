"""A member through time: tiers, pending points, birthdays, reminders, refunds."""

from copy import deepcopy
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fidela.domain import members
from fidela.domain.errors import InvalidInput, NotFound
from fidela.domain.events import CustomerRef, OrderLine, Refund, RefundLine
from fidela.domain.ids import LotNo, MemberId
from fidela.domain.ledger import Account, Grant, Kind, Transaction
from fidela.domain.members import MemberState, OrderState
from fidela.domain.program import Caps, parse_program
from fidela.domain.rules import local_midnight
from tests.conftest import example

CAFE = parse_program(example("cafe.yaml"))
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def member(**kwargs: object) -> MemberState:
    state = MemberState(MemberId(1), T0, **kwargs)  # type: ignore[arg-type]
    members.enroll(CAFE, state)
    return state


def buy(state: MemberState, amount: str, at: datetime, ref: str = "o") -> OrderState:
    order = OrderState(ref, at, int(Decimal(amount) * 100), "EUR")
    members.purchase(CAFE, state, order, Decimal(amount))
    return order


def test_a_new_member_starts_in_the_first_tier() -> None:
    assert member().tier == "bronze"


def test_upgrade_is_immediate_and_the_crossing_purchase_earns_at_the_old_rate() -> None:
    state = member()
    buy(state, "150.00", T0)
    order = buy(state, "100.00", T0 + timedelta(days=1), "o2")
    assert state.tier == "silver"
    assert order.points == 100  # earned as bronze
    later = buy(state, "100.00", T0 + timedelta(days=2), "o3")
    assert later.points == 125  # silver: 1.25 per EUR


def test_downgrade_happens_only_at_the_review() -> None:
    state = member()
    buy(state, "250.00", T0)
    assert state.tier == "silver" and state.tier_review_at == T0 + timedelta(days=365)
    # The spend leaves the window after 365 days, but the tier holds until the review.
    members.advance(CAFE, state, T0 + timedelta(days=364))
    assert state.tier == "silver"
    outcome = members.advance(CAFE, state, T0 + timedelta(days=366))
    assert state.tier == "bronze"
    assert [e.kind for e in outcome.effects if e.kind == "tier.changed"] == ["tier.changed"]
    assert state.tier_review_at is None


def test_a_member_who_still_qualifies_keeps_the_tier_for_another_window() -> None:
    state = member()
    buy(state, "250.00", T0)
    buy(state, "200.00", T0 + timedelta(days=300), "o2")
    members.advance(CAFE, state, T0 + timedelta(days=366))
    assert state.tier == "silver"
    assert state.tier_review_at == T0 + timedelta(days=730)


def test_points_expire_a_year_after_they_were_earned() -> None:
    state = member()
    buy(state, "30.00", T0)
    assert members.advance(CAFE, state, T0 + timedelta(days=364)).transactions == []
    outcome = members.advance(CAFE, state, T0 + timedelta(days=365))
    assert [t.kind for t in outcome.transactions] == [Kind.EXPIRE]
    assert outcome.transactions[0].points(Account.EXPIRED) == 30
    assert outcome.transactions[0].occurred_at == T0 + timedelta(days=365)
    assert state.wallet.available == 0


def test_a_reminder_is_due_thirty_days_before_expiry_and_given_once() -> None:
    state = member()
    buy(state, "30.00", T0)
    assert state.due_at(CAFE) == T0 + timedelta(days=335)
    first = members.advance(CAFE, state, T0 + timedelta(days=340))
    assert [(e.kind, e.data["points"]) for e in first.effects] == [("points.expiring", 30)]
    assert members.advance(CAFE, state, T0 + timedelta(days=341)).effects == []


def test_pending_points_become_available_after_the_waiting_time() -> None:
    program = CAFE.model_copy(update={"pending_days": 14})
    state = MemberState(MemberId(1), T0)
    members.enroll(program, state)
    members.purchase(program, state, OrderState("o", T0, 2000, "EUR"), Decimal("20.00"))
    assert (state.wallet.available, state.wallet.pending) == (0, 20)
    members.advance(program, state, T0 + timedelta(days=14))
    assert (state.wallet.available, state.wallet.pending) == (20, 0)


def test_the_birthday_bonus_is_granted_once_a_year_on_the_birthday() -> None:
    state = member(birthday=date(1990, 3, 2))
    outcome = members.advance(CAFE, state, datetime(2027, 3, 10, tzinfo=UTC))
    birthdays = [t for t in outcome.transactions if t.kind == Kind.EARN]
    assert [t.issued() for t in birthdays] == [100, 100]  # 2026 and 2027
    assert birthdays[0].occurred_at == datetime(2026, 3, 1, 23, 0, tzinfo=UTC)  # Paris midnight
    again = members.activity(CAFE, state, "birthday", datetime(2027, 3, 11, tzinfo=UTC))
    assert again.transactions == []


def test_a_partial_refund_reverses_points_in_proportion() -> None:
    state = member()
    order = buy(state, "100.00", T0)
    members.refund(CAFE, state, order, 2500, T0 + timedelta(days=1))
    assert (order.reversed_points, state.wallet.available) == (25, 75)
    members.refund(CAFE, state, order, 7500, T0 + timedelta(days=2))
    assert (order.reversed_points, state.wallet.available) == (100, 0)


def test_refund_amounts_by_lines_are_exact_and_limited_to_what_was_bought() -> None:
    lines = (OrderLine(sku="MUG", quantity=3, amount=Decimal("10.00")),)
    order = OrderState("o", T0, 1000, "EUR", lines=lines)
    refund = Refund(
        idempotency_key="r",
        customer=CustomerRef(member_id=1),
        occurred_at=T0,
        order_id="o",
        lines=(RefundLine(sku="MUG", quantity=1),),
    )
    amounts = []
    for _ in range(3):
        amount, order.refunded_quantities = members.refund_amount(order, refund)
        order.refunded_minor += amount
        amounts.append(amount)
    assert amounts == [333, 334, 333]  # together exactly the line's 10.00
    with pytest.raises(InvalidInput, match="already fully refunded"):
        members.refund_amount(order, refund)
    too_many = replace(order, refunded_minor=0, refunded_quantities={})
    with pytest.raises(InvalidInput) as caught:
        members.refund_amount(
            too_many, refund.model_copy(update={"lines": (RefundLine(sku="MUG", quantity=4),)})
        )
    assert caught.value.field == "lines.0.quantity"


def test_a_member_whose_tier_a_new_version_removed_gets_the_tier_reached() -> None:
    state = member()
    buy(state, "250.00", T0)
    renamed = parse_program(example("cafe.yaml").replace("id: silver", "id: argent"))
    outcome = members.advance(renamed, state, T0 + timedelta(days=1))
    assert state.tier == "argent"
    assert [e.data for e in outcome.effects] == [{"from": "silver", "to": "argent"}]
    no_tiers = CAFE.model_copy(update={"tiers": None})
    members.advance(no_tiers, state, T0 + timedelta(days=2))
    assert (state.tier, state.tier_review_at) == (None, None)
    order = OrderState("o2", T0 + timedelta(days=3), 1000, "EUR")
    members.purchase(no_tiers, state, order, Decimal("10.00"))
    assert order.points == 10  # earning goes on, without a multiplier


@given(
    lots=st.lists(
        st.tuples(
            st.integers(1, 500), st.integers(0, 400), st.integers(1, 400), st.integers(0, 60)
        ),
        max_size=12,
    ),
    days=st.integers(0, 800),
)
def test_one_pass_over_lots_equals_the_step_by_step_walk(
    lots: list[tuple[int, int, int, int]], days: int
) -> None:
    """The fast path of `advance` gives the very transactions of the walk, in the same order."""
    program = CAFE.model_copy(update={"tiers": None})
    state = MemberState(MemberId(1), T0)
    for points, earned, expires_in, pending_for in lots:
        at = T0 + timedelta(days=earned)
        pending = at + timedelta(days=pending_for) if pending_for else None
        expires = at + timedelta(days=expires_in + pending_for)  # never while still pending
        state.wallet.earn([Grant("base", points)], at, expires_at=expires, pending_until=pending)
    to = T0 + timedelta(days=days)
    fast, walked = deepcopy(state), deepcopy(state)
    assert members._only_lots_change(program, fast, to)
    fast_result = _described(fast, members._lots_up_to(fast, to))
    walked_result = _described(walked, members._step_by_step(program, walked, to).transactions)
    assert fast_result == walked_result


def _described(state: MemberState, transactions: list[Transaction]) -> list[object]:
    """Transactions and the wallet after them, lots named by their place in the wallet."""
    place = {id(lot): n for n, lot in enumerate(state.wallet.lots)}
    place.update(
        (id(line.lot), len(place) + n)
        for n, line in enumerate(line for t in transactions for line in t.lines if line.lot)
        if id(line.lot) not in place
    )
    moves = [
        (t.kind, t.occurred_at, [(x.account, x.amount, place.get(id(x.lot))) for x in t.lines])
        for t in transactions
    ]
    left = [(place[id(lot)], lot.remaining, lot.pending_until) for lot in state.wallet.lots]
    return [moves, left, state.wallet.debt]


INACTIVE = CAFE.model_copy(
    update={"expiry": CAFE.expiry.model_copy(update={"policy": "inactivity", "days": 540})}
)


def buy_under(state: MemberState, amount: str, at: datetime, ref: str) -> None:
    order = OrderState(ref, at, int(Decimal(amount) * 100), "EUR")
    members.purchase(INACTIVE, state, order, Decimal(amount))


def test_under_inactivity_the_whole_balance_expires_days_after_the_last_purchase() -> None:
    state = MemberState(MemberId(1), T0)
    members.enroll(INACTIVE, state)
    buy_under(state, "30.00", T0, "o1")
    members.activity(INACTIVE, state, "review", T0 + timedelta(days=100))  # 20, moves nothing
    buy_under(state, "12.00", T0 + timedelta(days=200), "o2")
    deadline = T0 + timedelta(days=740)
    assert [lot.expires_at for lot in state.wallet.lots] == [deadline] * 3
    assert state.due_at(INACTIVE) == deadline - timedelta(days=30)  # the reminder
    reminded = members.advance(INACTIVE, state, deadline - timedelta(days=1))
    assert [(e.kind, e.data) for e in reminded.effects] == [
        ("points.expiring", {"points": 62, "expires_at": deadline.isoformat()})
    ]
    assert reminded.transactions == []
    expired = members.advance(INACTIVE, state, deadline)
    assert [(t.kind, t.occurred_at, t.points(Account.EXPIRED)) for t in expired.transactions] == [
        (Kind.EXPIRE, deadline, 62)
    ]
    assert state.wallet.available == 0 and state.wallet.lots == []


def test_a_purchase_moves_the_expiry_of_every_open_lot_and_says_which() -> None:
    state = MemberState(MemberId(1), T0)
    members.enroll(INACTIVE, state)
    buy_under(state, "30.00", T0, "o1")
    first = state.wallet.lots[0]
    order = OrderState("o2", T0 + timedelta(days=10), 500, "EUR")
    outcome = members.purchase(INACTIVE, state, order, Decimal("5.00"))
    assert outcome.restated == [first]
    assert first.expires_at == T0 + timedelta(days=550)
    # A purchase sent late, older than the last one, moves nothing.
    late = OrderState("o0", T0 + timedelta(days=5), 500, "EUR")
    assert members.purchase(INACTIVE, state, late, Decimal("5.00")).restated == []
    assert {lot.expires_at for lot in state.wallet.lots} == {T0 + timedelta(days=550)}
    assert state.last_purchase_at == T0 + timedelta(days=10)


def test_without_a_purchase_the_points_expire_days_after_enrolling() -> None:
    state = MemberState(MemberId(1), T0)
    members.enroll(INACTIVE, state)
    members.activity(INACTIVE, state, "review", T0 + timedelta(days=3))
    assert [lot.expires_at for lot in state.wallet.lots] == [T0 + timedelta(days=540)]


def test_points_a_lapsed_member_earns_without_buying_expire_days_after_they_were_earned() -> None:
    state = MemberState(MemberId(1), T0)
    members.enroll(INACTIVE, state)
    buy_under(state, "30.00", T0, "o1")
    back = T0 + timedelta(days=600)  # the 30 points expired at day 540
    outcome = members.activity(INACTIVE, state, "review", back)
    assert [t.kind for t in outcome.transactions] == [Kind.EXPIRE, Kind.EARN]
    assert [lot.expires_at for lot in state.wallet.lots] == [back + timedelta(days=540)]
    buy_under(state, "5.00", back + timedelta(days=1), "o2")  # buying again aligns them
    deadline = back + timedelta(days=541)
    assert [lot.expires_at for lot in state.wallet.lots] == [deadline, deadline]


CAPPED = CAFE.model_copy(
    update={"caps": Caps(points_per_member_per_day=100), "tiers": None, "pending_days": 14}
)


def test_points_above_the_daily_cap_are_held_not_granted_and_not_lost() -> None:
    state = MemberState(MemberId(1), T0)
    members.enroll(CAPPED, state)
    first = OrderState("o1", T0, 8000, "EUR")
    members.purchase(CAPPED, state, first, Decimal("80.00"))
    second = OrderState("o2", T0 + timedelta(hours=3), 5000, "EUR")
    outcome = members.purchase(CAPPED, state, second, Decimal("50.00"))
    (transaction,) = outcome.transactions
    assert (transaction.points(Account.PENDING), transaction.points(Account.HELD)) == (20, 30)
    assert (state.wallet.pending, state.wallet.held) == (100, 30)
    assert second.points == 50  # issued, so that a refund takes back held points too
    # The next day (in Paris) starts a new count.
    third = OrderState("o3", datetime(2026, 1, 5, 23, 30, tzinfo=UTC), 3000, "EUR")
    members.purchase(CAPPED, state, third, Decimal("30.00"))
    assert (state.wallet.pending, state.wallet.held) == (130, 30)


def test_released_held_points_wait_out_the_purchase_window_and_rejected_ones_are_reversed() -> None:
    state = MemberState(MemberId(1), T0)
    members.enroll(CAPPED, state)
    members.purchase(CAPPED, state, OrderState("o1", T0, 25000, "EUR"), Decimal("250.00"))
    (held,) = [lot for lot in state.wallet.lots if lot.held]
    held.lot_no = LotNo(7)
    assert held.remaining == 150 and held.expires_at is None
    with pytest.raises(NotFound):
        members.release_held(CAPPED, state, 8, T0, actor="sam", reason="ok")
    outcome = members.release_held(
        CAPPED, state, 7, T0 + timedelta(days=2), actor="sam", reason="a real order"
    )
    assert outcome.restated == [held]  # stored again with its new expiry and hold
    (released,) = outcome.transactions
    assert (released.kind, released.actor, released.points(Account.PENDING)) == (
        Kind.RELEASE, "sam", 150
    )  # fmt: skip
    assert held.pending_until == T0 + timedelta(days=14)  # the purchase's window, not longer
    assert held.expires_at == T0 + timedelta(days=367)  # a year after the release
    members.purchase(
        CAPPED, state, OrderState("o2", T0 + timedelta(days=3), 50000, "EUR"), Decimal("500.00")
    )
    (again,) = [lot for lot in state.wallet.lots if lot.held]
    again.lot_no = LotNo(8)
    (rejected,) = members.reject_held(
        state, 8, T0 + timedelta(days=4), actor="sam", reason="fraud"
    ).transactions
    assert (rejected.kind, rejected.points(Account.REVERSED)) == (Kind.REVERSE, 400)
    assert state.wallet.held == 0


def test_points_and_cashback_are_two_books_earned_and_reversed_each_on_its_own() -> None:
    program = parse_program(example("cafe.yaml") + "cashback:\n  - {id: back, rate: '0.02'}\n")
    state = MemberState(MemberId(1), T0)
    members.enroll(program, state)
    order = OrderState("o", T0, 5000, "EUR")
    outcome = members.purchase(program, state, order, Decimal("50.00"))
    points, credit = outcome.transactions
    assert points.lines[0].account == Account.ISSUED and points.issued() == 50
    assert credit.lines[0].account == Account.CREDIT_ISSUED and credit.issued() == 100
    assert (state.wallet.available, state.credit.available, order.cashback) == (50, 100, 100)
    half = members.refund(program, state, order, 2500, T0 + timedelta(hours=1))
    assert [t.book.unit for t in half.transactions] == ["points", "credit"]
    assert (state.wallet.available, state.credit.available) == (25, 50)
    for transaction in half.transactions:  # each balances within its own book
        assert sum(line.amount for line in transaction.lines) == 0


def test_days_are_added_to_instants_exactly_across_daylight_saving() -> None:
    """A day-only purchase (00:00 in the zone) made before a DST change: its review a
    window later is the same instant whether or not the state was stored in between
    (Python adds days to a zone's datetime by the wall clock, to a UTC one exactly)."""
    zone = ZoneInfo("America/New_York")
    at = local_midnight(date(1997, 4, 6), zone)  # DST began at 02:00 that day
    assert at.utcoffset() == timedelta(0)
    state = member()
    buy(state, "250.00", at)
    assert state.tier == "silver" and state.tier_review_at == at + timedelta(days=365)
    assert state.tier_review_at == datetime(1998, 4, 6, 5, tzinfo=UTC)
