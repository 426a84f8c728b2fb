"""The ledger's storage: the one write path for events, transactions, lots and member state.

`LedgerRepository.post` numbers events, transactions and lots under the program's
ledger head (locked for update), chains each transaction's hash to the previous one,
and writes everything a use case changed in a few batched statements.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Row, and_, bindparam, func, insert, select, update
from sqlalchemy.engine import Connection

from fidela.domain.ids import CustomerId, EventNo, LotNo, MemberId, ProgramId, Seq
from fidela.domain.ledger import SCHEDULER, Lot, Transaction, chain_hash
from fidela.domain.members import Effect, MemberState, OrderState, Outcome
from fidela.domain.program import Program
from fidela.store.tables import (
    events,
    ledger_heads,
    lines,
    lots,
    members,
    orders,
    outbox,
    transactions,
)


@dataclass(eq=False)
class NewEvent:
    """An accepted event, numbered when posted."""

    key: str
    content_hash: str
    type: str
    customer_id: CustomerId | None
    member_id: MemberId | None
    occurred_at: datetime
    payload: dict[str, Any]
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
    states: dict[MemberId, MemberState] = field(default_factory=dict)
    effects: list[tuple[MemberId | None, Effect]] = field(default_factory=list)

    def record(
        self,
        member_id: MemberId,
        state: MemberState,
        outcome: Outcome,
        cause: NewEvent | None = None,
    ) -> None:
        """Keep what `outcome` did to a member: its transactions, effects, and new state."""
        self.states[member_id] = state
        self.effects.extend((member_id, effect) for effect in outcome.effects)
        for transaction in outcome.transactions:
            # What the passing of time did before the event (expiries...) is not the event's doing.
            caused_by = cause if transaction.actor != SCHEDULER else None
            self.transactions.append((transaction, member_id, caused_by))


@dataclass
class Head:
    last_seq: int
    last_hash: str
    last_lot_no: int
    last_event_no: int


class LedgerRepository:
    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def post(self, program_id: ProgramId, changes: Changes, recorded_at: datetime) -> list[Seq]:
        """Write `changes` under the program's ledger head; return the new transactions' seqs."""
        head = self._lock_head(program_id)
        for event in changes.events:
            head.last_event_no += 1
            event.event_no = EventNo(head.last_event_no)
        touched: dict[int, tuple[Lot, MemberId]] = {}
        for transaction, member_id, _cause in changes.transactions:
            for line in transaction.lines:
                if line.lot is not None and member_id is not None:
                    touched.setdefault(id(line.lot), (line.lot, member_id))
        changed_lots = [lot for lot, _owner in touched.values() if lot.lot_no is not None]
        new_lots = [(lot, owner) for lot, owner in touched.values() if lot.lot_no is None]
        for lot, _owner in new_lots:
            head.last_lot_no += 1
            lot.lot_no = LotNo(head.last_lot_no)

        seqs: list[Seq] = []
        transaction_rows: list[dict[str, Any]] = []
        line_rows: list[dict[str, Any]] = []
        for transaction, member_id, cause in changes.transactions:
            head.last_seq += 1
            seq = Seq(head.last_seq)
            event_no = cause.event_no if cause else None
            entries = [
                (
                    line.account.value,
                    line.amount,
                    line.lot.lot_no if line.lot else None,
                    line.rule_id,
                )
                for line in transaction.lines
            ]
            head.last_hash = chain_hash(
                head.last_hash,
                program_id,
                seq,
                member_id,
                transaction.kind.value,
                transaction.occurred_at,
                event_no,
                transaction.actor,
                transaction.reason,
                entries,
            )
            seqs.append(seq)
            transaction_rows.append(
                {
                    "program_id": program_id,
                    "seq": seq,
                    "member_id": member_id,
                    "kind": transaction.kind.value,
                    "occurred_at": transaction.occurred_at,
                    "recorded_at": recorded_at,
                    "event_no": event_no,
                    "actor": transaction.actor,
                    "reason": transaction.reason,
                    "hash": head.last_hash,
                }
            )
            line_rows.extend(
                {
                    "program_id": program_id,
                    "seq": seq,
                    "line_no": line_no,
                    "member_id": member_id,
                    "account": account,
                    "amount": amount,
                    "lot_no": lot_no,
                    "rule_id": rule_id,
                }
                for line_no, (account, amount, lot_no, rule_id) in enumerate(entries)
            )

        execute = self.connection.execute
        if changes.events:
            execute(
                insert(events), [_event_row(program_id, e, recorded_at) for e in changes.events]
            )
        if transaction_rows:
            execute(insert(transactions), transaction_rows)
            execute(insert(lines), line_rows)
        if new_lots:
            execute(insert(lots), [_lot_row(program_id, lot, owner) for lot, owner in new_lots])
        if changed_lots:
            execute(
                update(lots)
                .where(lots.c.program_id == program_id, lots.c.lot_no == bindparam("b_lot_no"))
                .values(remaining=bindparam("b_remaining"), pending_until=bindparam("b_pending")),
                [
                    {
                        "b_lot_no": lot.lot_no,
                        "b_remaining": lot.remaining,
                        "b_pending": lot.pending_until,
                    }
                    for lot in changed_lots
                ],
            )
        self._write_orders(program_id, changes)
        self._write_states(changes)
        if changes.effects:
            execute(
                insert(outbox),
                [
                    {
                        "program_id": program_id,
                        "member_id": member_id,
                        "kind": effect.kind,
                        "occurred_at": effect.at,
                        "data": effect.data,
                        "delivered": False,
                    }
                    for member_id, effect in changes.effects
                ],
            )
        execute(
            update(ledger_heads)
            .where(ledger_heads.c.program_id == program_id)
            .values(
                last_seq=head.last_seq,
                last_hash=head.last_hash,
                last_lot_no=head.last_lot_no,
                last_event_no=head.last_event_no,
            )
        )
        return seqs

    def _lock_head(self, program_id: ProgramId) -> Head:
        row = self.connection.execute(
            select(
                ledger_heads.c.last_seq,
                ledger_heads.c.last_hash,
                ledger_heads.c.last_lot_no,
                ledger_heads.c.last_event_no,
            )
            .where(ledger_heads.c.program_id == program_id)
            .with_for_update()
        ).one()
        return Head(*row)

    def _write_orders(self, program_id: ProgramId, changes: Changes) -> None:
        if changes.new_orders:
            self.connection.execute(
                insert(orders),
                [
                    {
                        "program_id": program_id,
                        "order_ref": order.order_ref,
                        "customer_id": customer_id,
                        "member_id": member_id,
                        "event_no": cause.event_no,
                        "occurred_at": order.occurred_at,
                        "currency": order.currency,
                        "amount_minor": order.amount_minor,
                        "refunded_minor": order.refunded_minor,
                        "refunded_quantities": order.refunded_quantities,
                        "points": order.points,
                        "reversed_points": order.reversed_points,
                        "lines": [line.model_dump(mode="json") for line in order.lines],
                    }
                    for order, customer_id, member_id, cause in changes.new_orders
                ],
            )
        if changes.changed_orders:
            self.connection.execute(
                update(orders)
                .where(orders.c.program_id == program_id, orders.c.order_ref == bindparam("b_ref"))
                .values(
                    refunded_minor=bindparam("b_refunded"),
                    refunded_quantities=bindparam("b_quantities"),
                    reversed_points=bindparam("b_reversed"),
                ),
                [
                    {
                        "b_ref": order.order_ref,
                        "b_refunded": order.refunded_minor,
                        "b_quantities": order.refunded_quantities,
                        "b_reversed": order.reversed_points,
                    }
                    for order in changes.changed_orders
                ],
            )

    def _write_states(self, changes: Changes) -> None:
        if not changes.states:
            return
        program = changes.program
        self.connection.execute(
            update(members)
            .where(members.c.id == bindparam("b_id"))
            .values(
                available=bindparam("b_available"),
                pending=bindparam("b_pending"),
                debt=bindparam("b_debt"),
                tier=bindparam("b_tier"),
                tier_since=bindparam("b_tier_since"),
                tier_review_at=bindparam("b_review"),
                purchase_count=bindparam("b_purchases"),
                last_birthday_year=bindparam("b_birthday_year"),
                reminded_until=bindparam("b_reminded"),
                due_at=bindparam("b_due"),
            ),
            [
                {
                    "b_id": member_id,
                    "b_available": state.wallet.available,
                    "b_pending": state.wallet.pending,
                    "b_debt": -state.wallet.debt,
                    "b_tier": state.tier,
                    "b_tier_since": state.tier_since,
                    "b_review": state.tier_review_at,
                    "b_purchases": state.purchase_count,
                    "b_birthday_year": state.last_birthday_year,
                    "b_reminded": state.reminded_until,
                    "b_due": state.due_at(program),
                }
                for member_id, state in changes.states.items()
            ],
        )

    def lots_by_number(self, program_id: ProgramId, lot_nos: Sequence[LotNo]) -> dict[LotNo, Lot]:
        rows = self.connection.execute(
            select(lots).where(lots.c.program_id == program_id, lots.c.lot_no.in_(lot_nos))
        )
        return {row.lot_no: lot_from_row(row) for row in rows}

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
            .join(
                lines,
                and_(
                    lines.c.program_id == transactions.c.program_id,
                    lines.c.seq == transactions.c.seq,
                ),
                isouter=True,
            )
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

    def head(self, program_id: ProgramId) -> Head:
        row = self.connection.execute(
            select(
                ledger_heads.c.last_seq,
                ledger_heads.c.last_hash,
                ledger_heads.c.last_lot_no,
                ledger_heads.c.last_event_no,
            ).where(ledger_heads.c.program_id == program_id)
        ).one()
        return Head(*row)

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


def lot_from_row(row: Row[Any]) -> Lot:
    return Lot(
        points=row.points,
        remaining=row.remaining,
        earned_at=row.earned_at,
        expires_at=row.expires_at,
        pending_until=row.pending_until,
        rule_id=row.rule_id,
        order_ref=row.order_ref,
        lot_no=LotNo(row.lot_no),
    )


def _lot_row(program_id: ProgramId, lot: Lot, member_id: MemberId) -> dict[str, Any]:
    return {
        "program_id": program_id,
        "lot_no": lot.lot_no,
        "member_id": member_id,
        "points": lot.points,
        "remaining": lot.remaining,
        "earned_at": lot.earned_at,
        "expires_at": lot.expires_at,
        "pending_until": lot.pending_until,
        "rule_id": lot.rule_id,
        "order_ref": lot.order_ref,
    }


def _event_row(program_id: ProgramId, event: NewEvent, recorded_at: datetime) -> dict[str, Any]:
    return {
        "program_id": program_id,
        "event_no": event.event_no,
        "idempotency_key": event.key,
        "content_hash": event.content_hash,
        "type": event.type,
        "customer_id": event.customer_id,
        "member_id": event.member_id,
        "occurred_at": event.occurred_at,
        "recorded_at": recorded_at,
        "program_version": event.program_version,
        "payload": event.payload,
        "result": event.result,
    }
