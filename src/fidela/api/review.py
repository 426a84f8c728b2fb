"""The admin's review queue: points held (daily cap, velocity) and members flagged
(refunds), each released or rejected with a reason."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Protocol

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from fidela.api.dependencies import Admin, Idempotent, Now, Uow, Writer
from fidela.domain.events import WithoutNul
from fidela.domain.ids import ID_MAX, ProgramId
from fidela.services import flags, held
from fidela.services.idempotency import Answer
from fidela.services.keys import Caller
from fidela.store.unit_of_work import UnitOfWork

router = APIRouter(prefix="/v1/programs/{program_id}", tags=["review"])
LotPath = Annotated[int, Path(ge=1, le=ID_MAX, description="The held lot, as the queue lists it.")]
FlagPath = Annotated[int, Path(ge=1, le=ID_MAX, description="The flag, as the queue lists it.")]


class Decision(Protocol):
    def __call__(
        self,
        uow: UnitOfWork,
        program_id: ProgramId,
        item: int,
        /,
        *,
        actor: str,
        reason: str,
        now: datetime,
    ) -> dict[str, Any]: ...


class DecisionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, Field(min_length=1, max_length=500), WithoutNul]


@router.get("/held")
def queue(caller: Admin, uow: Uow) -> list[dict[str, Any]]:
    """Points held above the daily cap, waiting for a decision, oldest first."""
    return held.listed(uow, caller.program_id)


@router.post("/held/{lot_no}/release")
def release(
    caller: Admin, uow: Uow, now: Now, lot_no: LotPath, body: DecisionBody, write: Idempotent
) -> JSONResponse:
    """Grant the held points; the key that decided is recorded as the actor."""
    return _decide(held.release, caller, uow, now, lot_no, body, write)


@router.post("/held/{lot_no}/reject")
def reject(
    caller: Admin, uow: Uow, now: Now, lot_no: LotPath, body: DecisionBody, write: Idempotent
) -> JSONResponse:
    """Refuse the held points: they are reversed; the key that decided is the actor."""
    return _decide(held.reject, caller, uow, now, lot_no, body, write)


@router.get("/flags")
def flagged(caller: Admin, uow: Uow) -> list[dict[str, Any]]:
    """Members flagged for an admin (refunds beyond the program's share), oldest first."""
    return flags.listed(uow, caller.program_id)


@router.post("/flags/{flag_id}/release")
def clear_flag(
    caller: Admin, uow: Uow, now: Now, flag_id: FlagPath, body: DecisionBody, write: Idempotent
) -> JSONResponse:
    """Nothing wrong: close the flag as released; the key that decided is the actor."""
    return _decide(flags.release, caller, uow, now, flag_id, body, write)


@router.post("/flags/{flag_id}/reject")
def uphold_flag(
    caller: Admin, uow: Uow, now: Now, flag_id: FlagPath, body: DecisionBody, write: Idempotent
) -> JSONResponse:
    """Uphold the flag (the shop acts on it): close it as rejected."""
    return _decide(flags.reject, caller, uow, now, flag_id, body, write)


def _decide(
    decision: Decision,
    caller: Caller,
    uow: UnitOfWork,
    now: datetime,
    item: int,
    body: DecisionBody,
    write: Writer,
) -> JSONResponse:
    def work() -> Answer:
        actor = f"key:{caller.key_id}"
        decided = decision(uow, caller.program_id, item, actor=actor, reason=body.reason, now=now)
        return Answer(200, decided)

    return write.once(caller, body.model_dump(), work)
