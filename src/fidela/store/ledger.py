"""The ledger's storage: the one write path for events, transactions, lots and member state.

`LedgerRepository.post` numbers events, transactions and lots under the program's
ledger head (locked for update), chains each transaction's hash to the previous one,
and writes everything a use case changed in a few batched statements.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import Row, bindparam, func, select
from sqlalchemy.engine import Connection

from fidela.domain.cards import CardVoucher
from fidela.domain.events import OrderLine
from fidela.domain.ids import CustomerId, EventNo, LotNo, MemberId, ProgramId, Seq
from fidela.domain.ledger import SCHEDULER, Account, Kind, Lot, Transaction, chain_hash
from fidela.domain.members import Effect, MemberState, OrderState, Outcome
from fidela.domain.memberships import Subscription
from fidela.domain.program import Program
from fidela.domain.webhooks import announced
from fidela.store import switching
from fidela.store.batches import BatchWriter, among
from fidela.store.reads import Query, Read, read_one
from fidela.store.tables import (
    events,
    ledger_heads,
    line_of_transaction,
    lines,
    lots,
    member_badges,
    members,
    orders,
    outbox,
    redemptions,
    referrals,
    transactions,
)

EVENT_COLUMNS = (
    "program_id",
    "event_no",
    "idempotency_key",
    "content_hash",
    "type",
    "customer_id",
    "member_id",
    "occurred_at",
    "recorded_at",
    "program_version",
    "payload",
    "result",
)
TRANSACTION_COLUMNS = (
    "program_id",
    "seq",
    "member_id",
    "kind",
    "occurred_at",
    "recorded_at",
    "event_no",
    "actor",
    "reason",
    "hash",
)
LINE_COLUMNS = (
    "program_id",
    "seq",
    "line_no",
    "member_id",
    "account",
    "amount",
    "lot_no",
    "rule_id",
)
LOT_COLUMNS = (
    "program_id",
    "lot_no",
    "member_id",
    "points",
    "remaining",
    "earned_at",
    "expires_at",
    "pending_until",
    "rule_id",
    "order_ref",
    "held",
    "unit",
)
ORDER_COLUMNS = (
    "program_id",
    "order_ref",
    "customer_id",
    "member_id",
    "event_no",
    "occurred_at",
    "currency",
    "amount_minor",
    "refunded_minor",
    "refunded_quantities",
    "points",
    "reversed_points",
    "lines",
    "cashback",
    "reversed_cashback",
    "punches",
)
ORDER_LINES = TypeAdapter(tuple[OrderLine, ...])
MEMBER_STATE_COLUMNS = (
    "available",
    "pending",
    "held",
    "debt",
    "credit",
    "credit_pending",
    "credit_debt",
    "tier",
    "tier_since",
    "tier_review_at",
    "purchase_count",
    "last_purchase_at",
    "last_birthday_year",
    "reminded_until",
    "due_at",
    "cards",
    "membership",
    "membership_status",
    "membership_started_at",
    "membership_period_ends_at",
    "membership_next_grant_at",
    "membership_cancelled",
)


VOUCHER_COLUMNS = (
    "program_id",
    "member_id",
    "reward_id",
    "points",
    "status",
    "voucher_code",
    "voucher",
    "created_at",
    "closed_at",
    "source",
)


def stored_cards(state: MemberState) -> dict[str, list[int]]:
    """A member's punch cards as the `cards` column holds them: {card: [punches, completed]}."""
    return {card_id: [card.punches, card.completed] for card_id, card in state.cards.items()}


def _membership_row(subscription: Subscription | None, time: Any) -> tuple[Any, ...]:
    """A member's membership as the `membership…` columns hold it."""
    if subscription is None:
        return (None, None, None, None, None, False)
    return (
        subscription.plan,
        subscription.status,
        time(subscription.started_at),
        time(subscription.period_ends_at),
        time(subscription.next_grant_at),
        subscription.cancel_at_period_end,
    )


@dataclass(eq=False, slots=True)
class NewEvent:
    """An accepted event, numbered when posted."""

    key: str
    content_hash: str
    type: str
    customer_id: CustomerId | None
    member_id: MemberId | None
    occurred_at: datetime
    payload: str  # canonical JSON, as hashed
    result: dict[str, Any]
    program_version: int
    event_no: EventNo | None = None


@dataclass
class Changes:
    """Everything one use case (or one batch of an import) changes, posted at once."""

    program: Program
    events: list[NewEvent] = field(default_factory=list)
    transactions: list[tuple[Transaction, MemberId | None, NewEvent | None]] = field(
        default_factory=list
    )
    new_orders: list[tuple[OrderState, CustomerId, MemberId | None, NewEvent]] = field(
        default_factory=list
    )
    changed_orders: list[OrderState] = field(default_factory=list)
    restated: list[Lot] = field(default_factory=list)  # lots whose expiry or hold changed
    badges: list[tuple[MemberId, str, str, datetime]] = field(default_factory=list)
    vouchers: list[tuple[MemberId, CardVoucher]] = field(default_factory=list)  # full cards
    cancelled_vouchers: list[CardVoucher] = field(default_factory=list)
    states: dict[MemberId, MemberState] = field(default_factory=dict)
    # In the order they happened: effects, and transactions to announce as effects. A
    # transaction's effect is made only if someone will receive it (`news`).
    effects: list[tuple[MemberId | None, Effect | _Announcing]] = field(default_factory=list)
    announce: bool = True  # False: effects are not written to the outbox (replayed history)
    members_written: bool = False  # the stored lots and members, by `write_members`

    def record(
        self,
        member_id: MemberId,
        state: MemberState,
        outcome: Outcome,
        cause: NewEvent | None = None,
    ) -> None:
        """Keep what `outcome` did to a member: its transactions, effects, and new state."""
        self.states[member_id] = state
        if self.announce:
            self.effects.extend((member_id, effect) for effect in outcome.effects)
        # Mostly all empty: then the four extends (two of generators) would cost 1 us an event.
        if outcome.restated or outcome.badges or outcome.vouchers or outcome.cancelled_vouchers:
            self.restated.extend(outcome.restated)
            self.badges.extend((member_id, *awarded) for awarded in outcome.badges)
            self.vouchers.extend((member_id, voucher) for voucher in outcome.vouchers)
            self.cancelled_vouchers.extend(outcome.cancelled_vouchers)
        for transaction in outcome.transactions:
            # What the passing of time did before the event (expiries...) is not the event's doing.
            caused_by = cause if transaction.actor != SCHEDULER else None
            self.transactions.append((transaction, member_id, caused_by))
            if self.announce:
                self.effects.append((member_id, _Announcing(transaction, caused_by)))

    def news(self) -> list[tuple[MemberId | None, Effect]]:
        """The effects to write to the outbox, in order, each transaction's made now."""
        news = []
        for member_id, effect in self.effects:
            if isinstance(effect, _Announcing):
                made = announced(effect.transaction)
                if made is None:
                    continue
                event = {"event": effect.cause.key if effect.cause else None}
                effect = Effect(made.kind, made.at, made.data | event)
            news.append((member_id, effect))
        return news


@dataclass(frozen=True, slots=True)
class _Announcing:
    """A transaction posted, whose effect (`announced`) is made only if it will be sent:
    with no live webhook subscription, an expiry run makes none of its million."""

    transaction: Transaction
    cause: NewEvent | None


@dataclass(slots=True)
class Head:
    last_seq: int
    last_hash: str
    last_lot_no: int
    last_event_no: int
    webhooks_live: bool  # else no one receives the effects: the outbox is not written


def _head_query(*, lock: bool) -> Query:
    def build(_dialect: Any) -> Any:
        head = ledger_heads.c
        query = select(
            head.last_seq, head.last_hash, head.last_lot_no, head.last_event_no, head.webhooks_live
        )
        query = query.where(head.program_id == bindparam("program_id"))
        return query.with_for_update() if lock else query

    return Query(build)


# Built once: every event and group reads its head, and building the SELECT and its cache
# key cost as much CPU as running it (0.5 ms on the slowest machine).
_HEAD, _HEAD_LOCKED = _head_query(lock=False), _head_query(lock=True)


def _one_head(rows: list[Any]) -> Head:
    (row,) = rows
    return Head(*row)


class LedgerRepository:
    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self._heads: dict[ProgramId, Head] = {}  # locked until the transaction ends
        self._writing: Future[None] | None = None
        self._background: ThreadPoolExecutor | None = None

    def post(
        self,
        program_id: ProgramId,
        changes: Changes,
        recorded_at: datetime,
        *,
        in_background: bool = False,
        commit: bool = False,
    ) -> list[Seq]:
        """Write `changes` under the program's ledger head; return the new transactions' seqs.

        With `in_background`, the rows are written by a second thread while the caller
        goes on computing its next batch (an import); `wait` or the unit of work's commit
        lets that write finish. Only one write is ever in flight on the connection.

        With `commit`, nothing else is written in this transaction: on PostgreSQL the
        COMMIT rides with the writes, one round trip fewer while the ledger head is held
        (the caller's `uow.commit()` then has nothing left to send).
        """
        head = self.lock(program_id)
        write = BatchWriter(self.connection)
        time = write.time
        recorded = time(recorded_at)
        write.insert(events, EVENT_COLUMNS, _event_rows(head, program_id, changes, write, recorded))
        new_lots, changed_lots, restated_lots = _touched_lots(changes)
        if not changes.members_written:
            self._write_members(write, program_id, changes, changed_lots, restated_lots)
        for lot, _member_id in new_lots:  # numbered under the head
            head.last_lot_no += 1
            lot.lot_no = LotNo(head.last_lot_no)
        seqs, transaction_rows, line_rows = _chain(head, program_id, changes, write, recorded)
        write.insert(transactions, TRANSACTION_COLUMNS, transaction_rows)
        write.insert(lines, LINE_COLUMNS, line_rows)
        write.insert(
            lots,
            LOT_COLUMNS,
            [
                (
                    program_id,
                    lot.lot_no,
                    member_id,
                    lot.points,
                    lot.remaining,
                    time(lot.earned_at),
                    time(lot.expires_at),
                    time(lot.pending_until),
                    lot.rule_id,
                    lot.order_ref,
                    lot.held,
                    lot.unit,
                )
                for lot, member_id in new_lots
            ],
        )
        self._write_orders(write, program_id, changes)
        write.insert(
            member_badges,
            ("program_id", "member_id", "badge", "challenge_id", "awarded_at"),
            [
                (program_id, member_id, badge, challenge, time(at))
                for member_id, badge, challenge, at in changes.badges
            ],
        )
        self._write_vouchers(write, program_id, changes)
        # With no live subscription, nothing would ever be delivered from these rows.
        news = changes.news() if changes.announce and head.webhooks_live else []
        write.insert(
            outbox,
            ("program_id", "member_id", "kind", "occurred_at", "data", "delivered"),
            [
                (
                    program_id,
                    member_id,
                    effect.kind,
                    time(effect.at),
                    write.json(effect.data),
                    False,
                )
                for member_id, effect in news
            ],
        )
        write.update(
            ledger_heads,
            ("last_seq", "last_hash", "last_lot_no", "last_event_no"),
            ("program_id",),
            [(head.last_seq, head.last_hash, head.last_lot_no, head.last_event_no, program_id)],
        )
        self.wait()
        if in_background:
            if self._background is None:
                self._background = ThreadPoolExecutor(1, thread_name_prefix="fidela-ledger")
                switching.quicken()  # until `close`: the writing thread needs the GIL often
            self._writing = self._background.submit(write.run)
        else:
            write.run(commit=commit)
        return seqs

    def write_members(self, program_id: ProgramId, changes: Changes) -> None:
        """Write now what needs no ledger head: the stored lots' new points and the
        members' states. `post` then writes the rest; meanwhile another batch can hold the
        head, as this one takes it only for its numbered rows (`jobs.run_due`'s workers)."""
        write = BatchWriter(self.connection)
        _new, changed_lots, restated_lots = _touched_lots(changes)
        self._write_members(write, program_id, changes, changed_lots, restated_lots)
        write.run()
        changes.members_written = True

    def _write_members(
        self,
        write: BatchWriter,
        program_id: ProgramId,
        changes: Changes,
        changed_lots: list[Lot],
        restated_lots: list[Lot],
    ) -> None:
        """Queue the updates of the stored lots given, and of the members."""
        time = write.time
        write.update(
            lots,
            ("remaining", "pending_until"),
            ("program_id", "lot_no"),
            [
                (lot.remaining, time(lot.pending_until), program_id, lot.lot_no)
                for lot in changed_lots
            ],
        )
        write.update(
            lots,
            ("remaining", "pending_until", "expires_at", "held"),
            ("program_id", "lot_no"),
            [
                (
                    lot.remaining,
                    time(lot.pending_until),
                    time(lot.expires_at),
                    lot.held,
                    program_id,
                    lot.lot_no,
                )
                for lot in restated_lots
            ],
        )
        self._write_states(write, changes)

    def lock(self, program_id: ProgramId) -> Head:
        """Lock the program's ledger head until the transaction ends (once per transaction).

        Whatever posts to the program waits for it: a check made after taking it (the
        stock left of a reward) holds until this transaction commits.
        """
        head = self._heads.get(program_id)
        if head is None:
            self.wait()
            head = self._heads[program_id] = self.head(program_id, lock=True)
        return head

    def wait(self) -> None:
        """Let the write in flight finish, raising what it raised."""
        writing, self._writing = self._writing, None
        if writing is not None:
            writing.result()

    def close(self) -> None:
        """Wait for the write in flight and stop the writing thread."""
        try:
            self.wait()
        finally:
            if self._background is not None:
                self._background.shutdown()
                self._background = None
                switching.restore()

    @staticmethod
    def _write_vouchers(write: BatchWriter, program_id: ProgramId, changes: Changes) -> None:
        """The vouchers full punch cards issued, and those refunds took back (a voucher both
        issued and taken back by these changes is inserted cancelled)."""
        time = write.time
        write.insert(
            redemptions,
            VOUCHER_COLUMNS,
            [
                (
                    program_id,
                    member_id,
                    voucher.card_id,
                    0,
                    "cancelled" if voucher.cancelled_at else "issued",
                    voucher.code,
                    write.json(voucher.terms),
                    time(voucher.issued_at),
                    time(voucher.cancelled_at),
                    "punch_card",
                )
                for member_id, voucher in changes.vouchers
            ],
        )
        new = {id(voucher) for _member, voucher in changes.vouchers}
        write.update(
            redemptions,
            ("status", "closed_at"),
            ("voucher_code",),
            [
                ("cancelled", time(voucher.cancelled_at), voucher.code)
                for voucher in changes.cancelled_vouchers
                if id(voucher) not in new
            ],
        )

    def _write_orders(self, write: BatchWriter, program_id: ProgramId, changes: Changes) -> None:
        time, as_json = write.time, write.json
        # An import's orders share their lines' tuples (one per distinct line): each is
        # dumped once, by identity, as every order of `changes` stays alive meanwhile.
        dumped: dict[int, str] = {}

        def lines_json(lines: tuple[OrderLine, ...]) -> str:
            text = dumped.get(id(lines))
            if text is None:
                text = dumped[id(lines)] = ORDER_LINES.dump_json(lines).decode()
            return text

        write.insert(
            orders,
            ORDER_COLUMNS,
            [
                (
                    program_id,
                    order.order_ref,
                    customer_id,
                    member_id,
                    cause.event_no,
                    time(order.occurred_at),
                    order.currency,
                    order.amount_minor,
                    order.refunded_minor,
                    as_json(order.refunded_quantities),
                    order.points,
                    order.reversed_points,
                    lines_json(order.lines),
                    order.cashback,
                    order.reversed_cashback,
                    as_json(order.punches) if order.punches else None,
                )
                for order, customer_id, member_id, cause in changes.new_orders
            ],
        )
        write.update(
            orders,
            (
                "refunded_minor",
                "refunded_quantities",
                "reversed_points",
                "reversed_cashback",
                "removed_punches",
            ),
            ("program_id", "order_ref"),
            [
                (
                    order.refunded_minor,
                    as_json(order.refunded_quantities),
                    order.reversed_points,
                    order.reversed_cashback,
                    as_json(order.removed_punches) if order.removed_punches else None,
                    program_id,
                    order.order_ref,
                )
                for order in changes.changed_orders
            ],
        )

    def _write_states(self, write: BatchWriter, changes: Changes) -> None:
        program, time = changes.program, write.time
        write.update(
            referrals,
            ("status", "first_order_ref", "qualifies_at", "reason", "closed_at"),
            ("id",),
            [
                (
                    referral.status,
                    referral.first_order_ref,
                    time(referral.qualifies_at),
                    referral.reason,
                    time(referral.closed_at),
                    referral.referral_id,
                )
                for state in changes.states.values()
                if (referral := state.referral) is not None and referral.changed
            ],
        )
        write.update(
            members,
            MEMBER_STATE_COLUMNS,
            ("id",),
            [
                (
                    state.wallet.available,
                    state.wallet.pending,
                    state.wallet.held,
                    -state.wallet.debt,
                    state.credit.available,
                    state.credit.pending,
                    -state.credit.debt,
                    state.tier,
                    time(state.tier_since),
                    time(state.tier_review_at),
                    state.purchase_count,
                    time(state.last_purchase_at),
                    state.last_birthday_year,
                    time(state.reminded_until),
                    time(state.due_at(program)),
                    write.json(cards) if (cards := stored_cards(state)) else None,
                    *_membership_row(state.membership, time),
                    member_id,
                )
                for member_id, state in changes.states.items()
            ],
        )

    def lots_by_number(self, program_id: ProgramId, lot_nos: Sequence[LotNo]) -> dict[LotNo, Lot]:
        rows = self.connection.execute(
            select(*LOT_FIELDS).where(
                lots.c.program_id == program_id, among(self.connection, lots.c.lot_no, lot_nos)
            )
        )
        return {row.lot_no: lot_from_row(row) for row in rows}

    def issued_by_rule(self, program_id: ProgramId, rule_ids: Sequence[str]) -> dict[str, int]:
        """The points each of these rules (or campaigns) issued so far, in the program."""
        rows = self.connection.execute(
            select(lines.c.rule_id, func.sum(lines.c.amount))
            .where(
                lines.c.program_id == program_id,
                lines.c.account == Account.ISSUED.value,
                lines.c.rule_id.in_(rule_ids),
            )
            .group_by(lines.c.rule_id)
        )
        return {rule_id: -int(total) for rule_id, total in rows}

    def rejected_from(self, program_id: ProgramId, lot_nos: Sequence[LotNo]) -> int:
        """Points of these lots an admin rejected (held lots reversed by an admin's decision)."""
        total = self.connection.execute(
            select(func.coalesce(func.sum(lines.c.amount), 0))
            .join(transactions, line_of_transaction())
            .where(
                lines.c.program_id == program_id,
                among(self.connection, lines.c.lot_no, lot_nos),
                transactions.c.kind == Kind.REVERSE.value,
                transactions.c.actor.is_not(None),
            )
        ).scalar_one()
        return -int(total)

    def held_lots(self, program_id: ProgramId, lot_no: LotNo | None = None) -> list[Row[Any]]:
        """The program's held lots (daily cap, velocity), or that one, oldest first."""
        query = select(lots).where(
            lots.c.program_id == program_id, lots.c.held.is_(True), lots.c.remaining > 0
        )
        if lot_no is not None:
            query = query.where(lots.c.lot_no == lot_no)
        return list(self.connection.execute(query.order_by(lots.c.lot_no)))

    def lines_of(self, program_id: ProgramId, seq: Seq) -> list[Row[Any]]:
        return list(
            self.connection.execute(
                select(lines)
                .where(lines.c.program_id == program_id, lines.c.seq == seq)
                .order_by(lines.c.line_no)
            )
        )

    def totals(self, program_id: ProgramId) -> dict[str, int]:
        """The sum of every account's lines in the program."""
        rows = self.connection.execute(
            select(lines.c.account, func.coalesce(func.sum(lines.c.amount), 0))
            .where(lines.c.program_id == program_id)
            .group_by(lines.c.account)
        )
        return {account: int(total) for account, total in rows}

    def stream(
        self, program_id: ProgramId
    ) -> Generator[tuple[Row[Any], list[Row[Any]]], None, None]:
        """Every transaction of the program in chain order, with its lines."""
        query = (
            select(
                transactions,
                lines.c.line_no,
                lines.c.account,
                lines.c.amount,
                lines.c.lot_no,
                lines.c.rule_id,
                lines.c.member_id.label("line_member_id"),
            )
            .join(lines, line_of_transaction(), isouter=True)
            .where(transactions.c.program_id == program_id)
            .order_by(transactions.c.seq, lines.c.line_no)
        )
        current: Row[Any] | None = None
        batch: list[Row[Any]] = []
        result = self.connection.execution_options(yield_per=5000).execute(query)
        try:
            for row in result:
                if current is not None and row.seq != current.seq:
                    yield current, batch
                    batch = []
                current = row
                if row.line_no is not None:
                    batch.append(row)
            if current is not None:
                yield current, batch
        finally:
            result.close()

    def head(self, program_id: ProgramId, *, lock: bool = False) -> Head:
        """The tip of the program's chain and its counters; `lock` holds it until commit."""
        query = _HEAD_LOCKED if lock else _HEAD
        return read_one(self.connection, Read(query, _one_head, program_id=program_id))

    def member_sums(self, program_id: ProgramId) -> dict[tuple[MemberId, str], int]:
        rows = self.connection.execute(
            select(lines.c.member_id, lines.c.account, func.sum(lines.c.amount))
            .where(lines.c.program_id == program_id, lines.c.account.like("member.%"))
            .group_by(lines.c.member_id, lines.c.account)
        )
        return {(MemberId(m), account): int(total) for m, account, total in rows}

    def lot_sums(self, program_id: ProgramId) -> dict[LotNo, int]:
        rows = self.connection.execute(
            select(lines.c.lot_no, func.sum(lines.c.amount))
            .where(lines.c.program_id == program_id, lines.c.lot_no.is_not(None))
            .group_by(lines.c.lot_no)
        )
        return {LotNo(lot_no): int(total) for lot_no, total in rows}

    def lot_remainders(self, program_id: ProgramId) -> dict[LotNo, int]:
        rows = self.connection.execute(
            select(lots.c.lot_no, lots.c.remaining).where(lots.c.program_id == program_id)
        )
        return {LotNo(lot_no): int(remaining) for lot_no, remaining in rows}


def _event_rows(
    head: Head, program_id: ProgramId, changes: Changes, write: BatchWriter, recorded: Any
) -> list[tuple[Any, ...]]:
    """Number the new events after the head's last one; their rows."""
    rows = []
    for event in changes.events:
        head.last_event_no += 1
        event.event_no = EventNo(head.last_event_no)
        rows.append(
            (
                program_id,
                event.event_no,
                event.key,
                event.content_hash,
                event.type,
                event.customer_id,
                event.member_id,
                write.time(event.occurred_at),
                recorded,
                event.program_version,
                event.payload,
                write.json(event.result),
            )
        )
    return rows


def _touched_lots(changes: Changes) -> tuple[list[tuple[Lot, MemberId]], list[Lot], list[Lot]]:
    """The lots the changes create (not numbered yet), each with its member; the stored
    ones whose points changed; the stored ones restated (expiry or hold changed too). A
    lot the changes create is inserted as it is now, never updated too."""
    new: dict[int, tuple[Lot, MemberId]] = {}
    changed: dict[int, Lot] = {}
    for transaction, member_id, _cause in changes.transactions:
        for line in transaction.lines:
            lot = line.lot
            if lot is None or member_id is None:
                continue
            if lot.lot_no is None:
                new[id(lot)] = (lot, member_id)
            else:
                changed[id(lot)] = lot
    restated = {id(lot): lot for lot in changes.restated if lot.lot_no is not None}
    return (
        list(new.values()),
        [lot for key, lot in changed.items() if key not in restated],
        list(restated.values()),
    )


def _chain(
    head: Head, program_id: ProgramId, changes: Changes, write: BatchWriter, recorded: Any
) -> tuple[list[Seq], list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Number the transactions and chain each one's hash to the last; their rows and lines'."""
    seqs: list[Seq] = []
    transaction_rows = []
    line_rows: list[tuple[Any, ...]] = []
    for transaction, member_id, cause in changes.transactions:
        head.last_seq += 1
        seq = Seq(head.last_seq)
        event_no = cause.event_no if cause else None
        kind = transaction.kind.value
        entries = [
            (line.account.value, line.amount, line.lot.lot_no if line.lot else None, line.rule_id)
            for line in transaction.lines
        ]
        head.last_hash = chain_hash(
            head.last_hash,
            program_id,
            seq,
            member_id,
            kind,
            transaction.occurred_at,
            event_no,
            transaction.actor,
            transaction.reason,
            entries,
        )
        seqs.append(seq)
        transaction_rows.append(
            (
                program_id,
                seq,
                member_id,
                kind,
                write.time(transaction.occurred_at),
                recorded,
                event_no,
                transaction.actor,
                transaction.reason,
                head.last_hash,
            )
        )
        line_rows += [
            (program_id, seq, line_no, member_id, *entry) for line_no, entry in enumerate(entries)
        ]
    return seqs, transaction_rows, line_rows


# A lot's columns in the order of Lot's fields: `select(*LOT_FIELDS, ...)`, then lot_from_row.
LOT_FIELDS = tuple(lots.c[field.name] for field in fields(Lot))


def lot_from_row(row: Sequence[Any]) -> Lot:
    """The lot of a row that selected LOT_FIELDS first (by position: millions are read)."""
    return Lot(*row[: len(LOT_FIELDS)])
