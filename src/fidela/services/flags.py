"""Flags: members who refund too much of what they buy, raised as their refunds come,
and an admin's decision on each."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from fidela.domain.errors import NotFound, accountable
from fidela.domain.fraud import refunds_too_much
from fidela.domain.ids import MemberId, ProgramId
from fidela.domain.program import Program
from fidela.store.unit_of_work import UnitOfWork

REFUND_ABUSE = "refund_abuse"


def flag_refunds(
    uow: UnitOfWork, program: Program, member_ids: Collection[MemberId], now: datetime
) -> None:
    """In the refunds' transaction, once they are written: flag the members among
    `member_ids` whose refunds now pass the program's share (one open flag each)."""
    if not member_ids or program.caps is None or program.caps.flag_refund_share is None:
        return
    ids = sorted(member_ids)
    already = uow.flags.open_for(ids, REFUND_ABUSE)
    for member_id, buying in sorted(uow.flags.buying(ids).items()):
        if member_id not in already and refunds_too_much(program, buying):
            details = buying._asdict() | {"share": str(program.caps.flag_refund_share)}
            uow.flags.add(ProgramId(program.program), member_id, REFUND_ABUSE, details, now)


def listed(uow: UnitOfWork, program_id: ProgramId) -> list[dict[str, Any]]:
    """The open flags, oldest first."""
    with uow.reading() as reader:
        rows = reader.flags.listed(program_id)
    return [
        {
            "flag": row.id,
            "member_id": row.member_id,
            "kind": row.kind,
            "details": row.details,
            "flagged_at": row.flagged_at.isoformat(),
        }
        for row in rows
    ]


def release(
    uow: UnitOfWork, program_id: ProgramId, flag_id: int, *, actor: str, reason: str, now: datetime
) -> dict[str, Any]:
    """The admin finds nothing wrong: the flag is closed as released."""
    return _decide(uow, program_id, flag_id, "released", actor=actor, reason=reason, now=now)


def reject(
    uow: UnitOfWork, program_id: ProgramId, flag_id: int, *, actor: str, reason: str, now: datetime
) -> dict[str, Any]:
    """The admin upholds the flag (the shop acts on it): closed as rejected."""
    return _decide(uow, program_id, flag_id, "rejected", actor=actor, reason=reason, now=now)


def _decide(
    uow: UnitOfWork,
    program_id: ProgramId,
    flag_id: int,
    status: str,
    *,
    actor: str,
    reason: str,
    now: datetime,
) -> dict[str, Any]:
    actor, reason = accountable(actor, reason, why="the flag is closed that way")
    with uow:
        if not uow.flags.decide(program_id, flag_id, status, actor, reason, now):
            raise NotFound("flag_id", f"no open flag {flag_id} in {program_id}")
        uow.commit()
    return {"flag": flag_id, "status": status}
