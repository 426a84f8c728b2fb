"""Referrals: a member's code and link, and every referral for the program's admins."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from fidela.api.dependencies import Admin, After, Integration, Limit, MemberRef, Uow
from fidela.domain.referrals import Status
from fidela.services import members, referrals

router = APIRouter(prefix="/v1/programs/{program_id}", tags=["referrals"])


@router.get("/members/{ref}/referral")
def of_member(caller: Integration, uow: Uow, ref: MemberRef) -> dict[str, Any]:
    """The member's code and link to share (given on first request), who referred them,
    and the friends they referred with what became of each."""
    member_id = members.locate(uow, caller.program_id, ref)
    return referrals.of_member(uow, caller.program_id, member_id)


@router.get("/referrals")
def page(
    caller: Admin,
    uow: Uow,
    status: Annotated[Status | None, Query(description="refused: suspected fraud.")] = None,
    after: After = 0,
    limit: Limit = 100,
) -> dict[str, Any]:
    """Referrals in id order, a page at a time: pass the answer's `next` as `after`."""
    return referrals.page(uow, caller.program_id, status=status, after=after, limit=limit)
