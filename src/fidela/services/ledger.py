"""Reading the ledger: the program's totals, and a full verification of the hash chain."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import closing
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Row

from fidela.domain.ids import EventNo, LotNo, MemberId, ProgramId, Seq
from fidela.domain.ledger import GENESIS, Account, chain_hash
from fidela.domain.money import exponent, from_minor
from fidela.store.ledger import Head
from fidela.store.unit_of_work import UnitOfWork


def summary(uow: UnitOfWork, program_id: ProgramId) -> dict[str, Any]:
    """The program's totals; `outstanding` is spendable points, `liability` what they cost;
    `credit`, the store credit (cashback) in amounts of the currency."""
    with uow.reading() as uow:
        program = uow.programs.current(program_id).program
        totals = uow.ledger.totals(program_id)

    def total(account: Account) -> int:
        return totals.get(account.value, 0)

    outstanding = total(Account.AVAILABLE)
    pending = total(Account.PENDING)
    places = Decimal(1).scaleb(-exponent(program.currency))
    return {
        "program": program_id,
        "point_name": program.point_name,
        "issued": -total(Account.ISSUED),
        "redeemed": total(Account.REDEEMED),
        "expired": total(Account.EXPIRED),
        "reversed": total(Account.REVERSED),
        "adjusted": -total(Account.ADJUSTED),
        "outstanding": outstanding,
        "pending": pending,
        "held": total(Account.HELD),
        "debt": -total(Account.DEBT),
        "point_value": str(program.point_value),
        "currency": program.currency,
        "liability": str((outstanding * program.point_value).quantize(places)),
        "pending_liability": str((pending * program.point_value).quantize(places)),
        "credit": {
            key: str(from_minor(amount, program.currency))
            for key, amount in (
                ("issued", -total(Account.CREDIT_ISSUED)),
                ("spent", total(Account.CREDIT_SPENT)),
                ("reversed", total(Account.CREDIT_REVERSED)),
                ("adjusted", -total(Account.CREDIT_ADJUSTED)),
                ("outstanding", total(Account.CREDIT)),
                ("pending", total(Account.CREDIT_PENDING)),
                ("debt", -total(Account.CREDIT_DEBT)),
            )
        },
    }


PROGRESS_EVERY = 10_000  # transactions verified between two progress reports


@dataclass(frozen=True)
class Verification:
    ok: bool
    transactions: int
    problem: str | None = None
    seq: int | None = None

    def report(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "transactions": self.transactions,
            "problem": self.problem,
            "seq": self.seq,
        }


def verify(
    uow: UnitOfWork, program_id: ProgramId, progress: Callable[[int], None] | None = None
) -> Verification:
    """Check the hash chain, that every transaction balances, and every cached balance."""
    with uow.reading() as uow:
        uow.programs.current(program_id)  # an unknown program is NotFound, not a broken ledger
        head = uow.ledger.head(program_id)
        with closing(uow.ledger.stream(program_id)) as chain:
            broken = _chain_problem(program_id, chain, head, progress)
        if broken is not None:
            return broken
        problem = _balance_problem(uow, program_id)
    return Verification(problem is None, head.last_seq, problem)


def _chain_problem(
    program_id: ProgramId,
    chain: Iterable[tuple[Row[Any], list[Row[Any]]]],
    head: Head,
    progress: Callable[[int], None] | None,
) -> Verification | None:
    """The first transaction that is missing, unbalanced, with a line of another member,
    or changed since it was written."""
    previous = GENESIS
    seq = 0
    for seq, (transaction, lines) in enumerate(chain, start=1):
        if progress and seq % PROGRESS_EVERY == 0:
            progress(PROGRESS_EVERY)
        if transaction.seq != seq:
            return Verification(False, seq - 1, f"transaction {seq} is missing", seq)
        entries = [(line.account, line.amount, line.lot_no, line.rule_id) for line in lines]
        total = sum(entry[1] for entry in entries)
        if total != 0:
            problem = f"transaction {seq}: its lines sum to {total}, not 0"
            return Verification(False, seq - 1, problem, seq)
        # A line holds to the members table only through its transaction (migration 0021).
        for line in lines:
            if line.line_member_id != transaction.member_id:
                problem = (
                    f"transaction {seq}: line {line.line_no} names member {line.line_member_id},"
                    f" the transaction member {transaction.member_id}"
                )
                return Verification(False, seq - 1, problem, seq)
        digest = chain_hash(
            previous,
            program_id,
            Seq(seq),
            transaction.member_id,
            transaction.kind,
            transaction.occurred_at,
            EventNo(transaction.event_no) if transaction.event_no is not None else None,
            transaction.actor,
            transaction.reason,
            entries,
        )
        if digest != transaction.hash:
            problem = f"transaction {seq}: its content does not match its hash (edited?)"
            return Verification(False, seq - 1, problem, seq)
        previous = transaction.hash
    if head.last_seq != seq or head.last_hash != previous:
        problem = f"the ledger head names transaction {head.last_seq}, the chain ends at {seq}"
        return Verification(False, seq, problem, seq + 1)
    return None


def _balance_problem(uow: UnitOfWork, program_id: ProgramId) -> str | None:
    sums = uow.ledger.member_sums(program_id)
    for row in uow.members.balances(program_id):
        for account, cached in (
            (Account.AVAILABLE, row.available),
            (Account.PENDING, row.pending),
            (Account.HELD, row.held),
            (Account.DEBT, row.debt),
            (Account.CREDIT, row.credit),
            (Account.CREDIT_PENDING, row.credit_pending),
            (Account.CREDIT_DEBT, row.credit_debt),
        ):
            actual = sums.get((MemberId(row.id), account.value), 0)
            if actual != cached:
                return f"member {row.id}: cached {account.value} {cached} != lines' sum {actual}"
    lot_sums = uow.ledger.lot_sums(program_id)
    for lot_no, remaining in uow.ledger.lot_remainders(program_id).items():
        actual = lot_sums.get(LotNo(lot_no), 0)
        if actual != remaining:
            return f"lot {lot_no}: remaining {remaining} != its lines' sum {actual}"
    return None
