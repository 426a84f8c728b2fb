"""Adjustments: an admin credits or debits a member, with the reason kept in the ledger."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from fidela.api.dependencies import Admin, Idempotent, MemberRef, Now, Uow
from fidela.domain.events import WithoutNul
from fidela.domain.ledger import POINTS_MAX
from fidela.services import adjustments, members
from fidela.services.idempotency import Answer

router = APIRouter(prefix="/v1/programs/{program_id}", tags=["adjustments"])


class AdjustmentBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    points: int = Field(
        ge=-POINTS_MAX,
        le=POINTS_MAX,
        description="Positive to credit, negative to debit; never zero.",
    )
    reason: Annotated[str, Field(min_length=1, max_length=500), WithoutNul]


@router.post("/members/{ref}/adjustments", status_code=201)
def adjust(
    caller: Admin,
    uow: Uow,
    now: Now,
    ref: MemberRef,
    body: AdjustmentBody,
    write: Idempotent,
) -> JSONResponse:
    """Credit or debit a member's points; the key that asked is recorded as the actor."""

    def work() -> Answer:
        member_id = members.locate(uow, caller.program_id, ref)
        adjusted = adjustments.adjust(
            uow,
            caller.program_id,
            member_id,
            body.points,
            actor=f"key:{caller.key_id}",
            reason=body.reason,
            now=now,
        )
        return Answer(201, adjusted)

    return write.once(caller, body.model_dump(), work)
