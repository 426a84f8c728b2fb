"""The ledger: accounts, lots, and the balanced transactions that move points and credit.

Every transaction's lines sum to zero. Member accounts hold what members own
(positive); program accounts are their counterpart (issued is negative, redeemed,
expired and reversed positive). Every line on a member's available, pending or held
account names the lot it changes, so a lot's remaining points always equal the
sum of its lines, and the member's balance the sum of their open lots. Held points
(above the program's daily cap) wait for an admin to release or reject them.
A member's debt (points reversed after they were spent) lives on its own account
and is repaid by the next points the member earns.

Store credit (cashback) is kept the same way in a second book of accounts, in minor
units of the program's currency: its own lots, pending, debt and counterparts. A
transaction moves points or credit, never both, so each book balances on its own.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from itertools import groupby
from typing import NamedTuple

from fidela.domain.errors import InsufficientPoints
from fidela.domain.ids import EventNo, LotNo, MemberId, ProgramId, Seq


class Account(StrEnum):
    AVAILABLE = "member.available"
    PENDING = "member.pending"
    HELD = "member.held"  # above the daily cap, until an admin releases or rejects them
    DEBT = "member.debt"
    ISSUED = "program.issued"
    REDEEMED = "program.redeemed"
    EXPIRED = "program.expired"
    REVERSED = "program.reversed"
    ADJUSTED = "program.adjusted"
    CREDIT = "member.credit"  # store credit (cashback), in minor units of the currency
    CREDIT_PENDING = "member.credit_pending"
    CREDIT_DEBT = "member.credit_debt"
    CREDIT_ISSUED = "program.credit_issued"
    CREDIT_SPENT = "program.credit_spent"
    CREDIT_REVERSED = "program.credit_reversed"
    CREDIT_ADJUSTED = "program.credit_adjusted"


class Book(NamedTuple):
    """The accounts one unit moves through: points, or store credit."""

    unit: str
    available: Account
    pending: Account
    held: Account
    debt: Account
    issued: Account
    redeemed: Account
    expired: Account
    reversed: Account
    adjusted: Account


POINTS = Book(
    "points",
    Account.AVAILABLE,
    Account.PENDING,
    Account.HELD,
    Account.DEBT,
    Account.ISSUED,
    Account.REDEEMED,
    Account.EXPIRED,
    Account.REVERSED,
    Account.ADJUSTED,
)
# Credit never expires and is never held: its book names no accounts of its own for
# those, and its `held` and `expired` slots (aliases of pending and adjusted) are never
# posted to (cashback is earned without `held` grants, and credit lots have no expiry).
CREDIT = Book(
    "credit",
    Account.CREDIT,
    Account.CREDIT_PENDING,
    Account.CREDIT_PENDING,
    Account.CREDIT_DEBT,
    Account.CREDIT_ISSUED,
    Account.CREDIT_SPENT,
    Account.CREDIT_ADJUSTED,
    Account.CREDIT_REVERSED,
    Account.CREDIT_ADJUSTED,
)
BOOKS = {book.unit: book for book in (POINTS, CREDIT)}


# More points than any real balance and far below 2**63, so that sums of them never overflow.
POINTS_MAX = 10**12
SCHEDULER = "scheduler"  # the actor of changes caused by the passing of time


MEMBER_ACCOUNTS = frozenset({Account.AVAILABLE, Account.PENDING, Account.HELD, Account.DEBT})
CREDIT_ACCOUNTS = frozenset({Account.CREDIT, Account.CREDIT_PENDING, Account.CREDIT_DEBT})


class Kind(StrEnum):
    """Why a transaction exists; with its event or admin reason, this is its cause."""

    EARN = "earn"
    RELEASE = "release"
    REDEEM = "redeem"
    CANCEL_REDEMPTION = "cancel_redemption"
    EXPIRE = "expire"
    REVERSE = "reverse"
    ADJUST = "adjust"


@dataclass(eq=False, slots=True)
class Lot:
    """Points (or credit) earned together, spent and expired together; `lot_no` is set
    once stored."""

    points: int
    remaining: int
    earned_at: datetime
    expires_at: datetime | None
    pending_until: datetime | None = None
    rule_id: str | None = None
    order_ref: str | None = None
    lot_no: LotNo | None = None
    held: bool = False  # above the daily cap: neither expires nor is released while held
    unit: str = "points"  # or "credit"

    @property
    def account(self) -> Account:
        book = BOOKS[self.unit]
        if self.held:
            return book.held
        return book.pending if self.pending_until is not None else book.available

    @property
    def spendable(self) -> bool:
        return self.pending_until is None and not self.held

    def spend_order(self) -> tuple[bool, datetime, datetime]:
        """Sort key: soonest expiry first, lots that never expire last, then oldest first."""
        return (self.expires_at is None, self.expires_at or self.earned_at, self.earned_at)


class Line(NamedTuple):
    """One account's share of a transaction; a tuple, as millions are built by an import."""

    account: Account
    amount: int
    lot: Lot | None = None
    rule_id: str | None = None


@dataclass(slots=True)
class Transaction:
    """A balanced movement of points; `event_no` or `actor` and `reason` name its cause."""

    kind: Kind
    occurred_at: datetime
    lines: list[Line]
    reason: str | None = None
    actor: str | None = None
    event_no: EventNo | None = None

    def __post_init__(self) -> None:
        total = sum(line.amount for line in self.lines)
        if total != 0:
            raise AssertionError(f"unbalanced {self.kind} transaction: lines sum to {total}")

    def points(self, account: Account) -> int:
        return sum(line.amount for line in self.lines if line.account == account)

    def issued(self) -> int:
        """What the transaction issued, in its book's unit (points, or minor units of credit)."""
        return -self.points(self.book.issued)

    @property
    def book(self) -> Book:
        """The book the transaction moves: credit if any line is on a credit account."""
        credit = any(line.account.startswith(CREDIT_PREFIXES) for line in self.lines)  # a StrEnum
        return CREDIT if credit else POINTS


CREDIT_PREFIXES = ("member.credit", "program.credit")


class Grant(NamedTuple):
    """Points a rule grants: `rule_id` names the rule, for the member's history."""

    rule_id: str
    points: int


@dataclass(slots=True)
class Wallet:
    """A member's open lots and debt in one book: the only way to change a member's points
    (or credit)."""

    lots: list[Lot] = field(default_factory=list)
    debt: int = 0
    book: Book = POINTS

    @property
    def available(self) -> int:
        return sum(lot.remaining for lot in self.lots if lot.spendable)

    @property
    def pending(self) -> int:
        return sum(lot.remaining for lot in self.lots if lot.pending_until is not None)

    @property
    def held(self) -> int:
        return sum(lot.remaining for lot in self.lots if lot.held)

    def earn(
        self,
        grants: Sequence[Grant],
        at: datetime,
        *,
        expires_at: datetime | None,
        pending_until: datetime | None = None,
        order_ref: str | None = None,
        held: Sequence[Grant] = (),
    ) -> Transaction | None:
        """Issue the grants as new lots, repaying any debt first; `held` grants are issued
        to held lots, which repay nothing until an admin releases them."""
        lines: list[Line] = []
        for grant in grants:
            if grant.points <= 0:
                continue
            lines.append(Line(self.book.issued, -grant.points, rule_id=grant.rule_id))
            lines.extend(
                self._credit(grant.points, at, expires_at, pending_until, grant, order_ref)
            )
        for grant in held:
            if grant.points <= 0:
                continue
            lot = Lot(
                grant.points,
                grant.points,
                at,
                None,
                None,
                grant.rule_id,
                order_ref,
                held=True,
                unit=self.book.unit,
            )
            self.lots.append(lot)
            lines.append(Line(self.book.issued, -grant.points, rule_id=grant.rule_id))
            lines.append(Line(self.book.held, grant.points, lot))
        return Transaction(Kind.EARN, at, lines) if lines else None

    def release_held(
        self,
        lot: Lot,
        at: datetime,
        *,
        expires_at: datetime | None,
        pending_until: datetime | None,
        actor: str,
        reason: str,
    ) -> Transaction:
        """An admin grants held points after all: the lot becomes pending or available."""
        assert lot.held
        assert lot in self.lots
        lot.held, lot.expires_at, lot.pending_until = False, expires_at, pending_until
        lines = [Line(self.book.held, -lot.remaining, lot), Line(lot.account, lot.remaining, lot)]
        lines.extend(self._settle_debt())
        return Transaction(Kind.RELEASE, at, lines, reason=reason, actor=actor)

    def reject_held(self, lot: Lot, at: datetime, *, actor: str, reason: str) -> Transaction:
        """An admin refuses held points: they are reversed, as a refund would."""
        assert lot.held
        assert lot in self.lots
        points = lot.remaining
        lines = [self._take(lot, points), Line(self.book.reversed, points)]
        self._drop_empty()
        return Transaction(Kind.REVERSE, at, lines, reason=reason, actor=actor)

    def adjust(
        self, points: int, at: datetime, *, expires_at: datetime | None, actor: str, reason: str
    ) -> Transaction:
        """Add (positive) or take (negative) points by an admin's decision."""
        if points > 0:
            lines = [Line(self.book.adjusted, -points)]
            lines.extend(self._credit(points, at, expires_at, None, None, None))
        else:
            lines = [*self._spend(-points), Line(self.book.adjusted, -points)]
        return Transaction(Kind.ADJUST, at, lines, reason=reason, actor=actor)

    def forfeit(self, at: datetime, *, actor: str, reason: str) -> Transaction | None:
        """Close the account: every open lot, spendable, pending or held, goes to
        `program.adjusted` by an admin's decision; debt stays owed."""
        lines = [self._take(lot, lot.remaining) for lot in self.lots]
        if not lines:
            return None
        self._drop_empty()
        lines.append(Line(self.book.adjusted, -sum(line.amount for line in lines)))
        return Transaction(Kind.ADJUST, at, lines, reason=reason, actor=actor)

    def redeem(self, points: int, at: datetime, *, reason: str) -> Transaction:
        """Spend `points` from the soonest-expiring lots; never below zero."""
        lines = [*self._spend(points), Line(self.book.redeemed, points)]
        return Transaction(Kind.REDEEM, at, lines, reason=reason)

    def give_back(
        self, spent: Iterable[tuple[Lot, int]], at: datetime, *, reason: str
    ) -> Transaction:
        """Undo a redemption: points return to the lots they came from, or expire with them."""
        lines: list[Line] = []
        total = 0
        for lot, points in spent:
            total += points
            if lot.expires_at is not None and lot.expires_at <= at:
                lines.append(Line(self.book.expired, points))
                continue
            if lot.remaining == 0:
                self.lots.append(lot)
            lot.remaining += points
            lines.append(Line(lot.account, points, lot))
        lines.extend(self._settle_debt())
        lines.insert(0, Line(self.book.redeemed, -total))
        return Transaction(Kind.CANCEL_REDEMPTION, at, lines, reason=reason)

    def reverse(self, points: int, own_lots: Sequence[Lot], at: datetime) -> Transaction | None:
        """Take back `points` an order earned: from its own lots, then other lots, then debt."""
        if points <= 0:
            return None
        lines: list[Line] = []
        left = points
        open_own = [lot for lot in own_lots if lot.remaining > 0 and lot.unit == self.book.unit]
        others = sorted(
            (lot for lot in self.lots if lot.spendable and lot not in open_own),
            key=Lot.spend_order,
        )
        for lot in [*open_own, *others]:
            take = min(left, lot.remaining)
            if take:
                lines.append(self._take(lot, take))
                left -= take
        if left:
            self.debt += left
            lines.append(Line(self.book.debt, -left))
        self._drop_empty()
        return Transaction(Kind.REVERSE, at, [*lines, Line(self.book.reversed, points)])

    def expire(self, at: datetime) -> list[Transaction]:
        """Expire every lot whose expiry is at or before `at`, one transaction per instant."""
        due = [lot for lot in self.lots if lot.expires_at is not None and lot.expires_at <= at]
        if not due:
            return []
        due.sort(key=Lot.spend_order)
        transactions = []
        for instant, lots in groupby(due, key=lambda lot: lot.expires_at):
            assert instant is not None
            lines = [self._take(lot, lot.remaining) for lot in lots]
            expired = -sum(line.amount for line in lines)
            lines.append(Line(self.book.expired, expired))
            reason = "the lots reached their expiry date"
            transactions.append(Transaction(Kind.EXPIRE, instant, lines, reason, SCHEDULER))
        self._drop_empty()
        return transactions

    def release(self, at: datetime) -> list[Transaction]:
        """Make pending lots whose waiting time is over available, one transaction per instant."""
        due = [
            lot for lot in self.lots if lot.pending_until is not None and lot.pending_until <= at
        ]
        if not due:
            return []
        due.sort(key=lambda lot: lot.pending_until or at)
        transactions = []
        for instant, lots in groupby(due, key=lambda lot: lot.pending_until):
            assert instant is not None
            lines = []
            for lot in lots:
                lines.append(Line(self.book.pending, -lot.remaining, lot))
                lot.pending_until = None
                lines.append(Line(self.book.available, lot.remaining, lot))
            lines.extend(self._settle_debt())
            reason = "the waiting time (pending_days) is over"
            transactions.append(Transaction(Kind.RELEASE, instant, lines, reason, SCHEDULER))
        return transactions

    def next_change(self) -> datetime | None:
        """The next instant a lot is released or expires."""
        instants = [lot.expires_at for lot in self.lots if lot.expires_at]
        instants.extend(lot.pending_until for lot in self.lots if lot.pending_until)
        return min(instants, default=None)

    def _credit(
        self,
        points: int,
        at: datetime,
        expires_at: datetime | None,
        pending_until: datetime | None,
        grant: Grant | None,
        order_ref: str | None,
    ) -> list[Line]:
        lines = []
        repaid = min(self.debt, points)
        if repaid:
            self.debt -= repaid
            lines.append(Line(self.book.debt, repaid))
        rest = points - repaid
        if rest:
            rule_id = grant.rule_id if grant else None
            lot = Lot(
                rest, rest, at, expires_at, pending_until, rule_id, order_ref, unit=self.book.unit
            )
            self.lots.append(lot)
            lines.append(Line(lot.account, rest, lot))
        return lines

    def _spend(self, points: int) -> list[Line]:
        if points > self.available:
            raise InsufficientPoints(self.available, points)
        lines = []
        left = points
        for lot in sorted((lot for lot in self.lots if lot.spendable), key=Lot.spend_order):
            if not left:
                break
            take = min(left, lot.remaining)
            lines.append(self._take(lot, take))
            left -= take
        self._drop_empty()
        return lines

    def _settle_debt(self) -> list[Line]:
        """Repay debt from points that just became available, so debt never sits beside them."""
        if not self.debt:
            return []
        repaid = min(self.debt, self.available)
        if not repaid:
            return []
        lines = self._spend(repaid)
        self.debt -= repaid
        return [*lines, Line(self.book.debt, repaid)]

    def _take(self, lot: Lot, points: int) -> Line:
        lot.remaining -= points
        return Line(lot.account, -points, lot)

    def _drop_empty(self) -> None:
        self.lots = [lot for lot in self.lots if lot.remaining > 0]


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
GENESIS = "0" * 64


_MICROSECOND = timedelta(microseconds=1)


@lru_cache(maxsize=1 << 16)  # times repeat: a day's expiries, an import's dates
def micros(at: datetime) -> int:
    """Exact microseconds since the epoch, the form times take inside the hash chain."""
    return (at - EPOCH) // _MICROSECOND


def chain_hash(
    previous: str,
    program_id: ProgramId,
    seq: Seq,
    member_id: MemberId | None,
    kind: str,
    occurred_at: datetime,
    event_no: EventNo | None,
    actor: str | None,
    reason: str | None,
    lines: Iterable[tuple[str, int, LotNo | None, str | None]],
) -> str:
    """The hash of a transaction, chained to the previous one of the same program: of its
    fields and then each line's, joined by "|" (a line's own fields by ","), absent ones
    empty. One f-string a part: it is computed for every transaction written."""
    text = (
        f"{previous}|{program_id}|{seq}|{'' if member_id is None else member_id}|{kind}"
        f"|{micros(occurred_at)}|{'' if event_no is None else event_no}|{actor or ''}"
        f"|{reason or ''}"
    ) + "".join(
        [
            f"|{account},{amount},{'' if lot_no is None else lot_no},{rule_id or ''}"
            for account, amount, lot_no, rule_id in lines
        ]
    )
    return hashlib.sha256(text.encode()).hexdigest()
