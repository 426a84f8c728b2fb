"""Members: their stored state, loaded in bulk for the rules and locked while they change."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    Dialect,
    Row,
    Select,
    and_,
    bindparam,
    case,
    func,
    insert,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.engine import Connection

from fidela.domain import members as member_rules
from fidela.domain.cards import Card, CardVoucher
from fidela.domain.ids import CustomerId, MemberId, ProgramId
from fidela.domain.ledger import CREDIT, Account, Kind, Wallet
from fidela.domain.members import MemberState
from fidela.domain.memberships import Subscription
from fidela.domain.program import Program
from fidela.domain.referrals import Referral
from fidela.domain.rules import period_start
from fidela.store.batches import BatchWriter, among
from fidela.store.customers import NAMED
from fidela.store.ledger import LOT_FIELDS, lot_from_row
from fidela.store.programs import CURRENT_VERSION
from fidela.store.reads import Query, Read, any_of, read_one, read_together
from fidela.store.referrals import ReferralRepository
from fidela.store.tables import (
    customers,
    events,
    line_of_transaction,
    lines,
    lots,
    member_badges,
    member_rule_segments,
    member_segments,
    members,
    membership_payments,
    orders,
    pilot_groups,
    program_versions,
    programs,
    redemptions,
    transactions,
)

# What the ledger's lines also say of a member, cached on their row: points, then credit.
CACHED_BALANCES = (
    members.c.available,
    members.c.pending,
    members.c.held,
    members.c.debt,
    members.c.credit,
    members.c.credit_pending,
    members.c.credit_debt,
)


# A till's read (`till`), built once: the member's cached state, their next expiry and
# the program's current version, in one statement.
def _available_lots(of: Any) -> ColumnElement[bool]:
    """The outer query's member's lots (`of`: lots or an alias) with available points left."""
    return and_(of.c.member_id == members.c.id, of.c.remaining > 0, of.c.pending_until.is_(None))


_soon = lots.alias("soon")
_SOONEST = (
    select(func.min(_soon.c.expires_at))
    .where(_available_lots(_soon))
    .correlate(members)
    .scalar_subquery()
)
_EXPIRING = (
    select(func.sum(lots.c.remaining))
    .where(_available_lots(lots), lots.c.expires_at == _SOONEST)
    .correlate(members)
    .scalar_subquery()
)


def _till(found: ColumnElement[bool]) -> Select[Any]:
    return (
        select(
            *CURRENT_VERSION,
            members.c.id.label("member_id"),
            *CACHED_BALANCES,
            members.c.tier,
            members.c.membership,
            members.c.membership_status,
            _SOONEST.label("expires_at"),
            _EXPIRING.label("expiring"),
        )
        .select_from(
            members.join(customers, customers.c.id == members.c.customer_id)
            .join(programs, programs.c.id == members.c.program_id)
            .join(
                program_versions,
                and_(
                    program_versions.c.program_id == programs.c.id,
                    program_versions.c.version == programs.c.version,
                ),
            )
        )
        .where(members.c.program_id == bindparam("program_id"), found)
    )


_TILL_BY_ID = Query(lambda _: _till(members.c.id == bindparam("member_id")))
_TILL_BY_REF = Query(lambda _: _till(NAMED))


def _one_or_none(rows: list[Row[Any]]) -> Row[Any] | None:
    return rows[0] if rows else None


# A member's state, every query built once: `StatesRead` holds those the program needs,
# for the members named (`ids`), to send together.
GRANTED = (Account.AVAILABLE.value, Account.PENDING.value, Account.DEBT.value)  # daily cap


_MEMBERS = Query(lambda d: select(members).where(any_of(members.c.id, "ids", d)))
_LOCKED = Query(  # in id order: two lockers never deadlock
    lambda d: (
        select(members)
        .where(any_of(members.c.id, "ids", d))
        .order_by(members.c.id)
        .with_for_update()
    ),
)
_OPEN_LOTS = Query(
    lambda d: (
        select(*LOT_FIELDS, lots.c.member_id)
        .where(any_of(lots.c.member_id, "ids", d), lots.c.remaining > 0)
        .order_by(lots.c.lot_no)
    ),
)


def _unused_vouchers(dialect: Dialect) -> Select[Any]:
    return (
        select(redemptions)
        .where(
            any_of(redemptions.c.member_id, "ids", dialect),
            redemptions.c.source == "punch_card",
            redemptions.c.status == "issued",
        )
        .order_by(redemptions.c.id)
    )


_VOUCHERS = Query(_unused_vouchers)
_VOUCHERS_LOCKED = Query(lambda d: _unused_vouchers(d).with_for_update())


def _spend(dialect: Dialect) -> Select[Any]:
    """What the members spent after `since`: each order's amount less what was refunded."""
    return select(
        orders.c.member_id,
        orders.c.occurred_at,
        (orders.c.amount_minor - orders.c.refunded_minor).label("amount"),
    ).where(any_of(orders.c.member_id, "ids", dialect), orders.c.occurred_at > bindparam("since"))


def _earned_net(dialect: Dialect) -> CompoundSelect[Any]:
    """The points the members earned after `since`, and less those reversed."""
    return union_all(
        select(lines.c.member_id, transactions.c.occurred_at, (-lines.c.amount).label("amount"))
        .join(transactions, line_of_transaction())
        .where(
            any_of(lines.c.member_id, "ids", dialect),
            lines.c.account == Account.ISSUED.value,
            transactions.c.occurred_at > bindparam("since"),
        ),
        select(
            orders.c.member_id, orders.c.occurred_at, (-orders.c.reversed_points).label("amount")
        ).where(
            any_of(orders.c.member_id, "ids", dialect),
            orders.c.occurred_at > bindparam("since"),
            orders.c.reversed_points > 0,
        ),
    )


def _contributions(metric: Callable[[Dialect], Select[Any] | CompoundSelect[Any]]) -> Query:
    """What counts toward the members' tiers, as (member, instant, amount) rows: those
    after `stable_after` and up to `merged_at` summed as one at `merged_at`."""

    def build(dialect: Dialect) -> Select[Any]:
        one = metric(dialect).subquery()
        merged_at = bindparam("merged_at", type_=one.c.occurred_at.type)
        stable = and_(one.c.occurred_at > bindparam("stable_after"), one.c.occurred_at <= merged_at)
        at = case((stable, merged_at), else_=one.c.occurred_at)
        return select(one.c.member_id, at, func.sum(one.c.amount)).group_by(one.c.member_id, at)

    return Query(build)


_SPEND, _EARNED_NET = _contributions(_spend), _contributions(_earned_net)
_SEGMENTS = Query(
    lambda d: select(member_segments.c.member_id, member_segments.c.segment).where(
        any_of(member_segments.c.member_id, "ids", d), member_segments.c.until.is_(None)
    ),
)
_RULE_SEGMENTS = Query(
    lambda d: select(member_rule_segments.c.member_id, member_rule_segments.c.segment).where(
        any_of(member_rule_segments.c.member_id, "ids", d),
        member_rule_segments.c.until.is_(None),
    ),
)
_PILOTS = Query(
    lambda d: (
        select(members.c.id, pilot_groups.c.pilot)
        .join(pilot_groups, pilot_groups.c.customer_id == members.c.customer_id)
        .where(
            any_of(members.c.id, "ids", d),
            pilot_groups.c.program_id == bindparam("program_id"),
            any_of(pilot_groups.c.pilot, "pilots", d),
            pilot_groups.c.in_pilot,
        )
    ),
)
_RECENT_EVENTS = Query(
    lambda d: (
        select(events.c.member_id, events.c.type, events.c.occurred_at)
        .where(any_of(events.c.member_id, "ids", d), events.c.occurred_at >= bindparam("since"))
        .order_by(events.c.occurred_at)
    ),
)
_BADGES = Query(
    lambda d: select(member_badges.c.member_id, member_badges.c.badge).where(
        any_of(member_badges.c.member_id, "ids", d)
    ),
)
_GRANTED = Query(  # what the rules granted (not held) since the day began, per transaction
    lambda d: (
        select(lines.c.member_id, transactions.c.occurred_at, func.sum(lines.c.amount))
        .join(transactions, line_of_transaction())
        .where(
            any_of(lines.c.member_id, "ids", d),
            transactions.c.kind == Kind.EARN.value,
            transactions.c.occurred_at >= bindparam("since"),
            any_of(lines.c.account, "accounts", d),
        )
        .group_by(lines.c.member_id, transactions.c.seq, transactions.c.occurred_at)
    ),
)
_LIMITED_GRANTS = Query(
    lambda d: (
        select(lines.c.member_id, lines.c.rule_id, transactions.c.occurred_at)
        .join(transactions, line_of_transaction())
        .where(
            any_of(lines.c.member_id, "ids", d),
            lines.c.account == Account.ISSUED.value,
            any_of(lines.c.rule_id, "rules", d),
        )
    ),
)


def _states(rows: list[Row[Any]]) -> dict[MemberId, MemberState]:
    """The members' states as their rows hold them, before lots and the rest are added."""
    return {
        MemberId(row.id): MemberState(
            member_id=MemberId(row.id),
            enrolled_at=row.enrolled_at,
            birthday=row.birthday,
            wallet=Wallet(debt=-row.debt),
            credit=Wallet(debt=-row.credit_debt, book=CREDIT),
            tier=row.tier,
            tier_since=row.tier_since,
            tier_review_at=row.tier_review_at,
            purchase_count=row.purchase_count,
            last_purchase_at=row.last_purchase_at,
            last_birthday_year=row.last_birthday_year,
            reminded_until=row.reminded_until,
            cards={card: Card(*held) for card, held in (row.cards or {}).items()},
            membership=_subscription(row),
        )
        for row in rows
    }


class StatesRead:
    """The reads of some members' states, every query the program needs: `reads` are
    sent together (`read_together`), then `states()` makes the states of their answers."""

    def __init__(
        self,
        connection: Connection,
        program: Program,
        member_ids: Sequence[MemberId],
        at: datetime,
        *,
        lock: bool,
        until: datetime | None,
        meeting: Collection[str] | None,
    ) -> None:
        self.connection = connection
        self.program = program
        self.at = at
        self.until = until
        self.ids = ids = sorted(member_ids) if lock else list(member_ids)
        self.found = Read(_LOCKED if lock else _MEMBERS, _states, ids=ids)
        self.open_lots = Read(_OPEN_LOTS, list, ids=ids)
        # What the program needs besides: None for what it does not.
        self.vouchers: Read[list[Any]] | None = None
        self.referred: Read[dict[MemberId, Referral]] | None = None
        self.spent: Read[list[Any]] | None = None
        self.segments: Read[list[Any]] | None = None
        self.held: Read[list[Any]] | None = None
        self.pilots: Read[dict[MemberId, set[str]]] | None = None
        self.recent: Read[list[Any]] | None = None
        self.badges: Read[list[Any]] | None = None
        self.granted: Read[list[Any]] | None = None
        self.grants: Read[list[Any]] | None = None
        if program.punch_cards:
            # Locked too: a till consuming one waits, so a refund never takes back a used one.
            self.vouchers = Read(_VOUCHERS_LOCKED if lock else _VOUCHERS, list, ids=ids)
        if program.referral is not None:
            self.referred = ReferralRepository(connection).undecided_read(ids)
        if program.tiers is not None:  # since the window's start: no review overdue, or soon
            self.spent = _qualifying_read(program, ids, at, until)
        if any(campaign.segment for campaign in program.campaigns):
            self.segments = Read(_SEGMENTS, list, ids=ids)
        if program.targets_rule_segments:
            self.held = Read(_RULE_SEGMENTS, list, ids=ids)
        if program.targets_pilots:
            self.pilots = _pilots_read(program, ids)
        if (counted_from := member_rules.counted_since(program, at)) is not None:
            self.recent = Read(_RECENT_EVENTS, list, ids=ids, since=counted_from)
            self.badges = Read(_BADGES, list, ids=ids)
        if program.caps is not None and program.caps.points_per_member_per_day is not None:
            since = period_start("day", at, program.zone)
            self.granted = Read(_GRANTED, list, ids=ids, since=since, accounts=list(GRANTED))
        limited = [
            rule.id
            for rule in program.limited_rules
            if meeting is None or rule.when in meeting  # the rules of no other event count
        ]
        if limited:
            self.grants = Read(_LIMITED_GRANTS, list, ids=ids, rules=limited)

    @property
    def reads(self) -> list[Read[Any]]:
        """The queries to send, the members' own first: with `lock`, it locks them."""
        optional = [
            self.vouchers,
            self.referred,
            self.spent,
            self.segments,
            self.held,
            self.pilots,
            self.recent,
            self.badges,
            self.granted,
            self.grants,
        ]
        return [self.found, self.open_lots, *(read for read in optional if read is not None)]

    def states(self) -> dict[MemberId, MemberState]:
        """The members' states, once `reads` were read; once only, as it fills the
        states the members' query made."""
        states: dict[MemberId, MemberState] = self.found.value
        for lot in self.open_lots.value:
            state = states[MemberId(lot.member_id)]
            wallet = state.credit if lot.unit == CREDIT.unit else state.wallet
            wallet.lots.append(lot_from_row(lot))
        if self.vouchers is not None:
            for issued in self.vouchers.value:
                voucher = CardVoucher(
                    issued.reward_id, issued.voucher_code, issued.created_at, issued.voucher
                )
                states[MemberId(issued.member_id)].card_vouchers.append(voucher)
        if self.referred is not None:
            for member_id, referral in self.referred.value.items():
                states[member_id].referral = referral
        if self.spent is not None:
            for member_id, t, amount in self._qualifying(states, self.spent):
                states[MemberId(member_id)].qualifying.append((t, int(amount)))
        if self.segments is not None:
            for member_id, segment in self.segments.value:
                states[MemberId(member_id)].segment = segment
        if self.held is not None:
            for member_id, segment in self.held.value:
                states[MemberId(member_id)].rule_segments.add(segment)
        if self.pilots is not None:
            for member_id, in_pilots in self.pilots.value.items():
                states[member_id].pilots = in_pilots
        if self.recent is not None and self.badges is not None:
            for member_id, kind, t in self.recent.value:
                states[MemberId(member_id)].event_times.setdefault(kind, []).append(t)
            for member_id, badge in self.badges.value:
                states[MemberId(member_id)].badges.add(badge)
        if self.granted is not None:
            for member_id, t, points in self.granted.value:
                states[MemberId(member_id)].granted.append((t, int(points)))
        if self.grants is not None:
            for member_id, rule_id, t in self.grants.value:
                states[MemberId(member_id)].grant_times.setdefault(rule_id, []).append(t)
        return states

    def _qualifying(self, states: dict[MemberId, MemberState], read: Read[list[Any]]) -> list[Any]:
        """What counts toward the members' tiers since the window's start, or since the
        window before an overdue review: read again from then in that rare case."""
        reviews = [s.tier_review_at for s in states.values() if s.tier_review_at]
        first = min([self.at, *reviews])
        if first >= self.at:
            return read.value
        return read_one(
            self.connection, _qualifying_read(self.program, self.ids, first, self.until)
        )


def _qualifying_read(
    program: Program, ids: list[MemberId], first: datetime, until: datetime | None
) -> Read[list[Any]]:
    """What counts toward the members' tiers, for rules that look at instants from
    `first` to `until`: spend, or points earned less points reversed, in the window
    before `first` and since, as (member, instant, amount) rows.

    What stays in the window all that while is summed as one row per member, dated at
    `first`: the same value at every one of those instants, in one row where a member
    buying daily had a row per order (`until` None: nothing is summed).
    """
    assert program.tiers is not None
    query = _SPEND if program.tiers.metric == "spend" else _EARNED_NET
    window = timedelta(days=program.tiers.window_days)
    since = first - window
    if until is None or until - window >= first:  # no row is after `since` and up to it
        return Read(query, list, ids=ids, since=since, stable_after=since, merged_at=since)
    return Read(query, list, ids=ids, since=since, stable_after=until - window, merged_at=first)


def _pilots_read(
    program: Program, member_ids: Sequence[MemberId]
) -> Read[dict[MemberId, set[str]]]:
    names = sorted({campaign.pilot for campaign in program.campaigns if campaign.pilot})

    def meaning(rows: list[Row[Any]]) -> dict[MemberId, set[str]]:
        found: dict[MemberId, set[str]] = {}
        for row in rows:
            found.setdefault(MemberId(row.id), set()).add(row.pilot)
        return found

    return Read(_PILOTS, meaning, ids=list(member_ids), program_id=program.program, pilots=names)


class MemberRepository:
    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def add(
        self,
        program_id: ProgramId,
        customer_id: CustomerId,
        *,
        enrolled_at: datetime,
        name: str | None = None,
        birthday: date | None = None,
        referral_code: str | None = None,
    ) -> MemberId:
        new = _new_member(program_id, customer_id, enrolled_at, name, birthday)
        result = self.connection.execute(
            insert(members).values(new | {"referral_code": referral_code}).returning(members.c.id)
        )
        return MemberId(result.scalar_one())

    def add_many(
        self, program_id: ProgramId, enrolled: dict[CustomerId, datetime]
    ) -> dict[CustomerId, MemberId]:
        """Enroll customers at the given instants; return the new members' ids."""
        if not enrolled:
            return {}
        write = BatchWriter(self.connection)
        # The same row as `add`, with the instant as the writer stores it.
        new = [_new_member(program_id, c, write.time(at), None, None) for c, at in enrolled.items()]
        rows = write.insert_returning(
            members,
            list(new[0]),
            [tuple(member.values()) for member in new],
            returning=("customer_id", "id"),
        )
        return {CustomerId(row.customer_id): MemberId(row.id) for row in rows}

    def set_profile(self, member_id: MemberId, profile: dict[str, Any]) -> None:
        """Set the member's `name` and/or `birthday`, as given."""
        self.connection.execute(update(members).where(members.c.id == member_id).values(profile))

    def ids_of_customers(self, customer_ids: Sequence[CustomerId]) -> dict[CustomerId, MemberId]:
        rows = self.connection.execute(
            select(members.c.customer_id, members.c.id).where(
                among(self.connection, members.c.customer_id, customer_ids)
            )
        )
        return {CustomerId(row.customer_id): MemberId(row.id) for row in rows}

    def get(self, program_id: ProgramId, member_id: MemberId) -> Row[Any] | None:
        return self.connection.execute(
            select(members, customers.c.external_id, customers.c.email)
            .join(customers, customers.c.id == members.c.customer_id)
            .where(members.c.program_id == program_id, members.c.id == member_id)
        ).one_or_none()

    def due(
        self, program_id: ProgramId, now: datetime, *, after: int, limit: int
    ) -> list[MemberId]:
        """Members after id `after` with something due by `now`, locked; others skip them."""
        rows = self.connection.execute(
            select(members.c.id)
            .where(
                members.c.program_id == program_id,
                members.c.due_at <= now,
                members.c.id > after,
            )
            .order_by(members.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return [MemberId(member_id) for member_id in rows.scalars()]

    def pilots(self, program: Program, member_ids: Sequence[MemberId]) -> dict[MemberId, set[str]]:
        """The pilots of the program's campaigns that put each member's customer in their
        pilot group (not in control)."""
        return read_one(self.connection, _pilots_read(program, member_ids))

    def load_states(
        self,
        program: Program,
        member_ids: Sequence[MemberId],
        at: datetime,
        *,
        lock: bool,
        until: datetime | None = None,
        meeting: Collection[str] | None = None,
    ) -> dict[MemberId, MemberState]:
        """The state the rules need for each member, from `at` on (`states_read`), read
        at once: one round trip on PostgreSQL, where the ids go as one array (as one JSON
        list on SQLite)."""
        wanted = self.states_read(program, member_ids, at, lock=lock, until=until, meeting=meeting)
        read_together(self.connection, wanted.reads)
        return wanted.states()

    def states_read(
        self,
        program: Program,
        member_ids: Sequence[MemberId],
        at: datetime,
        *,
        lock: bool,
        until: datetime | None = None,
        meeting: Collection[str] | None = None,
    ) -> StatesRead:
        """The queries of the members' states, to be sent together, with others or alone.

        `until`, if known, is the last instant the rules will reach with these states:
        what counts toward a tier is then read summed where it can be
        (`_qualifying_read`). `meeting`, if known, are the events whose rules may grant
        to these states (`member_rules.reached_by`): the grants of the limited rules of
        other events are not read.
        With `lock`, the members are held until commit, taken in id order so that two
        lockers never deadlock, by the query that reads them: sent first, so that the
        others read once they are held.
        """
        return StatesRead(
            self.connection, program, member_ids, at, lock=lock, until=until, meeting=meeting
        )

    def make_due(self, program_id: ProgramId, at: datetime) -> None:
        """Have `run-due` visit every member of the program from `at` on."""
        self.connection.execute(
            update(members)
            .where(
                members.c.program_id == program_id,
                or_(members.c.due_at.is_(None), members.c.due_at > at),
            )
            .values(due_at=at)
        )

    def page(
        self, program_id: ProgramId, *, after: int, limit: int, tier: str | None
    ) -> list[Row[Any]]:
        """Members after id `after`, in id order (a keyset page), with their shop identity."""
        query = (
            select(
                members.c.id,
                customers.c.external_id,
                customers.c.email,
                members.c.name,
                members.c.tier,
                members.c.available,
                members.c.pending,
                members.c.enrolled_at,
            )
            .join(customers, customers.c.id == members.c.customer_id)
            .where(members.c.program_id == program_id, members.c.id > after)
            .order_by(members.c.id)
            .limit(limit)
        )
        if tier is not None:
            query = query.where(members.c.tier == tier)
        return list(self.connection.execute(query))

    def leaders(
        self, program_id: ProgramId, since: datetime, until: datetime, limit: int
    ) -> list[Row[Any]]:
        """The opted-in members who earned the most points from `since` to `until`: their
        leaderboard name and points (issued to them by earnings, less reversals)."""
        earned = -func.sum(lines.c.amount)  # issued lines are negative, reversals positive
        return list(
            self.connection.execute(
                select(members.c.id, members.c.leaderboard_name, earned.label("points"))
                .join(transactions, transactions.c.member_id == members.c.id)
                .join(lines, line_of_transaction())
                .where(
                    members.c.program_id == program_id,
                    members.c.leaderboard_name.is_not(None),
                    transactions.c.occurred_at >= since,
                    transactions.c.occurred_at <= until,
                    lines.c.account.in_([Account.ISSUED.value, Account.REVERSED.value]),
                )
                .group_by(members.c.id, members.c.leaderboard_name)
                .having(earned > 0)
                .order_by(earned.desc(), members.c.id)
                .limit(limit)
            )
        )

    def add_membership_payment(
        self,
        program_id: ProgramId,
        member_id: MemberId,
        *,
        membership: str,
        amount_minor: int,
        currency: str,
        reference: str | None,
        paid_at: datetime,
        period: tuple[datetime, datetime],
    ) -> int:
        result = self.connection.execute(
            insert(membership_payments)
            .values(
                program_id=program_id,
                member_id=member_id,
                membership=membership,
                amount_minor=amount_minor,
                currency=currency,
                reference=reference,
                paid_at=paid_at,
                period_start=period[0],
                period_end=period[1],
            )
            .returning(membership_payments.c.id)
        )
        return int(result.scalar_one())

    def membership_payments(self, member_id: MemberId) -> list[Row[Any]]:
        return list(
            self.connection.execute(
                select(membership_payments)
                .where(membership_payments.c.member_id == member_id)
                .order_by(membership_payments.c.id)
            )
        )

    def richest(self, program_id: ProgramId, count: int) -> list[MemberId]:
        """The members with the most available points, for the demo's report."""
        rows = self.connection.execute(
            select(members.c.id)
            .where(members.c.program_id == program_id)
            .order_by(members.c.available.desc(), members.c.id)
            .limit(count)
        )
        return [MemberId(member_id) for member_id in rows.scalars()]

    def balances(self, program_id: ProgramId) -> list[Row[Any]]:
        """Every member's cached balances (CACHED_BALANCES), with their id."""
        return list(
            self.connection.execute(
                select(members.c.id, *CACHED_BALANCES)
                .where(members.c.program_id == program_id)
                .order_by(members.c.id)
            )
        )

    def till(
        self,
        program_id: ProgramId,
        *,
        member_id: MemberId | None = None,
        external_id: str | None = None,
        email: str | None = None,
    ) -> Row[Any] | None:
        """What a till shows of a member, found by member id, else by shop id or e-mail:
        their balances, tier and membership, their next expiry (`expires_at`, `expiring`:
        the soonest instant available points expire, and how many), and the program's
        current version (for ProgramRepository.stored); None if there is no such member."""
        if member_id is not None:
            found = Read(_TILL_BY_ID, _one_or_none, program_id=program_id, member_id=member_id)
        else:
            found = Read(
                _TILL_BY_REF,
                _one_or_none,
                program_id=program_id,
                external_id=external_id,
                email=email,
            )
        return read_one(self.connection, found)

    def open_lots(self, member_id: MemberId) -> list[Row[Any]]:
        return list(
            self.connection.execute(
                select(lots)
                .where(lots.c.member_id == member_id, lots.c.remaining > 0)
                .order_by(lots.c.expires_at, lots.c.lot_no)
            )
        )

    def lots_page(
        self, member_id: MemberId, *, after: int, limit: int, open_only: bool
    ) -> list[Row[Any]]:
        """The member's lots in the order they were earned, from lot number `after` on."""
        query = select(lots).where(lots.c.member_id == member_id, lots.c.lot_no > after)
        if open_only:
            query = query.where(lots.c.remaining > 0)
        return list(self.connection.execute(query.order_by(lots.c.lot_no).limit(limit)))

    def history(
        self,
        program_id: ProgramId,
        member_id: MemberId,
        *,
        after: int = 0,
        limit: int | None = None,
    ) -> list[Row[Any]]:
        """The member's transactions with their lines and causing event, oldest first.

        With `limit`, only that many transactions after the one numbered `after`.
        """
        page = (
            select(transactions.c.seq)
            .where(
                transactions.c.program_id == program_id,
                transactions.c.member_id == member_id,
                transactions.c.seq > after,
            )
            .order_by(transactions.c.seq)
            .limit(limit)
        )
        return list(
            self.connection.execute(
                select(
                    transactions.c.seq,
                    transactions.c.kind,
                    transactions.c.occurred_at,
                    transactions.c.actor,
                    transactions.c.reason,
                    events.c.type.label("event_type"),
                    events.c.idempotency_key,
                    lines.c.account,
                    lines.c.amount,
                    lines.c.lot_no,
                    lines.c.rule_id,
                )
                .join(lines, line_of_transaction())
                .join(
                    events,
                    and_(
                        events.c.program_id == transactions.c.program_id,
                        events.c.event_no == transactions.c.event_no,
                    ),
                    isouter=True,
                )
                .where(
                    transactions.c.program_id == program_id,
                    transactions.c.member_id == member_id,
                    transactions.c.seq.in_(page.scalar_subquery()),
                )
                .order_by(transactions.c.seq, lines.c.line_no)
            )
        )


def _subscription(row: Row[Any]) -> Subscription | None:
    if row.membership is None:
        return None
    return Subscription(
        row.membership,
        row.membership_status,
        row.membership_started_at,
        row.membership_period_ends_at,
        row.membership_cancelled,
        row.membership_next_grant_at,
    )


def _new_member(
    program_id: ProgramId,
    customer_id: CustomerId,
    enrolled_at: Any,  # a datetime, or its stored form for a batched insert
    name: str | None,
    birthday: date | None,
) -> dict[str, Any]:
    return {
        "program_id": program_id,
        "customer_id": customer_id,
        "name": name,
        "birthday": birthday,
        "enrolled_at": enrolled_at,
        "available": 0,
        "pending": 0,
        "held": 0,
        "debt": 0,
        "purchase_count": 0,
    }
