"""Paid memberships: join, report a payment, cancel at the end of the period, read."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from fidela.api.dependencies import Idempotent, Integration, MemberRef, Now, Uow
from fidela.domain.memberships import MembershipPayment
from fidela.domain.program import Slug
from fidela.services import members, memberships
from fidela.services.idempotency import Answer

router = APIRouter(prefix="/v1/programs/{program_id}/members/{ref}", tags=["memberships"])


class JoinBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    membership_id: Slug
    payment: MembershipPayment | None = Field(
        None, description="The first payment: required by a membership without a free trial."
    )


@router.get("/membership")
def show(caller: Integration, uow: Uow, ref: MemberRef) -> dict[str, Any]:
    """The member's membership (null if they never joined) and the payments reported."""
    member_id = members.locate(uow, caller.program_id, ref)
    return memberships.show(uow, caller.program_id, member_id)


@router.post("/membership", status_code=201)
def join(
    caller: Integration, uow: Uow, now: Now, ref: MemberRef, body: JoinBody, write: Idempotent
) -> JSONResponse:
    """Join a membership: its free trial, or paid at once; 409 if one is running."""

    def work() -> Answer:
        member_id = members.locate(uow, caller.program_id, ref)
        joined = memberships.join(
            uow, caller.program_id, member_id, body.membership_id, body.payment, now=now
        )
        return Answer(201, joined)

    return write.once(caller, body.model_dump(mode="json"), work)


@router.post("/membership/payments", status_code=201)
def pay(
    caller: Integration,
    uow: Uow,
    now: Now,
    ref: MemberRef,
    body: MembershipPayment,
    write: Idempotent,
) -> JSONResponse:
    """Record a payment the shop took: converts the trial, renews, or restarts a lapsed
    membership. Send an Idempotency-Key: a retry must not pay a second period."""

    def work() -> Answer:
        member_id = members.locate(uow, caller.program_id, ref)
        return Answer(201, memberships.pay(uow, caller.program_id, member_id, body, now=now))

    return write.once(caller, body.model_dump(mode="json"), work)


@router.post("/membership/cancel")
def cancel(
    caller: Integration, uow: Uow, now: Now, ref: MemberRef, write: Idempotent
) -> JSONResponse:
    """Cancel at the end of the period: the benefits last until then, then it lapses."""

    def work() -> Answer:
        member_id = members.locate(uow, caller.program_id, ref)
        return Answer(200, memberships.cancel(uow, caller.program_id, member_id, now=now))

    return write.once(caller, None, work)
