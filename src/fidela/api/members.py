"""Members: enroll, and read a member's balances, lots and history with every reason."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response, status

from fidela.api.dependencies import Admin, Integration, Now, Uow
from fidela.domain.events import EnrollmentForm, MemberUpdate, parse_enrollment
from fidela.domain.ids import ID_MAX
from fidela.services import members

router = APIRouter(prefix="/v1/programs/{program_id}/members", tags=["members"])


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
    return {"member_id": enrolled.member_id, "created": enrolled.created}


@router.get("")
def page(
    caller: Admin,
    uow: Uow,
    after: Annotated[
        int, Query(ge=0, le=ID_MAX, description="The `next` of the previous page.")
    ] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    tier: Annotated[str | None, Query(description="Only members holding this tier.")] = None,
) -> dict[str, Any]:
    """Members in id order, a page at a time: pass the answer's `next` as `after`."""
    return members.page(uow, caller.program_id, after=after, limit=limit, tier=tier)


@router.get("/{ref}")
def show(
    caller: Integration,
    uow: Uow,
    ref: Annotated[str, Path(description="The member's e-mail or the shop's customer id.")],
    by_member_id: Annotated[bool, Query(description="`ref` is Fidela's member id.")] = False,
) -> dict[str, Any]:
    """A member's balances, tier, open lots and history, each line with its cause."""
    return members.show(uow, caller.program_id, ref, by_member_id=by_member_id)


@router.patch("/{ref}")
def update(
    caller: Integration,
    uow: Uow,
    now: Now,
    ref: Annotated[str, Path(description="The member's e-mail or the shop's customer id.")],
    changes: MemberUpdate,
) -> dict[str, Any]:
    """Change a member's e-mail, name or birthday; fields left out stay as they are."""
    return members.update(uow, caller.program_id, ref, changes, now=now)
