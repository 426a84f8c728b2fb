"""Manual adjustments: an admin adds or takes points, always with a reason."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fidela.domain.errors import InvalidInput, accountable
from fidela.domain.ids import MemberId, ProgramId
from fidela.domain.ledger import POINTS_MAX
from fidela.domain.members import lot_expiry
from fidela.services.members import catch_up, post_member
from fidela.store.unit_of_work import UnitOfWork


def adjust(
    uow: UnitOfWork,
    program_id: ProgramId,
    member_id: MemberId,
    points: int,
    *,
    actor: str,
    reason: str,
    now: datetime,
) -> dict[str, Any]:
    """Credit (points > 0) or debit (points < 0) a member; a debit can't overdraw."""
    if points == 0:
        raise InvalidInput("points", "must not be zero")
    if abs(points) > POINTS_MAX:
        raise InvalidInput("points", f"must be between -{POINTS_MAX:,} and {POINTS_MAX:,}")
    actor, reason = accountable(actor, reason, why="the points change")
    with uow:
        program = uow.programs.current(program_id).program
        state, outcome = catch_up(uow, program, member_id, now)
        expires_at = lot_expiry(program, state, now)
        adjustment = state.wallet.adjust(
            points, now, expires_at=expires_at, actor=actor, reason=reason
        )
        outcome.add(adjustment)
        seq = post_member(uow, program, member_id, state, outcome, now)[-1]
        uow.commit()
    return {
        "seq": seq,
        "points": points,
        "available": state.wallet.available,
        "debt": state.wallet.debt,
    }
