"""Privacy: export everything held on a member, and erase their personal data."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from fidela.api.dependencies import Admin, ByMemberId, Idempotent, MemberRef, Now, Uow
from fidela.services import members, privacy
from fidela.services.idempotency import Answer

router = APIRouter(prefix="/v1/programs/{program_id}/members/{ref}", tags=["privacy"])


@router.get("/export")
def export(
    caller: Admin, uow: Uow, ref: MemberRef, by_member_id: ByMemberId = False
) -> dict[str, Any]:
    """Everything Fidela holds on the member: profile, account, events sent, orders."""
    member_id = members.locate(uow, caller.program_id, ref, by_member_id=by_member_id)
    return privacy.export(uow, caller.program_id, member_id)


@router.post("/erase")
def erase(
    caller: Admin,
    uow: Uow,
    now: Now,
    ref: MemberRef,
    write: Idempotent,
    by_member_id: ByMemberId = False,
) -> JSONResponse:
    """Forfeit the member's points and remove their personal data; the ledger still verifies."""

    def work() -> Answer:
        member_id = members.locate(uow, caller.program_id, ref, by_member_id=by_member_id)
        erased = privacy.erase(
            uow, caller.program_id, member_id, actor=f"key:{caller.key_id}", now=now
        )
        return Answer(200, erased)

    return write.once(caller, None, work)
