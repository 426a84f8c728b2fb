"""Paid memberships through time: trial, payments, monthly points, cancellation, lapse."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from fidela.domain import members, memberships
from fidela.domain.errors import Conflict, InvalidInput, NotFound
from fidela.domain.ids import MemberId
from fidela.domain.members import MemberState, OrderState
from fidela.domain.program import parse_program
from tests.conftest import example

SHOP = parse_program(example("shop.yaml"))  # verte-plus: 30-day trial, x2, 300 a month
PARIS = ZoneInfo("Europe/Paris")
T0 = datetime(2026, 1, 31, 9, 0, tzinfo=UTC)


def member() -> MemberState:
    state = MemberState(MemberId(1), T0 - timedelta(days=1))
    members.enroll(SHOP, state)
    return state


def join(state: MemberState, at: datetime = T0, *, paid: bool = False) -> members.Outcome:
    subscription = memberships.join(SHOP, state.membership, "verte-plus", at, paid=paid)
    return members.change_membership(SHOP, state, subscription, at)


def monthly(outcome: members.Outcome) -> list[int]:
    return [
        t.issued()
        for t in outcome.transactions
        if any(line.rule_id == "verte-plus" for line in t.lines)
    ]


def earned(state: MemberState, amount: str, at: datetime, ref: str) -> int:
    order = OrderState(ref, at, int(Decimal(amount) * 100), "EUR")
    members.purchase(SHOP, state, order, Decimal(amount))
    return order.points


def test_the_trial_doubles_earning_and_grants_the_monthly_points_at_once() -> None:
    state = member()
    assert earned(state, "10.00", T0 - timedelta(hours=1), "before") == 50
    outcome = join(state)
    assert state.membership is not None and state.membership.status == "trial"
    assert state.membership.period_ends_at == T0 + timedelta(days=30)
    assert monthly(outcome) == [300]
    assert [e.kind for e in outcome.effects] == ["membership.changed"]
    assert earned(state, "10.00", T0 + timedelta(hours=1), "during") == 100


def test_a_trial_not_paid_lapses_and_its_benefits_stop() -> None:
    state = member()
    join(state)
    outcome = members.advance(SHOP, state, T0 + timedelta(days=40))
    assert state.membership is not None and state.membership.status == "lapsed"
    assert monthly(outcome) == [300]  # 28 February, within the trial (to 2 March)
    assert ("membership.changed", "lapsed") in [
        (e.kind, e.data.get("status")) for e in outcome.effects
    ]
    assert earned(state, "10.00", T0 + timedelta(days=41), "after") == 50


def test_paid_months_grant_on_each_anniversary_in_the_programs_zone() -> None:
    state = member()
    join(state)
    subscription = memberships.pay(SHOP, state.membership, T0 + timedelta(days=10))
    members.change_membership(SHOP, state, subscription, T0 + timedelta(days=10))
    # The paid year starts when the trial ends.
    trial_end = T0 + timedelta(days=30)
    assert state.membership is not None and state.membership.status == "active"
    assert state.membership.period_ends_at == memberships.months_after(trial_end, 12, PARIS)
    outcome = members.advance(SHOP, state, datetime(2026, 4, 30, 12, tzinfo=UTC))
    # 31 January 10:00 in Paris: then 28 February, 31 March and 30 April at 10:00 in Paris
    # (08:00 UTC in summer time).
    grants = [t.occurred_at for t in outcome.transactions if t.issued() == 300]
    assert grants == [
        datetime(2026, 2, 28, 9, tzinfo=UTC),
        datetime(2026, 3, 31, 8, tzinfo=UTC),
        datetime(2026, 4, 30, 8, tzinfo=UTC),
    ]


def test_cancelling_keeps_the_membership_to_the_end_of_the_period() -> None:
    state = member()
    join(state, paid=True)
    assert state.membership is not None
    ends = state.membership.period_ends_at
    assert ends == memberships.months_after(T0, 12, PARIS)
    memberships.cancel(state.membership)
    with pytest.raises(Conflict, match="cancelled already"):
        memberships.cancel(state.membership)
    outcome = members.advance(SHOP, state, ends - timedelta(seconds=1))
    assert state.membership.status == "active" and len(monthly(outcome)) == 11
    members.advance(SHOP, state, ends)
    assert state.membership.status == "lapsed"
    again = memberships.pay(SHOP, state.membership, ends + timedelta(days=3))
    assert again.status == "active" and again.started_at == ends + timedelta(days=3)


def test_joining_is_refused_while_a_membership_runs_or_without_a_trial_or_a_payment() -> None:
    state = member()
    join(state)
    with pytest.raises(Conflict, match="already a member"):
        join(state)
    with pytest.raises(NotFound, match="no membership gold-club"):
        memberships.join(SHOP, None, "gold-club", T0, paid=True)
    no_trial = parse_program(example("shop.yaml").replace("trial_days: 30", "trial_days: 0"))
    with pytest.raises(InvalidInput, match="no free trial"):
        memberships.join(no_trial, None, "verte-plus", T0, paid=False)


def test_multipliers_combine_tier_times_membership_times_campaign_before_one_rounding() -> None:
    state = member()
    state.tier, state.segment = "gold", "at_risk"  # gold: x1.5; spring-double: x2 for at_risk
    at = datetime(2027, 3, 21, 12, tzinfo=UTC)
    join(state, at, paid=True)
    order = OrderState("o", at, 1010, "EUR")
    spent: dict[str, int] = {}
    members.purchase(SHOP, state, order, Decimal("10.10"), spent=spent)
    # 10.10 EUR at 5 a EUR is 50.5; x1.5 x2 x2 = 303 exactly, rounded once.
    assert order.points == 303 and spent == {"spring-double": 303 - 151}


def test_a_month_after_the_31st_is_the_last_day_of_a_shorter_month() -> None:
    start = datetime(2026, 1, 31, 9, tzinfo=UTC)
    assert memberships.months_after(start, 1, PARIS) == datetime(2026, 2, 28, 9, tzinfo=UTC)
    assert memberships.months_after(start, 13, PARIS) == datetime(2027, 2, 28, 9, tzinfo=UTC)


def test_the_free_trial_is_given_once_per_plan() -> None:
    state = member()
    join(state)
    members.advance(SHOP, state, T0 + timedelta(days=40))  # the trial lapsed, unpaid
    with pytest.raises(InvalidInput, match="taken once"):
        join(state, T0 + timedelta(days=41))
    join(state, T0 + timedelta(days=41), paid=True)
    assert state.membership is not None and state.membership.status == "active"
