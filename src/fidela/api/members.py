"""Members: enroll, and read a member's balances, lots and history with every reason."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field

from fidela.api.answers import json_answer
from fidela.api.dependencies import (
    Admin,
    After,
    ByMemberId,
    Integration,
    Limit,
    MemberRef,
    Now,
    Uow,
)
from fidela.domain.events import EnrollmentForm, MemberUpdate, parse_enrollment
from fidela.domain.keys import TOKEN_TTL, TOKEN_TTL_MAX
from fidela.domain.program import Slug
from fidela.services import challenges, keys, members

router = APIRouter(prefix="/v1/programs/{program_id}/members", tags=["members"])
SpentToo = Annotated[bool, Query(description="Also the lots spent, expired or reversed.")]


class TokenBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ttl_seconds: int = Field(
        default=int(TOKEN_TTL.total_seconds()),
        ge=1,
        le=int(TOKEN_TTL_MAX.total_seconds()),
        description="How long the token lives.",
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses={200: {"description": "Already a member: that member, nothing changed."}},
)
def enroll(
    caller: Integration, uow: Uow, now: Now, response: Response, body: EnrollmentForm
) -> dict[str, Any]:
    """Enroll a customer now; the same e-mail or customer id again returns the member."""
    enrollment = parse_enrollment(body.model_dump() | {"enrolled_at": now})
    enrolled = members.enroll(uow, caller.program_id, enrollment, now=now)
    if not enrolled.created:
        response.status_code = status.HTTP_200_OK
    answer: dict[str, Any] = {"member_id": enrolled.member_id, "created": enrolled.created}
    if enrolled.referral is not None:
        answer["referral"] = enrolled.referral
    return answer


@router.get("")
def page(
    caller: Admin,
    uow: Uow,
    after: After = 0,
    limit: Limit = 100,
    tier: Annotated[Slug | None, Query(description="Only members holding this tier.")] = None,
) -> dict[str, Any]:
    """Members in id order, a page at a time: pass the answer's `next` as `after`."""
    return members.page(uow, caller.program_id, after=after, limit=limit, tier=tier)


@router.get("/{ref}")
def show(
    caller: Integration,
    uow: Uow,
    ref: MemberRef,
    by_member_id: ByMemberId = False,
) -> dict[str, Any]:
    """A member's balances, tier, open lots and history, each line with its cause."""
    return members.show(uow, caller.program_id, ref, by_member_id=by_member_id)


@router.get("/{ref}/balance", response_model=dict[str, Any])
async def balance(
    caller: Integration, uow: Uow, ref: MemberRef, by_member_id: ByMemberId = False
) -> Response:
    """A member's points, tier and next expiry: the light read a till makes at checkout."""
    # On the event loop, though it waits for the database: see members.balance.
    return json_answer(members.balance(uow, caller.program_id, ref, by_member_id=by_member_id))


@router.get("/{ref}/challenges")
def challenge_progress(
    caller: Integration, uow: Uow, now: Now, ref: MemberRef, by_member_id: ByMemberId = False
) -> dict[str, Any]:
    """Where the member stands on each challenge ("2 of 3 this month"), and their badges."""
    member_id = members.locate(uow, caller.program_id, ref, by_member_id=by_member_id)
    return challenges.progress(uow, caller.program_id, member_id, now=now)


@router.patch("/{ref}")
def update(
    caller: Integration,
    uow: Uow,
    now: Now,
    ref: MemberRef,
    changes: MemberUpdate,
) -> dict[str, Any]:
    """Change a member's e-mail, name or birthday; fields left out stay as they are."""
    return members.update(uow, caller.program_id, ref, changes, now=now)


@router.get("/{ref}/history")
def history(
    caller: Integration, uow: Uow, ref: MemberRef, after: After = 0, limit: Limit = 100
) -> dict[str, Any]:
    """A member's history, oldest first, each change with its cause, a page at a time."""
    member_id = members.locate(uow, caller.program_id, ref)
    return members.history(uow, caller.program_id, member_id, after=after, limit=limit)


@router.get("/{ref}/lots")
def lots(
    caller: Integration,
    uow: Uow,
    ref: MemberRef,
    after: After = 0,
    limit: Limit = 100,
    spent: SpentToo = False,
) -> dict[str, Any]:
    """A member's lots in the order earned, each with what is left and when it expires."""
    member_id = members.locate(uow, caller.program_id, ref)
    return members.lots(
        uow, caller.program_id, member_id, after=after, limit=limit, open_only=not spent
    )


@router.post("/{ref}/tokens", status_code=status.HTTP_201_CREATED)
def token(
    caller: Integration, uow: Uow, now: Now, ref: MemberRef, body: TokenBody
) -> dict[str, Any]:
    """A short-lived token for this member's app or portal: it reaches `/me` only."""
    member_id = members.locate(uow, caller.program_id, ref)
    ttl = timedelta(seconds=body.ttl_seconds)
    return keys.member_token(uow, caller.program_id, member_id, ttl=ttl, now=now)
