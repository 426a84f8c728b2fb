"""A member's state and how events and the passing of time change it.

Every function here takes the program, the member's state and an instant, mutates
the state, and returns the `Outcome`: the ledger transactions and the effects
(tier changes, reminders) to store. Before an event is applied, everything due up
to its instant (releases, expiries, reviews, birthdays) is applied first, so the
result never depends on how often the scheduler ran.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from fidela.domain import challenges, memberships, referrals
from fidela.domain.cards import Card, CardVoucher, punch, returned, unpunch
from fidela.domain.challenges import completed
from fidela.domain.errors import InvalidInput, NotFound
from fidela.domain.events import OrderLine, Refund
from fidela.domain.ids import MemberId
from fidela.domain.ledger import CREDIT, SCHEDULER, Grant, Lot, Transaction, Wallet
from fidela.domain.money import exponent, to_minor
from fidela.domain.program import Campaign, Program
from fidela.domain.rules import (
    activity_grants,
    capped,
    cashback_grants,
    local_midnight,
    purchase_grants,
    running_campaigns,
    uses_in_period,
)
from fidela.domain.tiers import level_for, metric


@dataclass(frozen=True, slots=True)
class Effect:
    """Something to announce after commit: `tier.changed`, `points.expiring`..."""

    kind: str
    at: datetime
    data: dict[str, Any]


@dataclass(slots=True)
class Outcome:
    transactions: list[Transaction] = field(default_factory=list)
    effects: list[Effect] = field(default_factory=list)
    restated: list[Lot] = field(default_factory=list)  # lots whose expiry or hold changed
    badges: list[tuple[str, str, datetime]] = field(default_factory=list)  # badge, challenge, at
    vouchers: list[CardVoucher] = field(default_factory=list)  # issued by full punch cards
    cancelled_vouchers: list[CardVoucher] = field(default_factory=list)  # taken back by refunds
    punches: dict[str, int] = field(default_factory=dict)  # given (+) or taken back (-) per card

    def add(self, transaction: Transaction | None) -> None:
        if transaction is not None:
            self.transactions.append(transaction)

    def extend(self, other: Outcome) -> None:
        self.transactions.extend(other.transactions)
        self.effects.extend(other.effects)
        self.restated.extend(other.restated)
        self.badges.extend(other.badges)
        self.vouchers.extend(other.vouchers)
        self.cancelled_vouchers.extend(other.cancelled_vouchers)
        for card_id, count in other.punches.items():
            self.punches[card_id] = self.punches.get(card_id, 0) + count


@dataclass(slots=True)
class MemberState:
    """What the rules need to know of a member; loaded, changed, then stored back."""

    member_id: MemberId | None
    enrolled_at: datetime
    birthday: date | None = None
    wallet: Wallet = field(default_factory=Wallet)
    tier: str | None = None
    tier_since: datetime | None = None
    tier_review_at: datetime | None = None
    purchase_count: int = 0
    last_purchase_at: datetime | None = None
    last_birthday_year: int | None = None
    reminded_until: datetime | None = None
    qualifying: list[tuple[datetime, int]] = field(default_factory=list)
    grant_times: dict[str, list[datetime]] = field(default_factory=dict)
    granted: list[tuple[datetime, int]] = field(default_factory=list)  # what the cap counts
    segment: str | None = None  # the RFM segment now: campaigns may target it
    rule_segments: set[str] = field(default_factory=set)  # the program's rule segments now
    pilots: set[str] = field(default_factory=set)  # the pilots that put them in their group
    event_times: dict[str, list[datetime]] = field(default_factory=dict)  # for challenges
    badges: set[str] = field(default_factory=set)
    credit: Wallet = field(default_factory=lambda: Wallet(book=CREDIT))  # cashback
    cards: dict[str, Card] = field(default_factory=dict)  # the current punch card of each kind
    card_vouchers: list[CardVoucher] = field(default_factory=list)  # unused, oldest first
    membership: memberships.Subscription | None = None
    referral: referrals.Referral | None = None  # the member's own, while it is undecided

    def next_lot_change(self) -> datetime | None:
        """The next instant a lot of points or credit is released or expires."""
        instants = (self.wallet.next_change(), self.credit.next_change())
        return min((t for t in instants if t is not None), default=None)

    def due_at(self, program: Program) -> datetime | None:
        """The next instant something happens to this member without an event."""
        instants = [
            self.next_lot_change(),
            self.membership.next_change() if self.membership else None,
            self.tier_review_at,
            next_birthday(program, self),
            next_reminder(program, self),
        ]
        return min((t for t in instants if t is not None), default=None)


@dataclass(slots=True)
class OrderState:
    """A purchase as refunds need it: its amount, what was refunded, what it earned
    (points, and cashback in minor units) and the lots it created."""

    order_ref: str
    occurred_at: datetime
    amount_minor: int
    currency: str
    lines: tuple[OrderLine, ...] = ()
    refunded_minor: int = 0
    refunded_quantities: dict[str, int] = field(default_factory=dict)
    points: int = 0
    reversed_points: int = 0
    cashback: int = 0
    reversed_cashback: int = 0
    lots: list[Lot] = field(default_factory=list)
    punches: dict[str, int] = field(default_factory=dict)  # given to each punch card
    removed_punches: dict[str, int] = field(default_factory=dict)  # taken back by refunds


def enroll(program: Program, state: MemberState) -> Outcome:
    """A new member: the first tier, and whatever `signup` rules grant."""
    if program.tiers is not None:
        state.tier = program.tiers.levels[0].id
        state.tier_since = state.enrolled_at
    outcome = _grant_activity(program, state, "signup", state.enrolled_at)
    outcome.effects.insert(0, Effect("member.enrolled", state.enrolled_at, {}))
    return outcome


def purchase(
    program: Program,
    state: MemberState,
    order: OrderState,
    amount: Decimal,
    *,
    spent: dict[str, int] | None = None,
) -> Outcome:
    """Earn on a purchase at the tier the member holds when it happens.

    Campaigns apply when the caller passes `spent`: what each campaign of the program
    granted so far (to everyone), which this updates.
    """
    at = order.occurred_at
    outcome = advance(program, state, at)
    state.purchase_count += 1
    if state.referral is not None and state.referral.status == "pending":
        referrals.first_order(program, state.referral, order.order_ref, amount, at)
    outcome.restated.extend(_keep_alive(program, state, at))
    grants = purchase_grants(
        program,
        amount,
        order.lines,
        purchase_number=state.purchase_count,
        multiplier=_multiplier(program, state),
        uses=_uses(program, state, "purchase", at),
        campaigns=_campaigns(program, state, "purchase", at, spent),
        spent=spent,
    )
    times = _count_event(program, state, "purchase", at)
    grants.extend(_challenges(program, state, "purchase", at, times, outcome))
    hold_all = _too_fast(program, times, at)
    transaction = _earn(program, state, grants, at, order_ref=order.order_ref, hold_all=hold_all)
    credit = state.credit.earn(
        cashback_grants(program, amount, order.lines),
        at,
        expires_at=None,
        pending_until=_pending_until(program, at),
        order_ref=order.order_ref,
    )
    order.points = transaction.issued() if transaction else 0
    order.cashback = credit.issued() if credit else 0
    for earned in (transaction, credit):
        if earned is not None:
            order.lots.extend(line.lot for line in earned.lines if line.lot is not None)
            outcome.add(earned)
    if program.punch_cards:
        order.punches, vouchers = punch(program, state.cards, order.lines, at)
        outcome.punches = dict(order.punches)
        state.card_vouchers.extend(vouchers)
        outcome.vouchers.extend(vouchers)
        outcome.effects.extend(
            Effect("punch_card.completed", at, {"card": v.card_id, "voucher_code": v.code})
            for v in vouchers
        )
    if program.tiers and program.tiers.metric == "spend":
        state.qualifying.append((at, order.amount_minor))
    outcome.effects.extend(_upgrade(program, state, at))
    return outcome


def release_held(
    program: Program, state: MemberState, lot_no: int, at: datetime, *, actor: str, reason: str
) -> Outcome:
    """Grant points the daily cap held: spendable now, or when the purchase's waiting time
    (`pending_days` from when they were earned) is over; they expire as if earned now."""
    lot = _held_lot(state, lot_no)
    window_ends = lot.earned_at + timedelta(days=program.pending_days)
    pending_until = window_ends if program.pending_days and window_ends > at else None
    released = state.wallet.release_held(
        lot,
        at,
        expires_at=lot_expiry(program, state, at),
        pending_until=pending_until,
        actor=actor,
        reason=reason,
    )
    return Outcome([released], restated=[lot])


def reject_held(
    state: MemberState, lot_no: int, at: datetime, *, actor: str, reason: str
) -> Outcome:
    """Refuse points the daily cap held: they are reversed."""
    lot = _held_lot(state, lot_no)
    return Outcome([state.wallet.reject_held(lot, at, actor=actor, reason=reason)])


def _held_lot(state: MemberState, lot_no: int) -> Lot:
    lot = next((lot for lot in state.wallet.lots if lot.lot_no == lot_no), None)
    if lot is None or not lot.held:
        raise NotFound("lot_no", f"no held points in lot {lot_no}")
    return lot


def refund_amount(order: OrderState, refund: Refund) -> tuple[int, dict[str, int]]:
    """Minor units a refund gives back, and the refunded quantities per sku after it."""
    left = order.amount_minor - order.refunded_minor
    if left == 0 and order.amount_minor:
        raise InvalidInput("order_id", f"order {order.order_ref} is already fully refunded")
    quantities = dict(order.refunded_quantities)
    if refund.amount is not None:
        amount = to_minor(refund.amount, order.currency)
    elif refund.lines:
        amount = 0
        for i, wanted in enumerate(refund.lines):
            line = next((line for line in order.lines if line.sku == wanted.sku), None)
            if line is None:
                raise InvalidInput(
                    f"lines.{i}.sku", f"{wanted.sku} is not in order {order.order_ref}"
                )
            before = quantities.get(wanted.sku, 0)
            after = before + wanted.quantity
            if after > line.quantity:
                reason = f"only {line.quantity - before} of {wanted.sku} are left to refund"
                raise InvalidInput(f"lines.{i}.quantity", reason)
            quantities[wanted.sku] = after
            amount += _share(line, after, order.currency) - _share(line, before, order.currency)
    else:
        amount = left
    if amount > left:
        reason = f"exceeds what is left to refund on order {order.order_ref} ({left} minor units)"
        raise InvalidInput("amount", reason)
    return amount, quantities


def refund(
    program: Program, state: MemberState | None, order: OrderState, amount_minor: int, at: datetime
) -> Outcome:
    """Reverse the points and the cashback an order earned, in proportion to the share
    refunded so far."""
    order.refunded_minor += amount_minor
    if state is None:
        return Outcome()
    outcome = advance(program, state, at)
    target = _refunded_share(order, order.points)
    points = target - order.reversed_points
    order.reversed_points = target
    outcome.add(state.wallet.reverse(points, order.lots, at))
    credit_target = _refunded_share(order, order.cashback)
    outcome.add(state.credit.reverse(credit_target - order.reversed_cashback, order.lots, at))
    order.reversed_cashback = credit_target
    outcome.cancelled_vouchers.extend(_take_punches_back(program, state, order, outcome, at))
    referral = state.referral
    if referral is not None and referral.first_order_ref == order.order_ref:
        referrals.refunded(program, referral, order.amount_minor, order.refunded_minor, at)
    if program.tiers and program.tiers.metric == "spend":
        state.qualifying.append((order.occurred_at, -amount_minor))
    elif program.tiers and points:
        state.qualifying.append((order.occurred_at, -points))
    return outcome


def _take_punches_back(
    program: Program, state: MemberState, order: OrderState, outcome: Outcome, at: datetime
) -> list[CardVoucher]:
    """Take back the punches of the units refunded so far (noted in `outcome`); the
    vouchers this takes back."""
    fully = order.refunded_minor >= order.amount_minor
    taken = []
    for card in program.punch_cards:
        given = order.punches.get(card.id, 0)
        if not given:
            continue
        target = returned(order.lines, card.category, order.refunded_quantities, given, fully)
        count = target - order.removed_punches.get(card.id, 0)
        if count > 0:
            order.removed_punches[card.id] = target
            outcome.punches[card.id] = -count
            taken += unpunch(card, state.cards, state.card_vouchers, count, at)
    return taken


def _refunded_share(order: OrderState, earned: int) -> int:
    """The part of what an order earned that its refunds so far take back, rounded down."""
    if order.amount_minor:
        return earned * order.refunded_minor // order.amount_minor
    return earned


def activity(
    program: Program,
    state: MemberState,
    name: str,
    at: datetime,
    *,
    spent: dict[str, int] | None = None,
) -> Outcome:
    """Earn on a named activity (review, visit...), or on a birthday sent by the shop;
    with `spent`, as for `purchase`, campaigns add their bonus."""
    outcome = advance(program, state, at)
    times = _count_event(program, state, name, at)
    completed = _challenges(program, state, name, at, times, outcome)
    hold_all = _too_fast(program, times, at)
    outcome.extend(_activity_now(program, state, name, at, spent, completed, hold_all))
    return outcome


def _activity_now(
    program: Program,
    state: MemberState,
    name: str,
    at: datetime,
    spent: dict[str, int] | None = None,
    extra: Sequence[Grant] = (),
    hold_all: bool = False,
) -> Outcome:
    if name == "birthday":
        year = at.astimezone(program.zone).year
        if state.last_birthday_year is not None and state.last_birthday_year >= year:
            return _grant(program, state, list(extra), at, hold_all)
        state.last_birthday_year = year
    return _grant_activity(program, state, name, at, spent, extra, hold_all)


def reached_by(events: Iterable[str]) -> frozenset[str]:
    """The events whose earn rules applying these events can reach: their own, and the
    birthday that `advance` grants on the way to them."""
    return frozenset(events) | {"birthday"}


def advance(program: Program, state: MemberState, to: datetime) -> Outcome:
    """Apply everything due up to `to`, in time order: releases, expiries, reviews, birthdays."""
    outcome = Outcome(effects=_align_tier(program, state, to))
    if _only_lots_change(program, state, to):
        outcome.transactions.extend(_lots_up_to(state, to))
    else:
        outcome.extend(_step_by_step(program, state, to))
    outcome.effects.extend(_remind(program, state, to))
    return outcome


def _step_by_step(program: Program, state: MemberState, to: datetime) -> Outcome:
    """Each instant something falls due, in order: what one does may change the next."""
    outcome = Outcome()
    while True:
        instants = [
            state.next_lot_change(),
            state.tier_review_at,
            next_birthday(program, state),
            state.membership.next_change() if state.membership else None,
        ]
        instant = min((t for t in instants if t is not None), default=None)
        if instant is None or instant > to:
            return outcome
        outcome.transactions.extend(_lots_up_to(state, instant))
        outcome.extend(_membership_due(program, state, instant))
        if state.tier_review_at == instant:
            outcome.effects.extend(_review(program, state, instant))
        if next_birthday(program, state) == instant:
            birthday = _activity_now(program, state, "birthday", instant)
            outcome.extend(_by_scheduler(birthday, "the member's birthday"))


def _only_lots_change(program: Program, state: MemberState, to: datetime) -> bool:
    """True when nothing up to `to` but releases and expiries of lots can happen.

    Then they do not depend on each other, and one pass gives the very transactions the
    step-by-step walk would: no review or birthday falls due, no debt waits for released
    points, and no lot expires while still pending.
    """
    review, birthday = state.tier_review_at, next_birthday(program, state)
    membership = state.membership.next_change() if state.membership else None
    return (
        (review is None or review > to)
        and (membership is None or membership > to)
        and (birthday is None or birthday > to)
        and state.wallet.debt == 0
        and all(
            lot.pending_until <= lot.expires_at
            for lot in state.wallet.lots
            if lot.pending_until is not None and lot.expires_at is not None
        )
    )


def _membership_due(program: Program, state: MemberState, at: datetime) -> Outcome:
    """The membership's monthly points, or its lapse, if due at `at` (a membership the
    program no longer has lapses at its next grant or period end)."""
    subscription = state.membership
    if subscription is None or subscription.next_change() != at:
        return Outcome()
    dropped = memberships.running_plan(program, subscription) is None  # by a newer version
    if dropped or not subscription.grant_due_first:
        memberships.lapse(subscription)
        return Outcome(effects=[Effect("membership.changed", at, subscription.described())])
    points = memberships.monthly_grant(program, subscription)
    outcome = _grant(program, state, [Grant(subscription.plan, points)], at, hold_all=False)
    return _by_scheduler(outcome, f"monthly points of membership {subscription.plan}")


def grant_referral(
    program: Program, state: MemberState, points: int, at: datetime, *, reason: str
) -> Outcome:
    """A referral's reward, at the end of the first order's return window: available at
    once (that window was the wait), within the daily cap."""
    granted = _grant(program, state, [Grant("referral", points)], at, hold_all=False, wait=False)
    return _by_scheduler(granted, reason)


def _by_scheduler(outcome: Outcome, reason: str) -> Outcome:
    """What the passing of time granted: its transactions name the scheduler and why."""
    for transaction in outcome.transactions:
        transaction.actor, transaction.reason = SCHEDULER, reason
    return outcome


def take_back_referral(
    state: MemberState, points: int, lots: Sequence[Lot], at: datetime, *, reason: str
) -> Outcome:
    """Reverse a referral's reward (its first order was refunded): from the lots it
    created first, then other available points, then debt."""
    outcome = Outcome()
    outcome.add(state.wallet.reverse(points, lots, at))
    for transaction in outcome.transactions:
        transaction.reason = reason
    return outcome


def close_account(state: MemberState, at: datetime, *, actor: str, reason: str) -> Outcome:
    """The member's data is erased: every lot of points and of credit is forfeited (their
    debts stay owed) and a running membership ends now."""
    outcome = Outcome()
    outcome.add(state.wallet.forfeit(at, actor=actor, reason=reason))
    outcome.add(state.credit.forfeit(at, actor=actor, reason=reason))
    if state.membership is not None and state.membership.running:
        memberships.lapse(state.membership)
        outcome.effects.append(Effect("membership.changed", at, state.membership.described()))
    return outcome


def change_membership(
    program: Program, state: MemberState, subscription: memberships.Subscription, at: datetime
) -> Outcome:
    """The member's membership is now `subscription` (joined, paid, cancelled): announce
    it, and grant what it makes due at once (its first monthly points)."""
    state.membership = subscription
    outcome = Outcome(effects=[Effect("membership.changed", at, subscription.described())])
    outcome.extend(advance(program, state, at))
    return outcome


def _lots_up_to(state: MemberState, to: datetime) -> list[Transaction]:
    """Releases, then expiries, of every lot due by `to`, in time order (releases first);
    credit is released too, and never expires."""
    changes = [*state.wallet.release(to), *state.credit.release(to), *state.wallet.expire(to)]
    return sorted(changes, key=lambda transaction: transaction.occurred_at)


def next_birthday(program: Program, state: MemberState) -> datetime | None:
    """When the scheduler next grants this member's birthday rule, if the program has one."""
    if state.birthday is None or "birthday" not in program.earns_on:
        return None
    zone = program.zone
    year = state.enrolled_at.astimezone(zone).year
    if state.last_birthday_year is not None:
        year = max(year, state.last_birthday_year + 1)
    while True:
        instant = local_midnight(_birthday_in(state.birthday, year), zone)
        if instant >= state.enrolled_at:
            return instant
        year += 1


def next_reminder(program: Program, state: MemberState) -> datetime | None:
    """When members are next told that some of their points are about to expire."""
    ahead = _reminder_lead(program)
    if ahead is None:
        return None
    upcoming = [
        lot.expires_at
        for lot in state.wallet.lots
        if lot.expires_at
        and (state.reminded_until is None or lot.expires_at > state.reminded_until)
    ]
    return min(upcoming) - ahead if upcoming else None


def _remind(program: Program, state: MemberState, now: datetime) -> list[Effect]:
    ahead = _reminder_lead(program)
    if ahead is None:
        return []
    expiring: dict[datetime, int] = {}
    for lot in state.wallet.lots:
        expires = lot.expires_at
        if expires is None or expires <= now or expires - ahead > now:
            continue
        if state.reminded_until is None or expires > state.reminded_until:
            expiring[expires] = expiring.get(expires, 0) + lot.remaining
    if not expiring:
        return []
    state.reminded_until = max(expiring)
    points = sum(expiring.values())
    data = {"points": points, "expires_at": min(expiring).isoformat()}
    return [Effect("points.expiring", now, data)]


def _reminder_lead(program: Program) -> timedelta | None:
    return program.expiry.reminder_lead if program.expiry is not None else None


def _grant_activity(
    program: Program,
    state: MemberState,
    name: str,
    at: datetime,
    spent: dict[str, int] | None = None,
    extra: Sequence[Grant] = (),
    hold_all: bool = False,
) -> Outcome:
    campaigns = _campaigns(program, state, name, at, spent)
    grants = activity_grants(program, name, _uses(program, state, name, at), campaigns, spent)
    return _grant(program, state, [*grants, *extra], at, hold_all)


def _grant(
    program: Program,
    state: MemberState,
    grants: list[Grant],
    at: datetime,
    hold_all: bool,
    *,
    wait: bool = True,
) -> Outcome:
    outcome = Outcome()
    outcome.add(_earn(program, state, grants, at, hold_all=hold_all, wait=wait))
    outcome.effects.extend(_upgrade(program, state, at))
    return outcome


VELOCITY_WINDOW = timedelta(minutes=1)


def counted_since(program: Program, at: datetime) -> datetime | None:
    """How far back a member's events matter (challenges, velocity) for events from `at`."""
    if not program.counts_events:
        return None
    starts = [challenges.since(program, at)]
    if program.caps and program.caps.events_per_member_per_minute:
        starts.append(at - VELOCITY_WINDOW)
    return min((start for start in starts if start is not None), default=None)


def _count_event(program: Program, state: MemberState, kind: str, at: datetime) -> list[datetime]:
    """Record an event of `kind` where challenges or velocity count them: its kind's times."""
    if not program.counts_events:
        return []
    times = state.event_times.setdefault(kind, [])
    times.append(at)
    return times


def _too_fast(program: Program, times: Sequence[datetime], at: datetime) -> bool:
    """More events of this kind in the minute up to `at` than `events_per_member_per_minute`."""
    limit = program.caps.events_per_member_per_minute if program.caps else None
    if limit is None:
        return False
    return sum(1 for t in times if at - VELOCITY_WINDOW < t <= at) > limit


def _challenges(
    program: Program,
    state: MemberState,
    kind: str,
    at: datetime,
    times: Sequence[datetime],
    outcome: Outcome,
) -> list[Grant]:
    """The points of the challenges an event of `kind` completes; the badges it awards go
    to `outcome` (to store) with a `badge.awarded` effect."""
    if not program.challenges:
        return []
    grants = []
    for challenge, badge in completed(program, kind, at, times, state.badges):
        if challenge.points:
            grants.append(Grant(challenge.id, challenge.points))
        if badge is not None:
            outcome.badges.append((badge, challenge.id, at))
            outcome.effects.append(
                Effect("badge.awarded", at, {"badge": badge, "challenge": challenge.id})
            )
    return grants


def _earn(
    program: Program,
    state: MemberState,
    grants: Sequence[Grant],
    at: datetime,
    *,
    order_ref: str | None = None,
    hold_all: bool = False,
    wait: bool = True,
) -> Transaction | None:
    """Issue the grants; those above the daily cap, or all of them (`hold_all`: too many
    events a minute), to held lots; with `wait`, pending for `pending_days`."""
    expires_at = lot_expiry(program, state, at)
    pending_until = _pending_until(program, at) if wait else None
    kept, held = ([], list(grants)) if hold_all else capped(program, grants, state.granted, at)
    transaction = state.wallet.earn(
        kept, at, expires_at=expires_at, pending_until=pending_until, order_ref=order_ref, held=held
    )
    if program.caps is not None and program.caps.points_per_member_per_day is not None:
        state.granted.append((at, sum(grant.points for grant in kept)))
    limited = program.limited_rule_ids
    for grant in grants:
        if grant.rule_id in limited:
            state.grant_times.setdefault(grant.rule_id, []).append(at)
    if transaction and program.tiers and program.tiers.metric == "points_earned":
        state.qualifying.append((at, transaction.issued()))
    return transaction


def _pending_until(program: Program, earned_at: datetime) -> datetime | None:
    """When what a purchase earns becomes spendable: after the return window (`pending_days`)."""
    return earned_at + timedelta(days=program.pending_days) if program.pending_days else None


def lot_expiry(program: Program, state: MemberState, earned_at: datetime) -> datetime | None:
    """When points earned at `earned_at` expire: `days` later under a rolling policy; under
    an inactivity policy, with the rest of the balance, `days` after the last purchase.

    Points a lapsed member earns without buying (a review long after their last
    purchase, when the rest already expired) expire `days` after they were earned.
    """
    expiry = program.expiry
    if expiry is None:
        return None
    rolling = earned_at + expiry.lifetime
    if expiry.policy == "inactivity":
        deadline = inactive_from(program, state)
        assert deadline is not None
        return deadline if deadline > earned_at else rolling
    return rolling


def inactive_from(program: Program, state: MemberState) -> datetime | None:
    """When the whole balance expires if the member buys nothing before: `days` after their
    last purchase (after enrolling, if they never bought); None without that policy."""
    expiry = program.expiry
    if expiry is None or expiry.policy != "inactivity":
        return None
    return (state.last_purchase_at or state.enrolled_at) + expiry.lifetime


def _keep_alive(program: Program, state: MemberState, at: datetime) -> list[Lot]:
    """A purchase at `at`: under an inactivity policy, every open lot now expires `days`
    after it (or after a later purchase already recorded); the lots whose expiry moved."""
    if state.last_purchase_at is None or at > state.last_purchase_at:
        state.last_purchase_at = at
    until = inactive_from(program, state)
    if until is None:
        return []
    moved = [
        lot
        for lot in state.wallet.lots
        if not lot.held and (lot.expires_at is None or lot.expires_at < until)
    ]
    for lot in moved:
        lot.expires_at = until
    return moved


def _uses(program: Program, state: MemberState, when: str, at: datetime) -> dict[str, int]:
    """How often each limited rule for `when` granted in its current period."""
    return {
        rule.id: uses_in_period(rule, state.grant_times.get(rule.id, []), at, program.zone)
        for rule in program.limited_rules
        if rule.when == when
    }


def _campaigns(
    program: Program, state: MemberState, when: str, at: datetime, spent: dict[str, int] | None
) -> list[Campaign]:
    if spent is None:
        return []
    segments = {state.segment, *state.rule_segments}
    return running_campaigns(program, when, at, segments, state.pilots)


def _multiplier(program: Program, state: MemberState) -> Decimal:
    """The tier's multiplier times the running membership's (campaigns add theirs after)."""
    factor = Decimal(1)
    if program.tiers is not None and state.tier is not None:
        factor *= program.tiers.level(state.tier).earn_multiplier
    if (plan := memberships.running_plan(program, state.membership)) is not None:
        factor *= plan.earn_multiplier
    return factor


def _upgrade(program: Program, state: MemberState, at: datetime) -> list[Effect]:
    tiers = program.tiers
    if tiers is None or state.tier is None:
        return []
    reached = level_for(program, metric(state.qualifying, at, tiers.window_days))
    if tiers.rank(reached.id) <= tiers.rank(state.tier):
        return []
    return [_change_tier(program, state, reached.id, at)]


def _review(program: Program, state: MemberState, at: datetime) -> list[Effect]:
    tiers = program.tiers
    assert tiers is not None
    assert state.tier is not None
    reached = level_for(program, metric(state.qualifying, at, tiers.window_days))
    effects = []
    if tiers.downgrade == "at_review" and tiers.rank(reached.id) < tiers.rank(state.tier):
        effects.append(_change_tier(program, state, reached.id, at))
    else:
        state.tier_review_at = at + timedelta(days=tiers.window_days)
    state.qualifying = [
        (t, v) for t, v in state.qualifying if t > at - timedelta(days=tiers.window_days)
    ]
    return effects


def _change_tier(program: Program, state: MemberState, tier: str, at: datetime) -> Effect:
    """Move a member to `tier`; above the first level, the next review is a window away."""
    tiers = program.tiers
    assert tiers is not None
    before = state.tier
    state.tier = tier
    state.tier_since = at
    above_first = tiers.rank(tier) > 0
    state.tier_review_at = at + timedelta(days=tiers.window_days) if above_first else None
    return Effect("tier.changed", at, {"from": before, "to": tier})


def _align_tier(program: Program, state: MemberState, at: datetime) -> list[Effect]:
    """Fit a member's tier to a program version that added, renamed or removed tiers."""
    tiers = program.tiers
    if tiers is None:
        if state.tier is None:
            return []
        before, state.tier, state.tier_since, state.tier_review_at = state.tier, None, at, None
        return [Effect("tier.changed", at, {"from": before, "to": None})]
    if state.tier in tiers.ranks:
        return []
    reached = level_for(program, metric(state.qualifying, at, tiers.window_days))
    return [_change_tier(program, state, reached.id, at)]


def _birthday_in(birthday: date, year: int) -> date:
    try:
        return birthday.replace(year=year)
    except ValueError:  # 29 February in a common year
        return date(year, 2, 28)


def _share(line: OrderLine, quantity: int, currency: str) -> int:
    """Minor units of `quantity` of a line's units, rounded so that all units give the line."""
    quantum = Decimal(1).scaleb(-exponent(currency))
    share = (line.amount * quantity / line.quantity).quantize(quantum, rounding=ROUND_HALF_UP)
    return to_minor(share, currency)
