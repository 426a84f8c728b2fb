"""Held points (daily cap, velocity): the admin's queue, and releasing or rejecting them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from fidela.domain import members as member_rules
from fidela.domain.errors import NotFound, accountable
from fidela.domain.ids import LotNo, MemberId, ProgramId
from fidela.domain.members import MemberState, Outcome
from fidela.domain.program import Program
from fidela.services.members import catch_up, post_member
from fidela.store.unit_of_work import UnitOfWork


def listed(uow: UnitOfWork, program_id: ProgramId) -> list[dict[str, Any]]:
    """What waits for a decision, oldest first."""
    with uow.reading() as reader:
        rows = reader.ledger.held_lots(program_id)
    return [
        {
            "lot": row.lot_no,
            "member_id": row.member_id,
            "points": row.remaining,
            "rule": row.rule_id,
            "order_id": row.order_ref,
            "earned_at": row.earned_at.isoformat(),
        }
        for row in rows
    ]


def release(
    uow: UnitOfWork, program_id: ProgramId, lot_no: int, *, actor: str, reason: str, now: datetime
) -> dict[str, Any]:
    """Grant held points after all: the member can spend them (after any waiting time)."""
    actor, reason = accountable(actor, reason, why="the points are released")

    def decide(program: Program, state: MemberState) -> Outcome:
        return member_rules.release_held(program, state, lot_no, now, actor=actor, reason=reason)

    return _decide(uow, program_id, lot_no, decide, now=now)


def reject(
    uow: UnitOfWork, program_id: ProgramId, lot_no: int, *, actor: str, reason: str, now: datetime
) -> dict[str, Any]:
    """Refuse held points: they are reversed, and the member's history says why."""
    actor, reason = accountable(actor, reason, why="the points are rejected")

    def decide(_program: Program, state: MemberState) -> Outcome:
        return member_rules.reject_held(state, lot_no, now, actor=actor, reason=reason)

    return _decide(uow, program_id, lot_no, decide, now=now)


def _decide(
    uow: UnitOfWork,
    program_id: ProgramId,
    lot_no: int,
    decide: Callable[[Program, MemberState], Outcome],
    *,
    now: datetime,
) -> dict[str, Any]:
    with uow:
        program = uow.programs.current(program_id).program
        found = uow.ledger.held_lots(program_id, LotNo(lot_no))
        if not found:
            raise NotFound("lot_no", f"no held points in lot {lot_no}")
        member_id = MemberId(found[0].member_id)
        state, outcome = catch_up(uow, program, member_id, now)  # locks the member
        outcome.extend(decide(program, state))  # NotFound if another admin decided meanwhile
        seq = post_member(uow, program, member_id, state, outcome, now)[-1]
        uow.commit()
    return {
        "lot": lot_no,
        "member_id": member_id,
        "seq": seq,
        "available": state.wallet.available,
        "pending": state.wallet.pending,
        "held": state.wallet.held,
    }
