"""`/me`: a member's own account, for their app or portal, with a member token.

A shop's server asks for a token (`POST /members/{ref}/tokens`) once the member has
signed in with the shop, and hands it to the app; the token reaches this member's
account and the rewards catalog, nothing else, and lapses within hours.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from fidela.api.dependencies import After, Idempotent, Limit, Member, Now, Uow
from fidela.api.rewards import RedemptionBody
from fidela.domain.ids import MemberId
from fidela.services import members, rewards
from fidela.services.idempotency import Answer
from fidela.services.keys import Caller

router = APIRouter(prefix="/v1/programs/{program_id}/me", tags=["me"])


def _member(caller: Caller) -> MemberId:
    assert caller.member_id is not None  # every member token names its member
    return MemberId(caller.member_id)


@router.get("")
def account(caller: Member, uow: Uow) -> dict[str, Any]:
    """The member's balances, tier, open lots, history and redemptions."""
    return members.show(uow, caller.program_id, str(_member(caller)), by_member_id=True)


@router.get("/balance")
async def balance(caller: Member, uow: Uow) -> dict[str, Any]:
    """The member's points, tier and next expiry."""
    # On the event loop, though it waits for the database: see members.balance.
    return members.balance(uow, caller.program_id, str(_member(caller)), by_member_id=True)


@router.get("/history")
def history(caller: Member, uow: Uow, after: After = 0, limit: Limit = 100) -> dict[str, Any]:
    """The member's history, oldest first, a page at a time."""
    return members.history(uow, caller.program_id, _member(caller), after=after, limit=limit)


@router.post("/redemptions", status_code=201)
def redeem(
    caller: Member, uow: Uow, now: Now, body: RedemptionBody, write: Idempotent
) -> JSONResponse:
    """Redeem a reward from the member's own points."""

    def work() -> Answer:
        redeemed = rewards.redeem(
            uow, caller.program_id, _member(caller), body.reward_id, payment=body.payment, now=now
        )
        return Answer(201, redeemed)

    return write.once(caller, body.model_dump(), work)
