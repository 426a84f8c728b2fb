"""Rewards: redeeming one for a voucher, cancelling it, and vouchers at the till."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from fidela.api.dependencies import Anyone, Idempotent, Integration, MemberRef, Now, Uow
from fidela.domain.events import Text, WithoutNul
from fidela.domain.ids import ID_MAX
from fidela.domain.program import Positive
from fidela.domain.rewards import Payment
from fidela.services import members, programs, rewards
from fidela.services.idempotency import Answer

router = APIRouter(prefix="/v1/programs/{program_id}", tags=["rewards"])
VoucherCode = Annotated[str, Path(description="As printed, in any case."), WithoutNul]


class RedemptionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reward_id: str = Field(min_length=1, max_length=64)
    payment: Payment | None = Field(
        None, description="For a points_as_payment reward only: the order and the points."
    )


class ConsumptionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    order_id: Text | None = None


@router.get("/rewards")
def catalog(caller: Anyone, uow: Uow) -> list[dict[str, Any]]:
    """The rewards members can redeem, with their cost and conditions."""
    catalog: list[dict[str, Any]] = programs.described(uow, caller.program_id)["rewards"]
    return catalog


@router.post("/members/{ref}/redemptions", status_code=201)
def redeem(
    caller: Integration,
    uow: Uow,
    now: Now,
    ref: MemberRef,
    body: RedemptionBody,
    write: Idempotent,
) -> JSONResponse:
    """Spend a reward's points and issue its voucher; never below a zero balance."""

    def work() -> Answer:
        member_id = members.locate(uow, caller.program_id, ref)
        redeemed = rewards.redeem(
            uow, caller.program_id, member_id, body.reward_id, payment=body.payment, now=now
        )
        return Answer(201, redeemed)

    return write.once(caller, body.model_dump(mode="json"), work)


@router.get("/members/{ref}/rewards/{reward_id}/quote")
def quote(
    caller: Integration,
    uow: Uow,
    now: Now,
    ref: MemberRef,
    reward_id: Annotated[str, Path(min_length=1, max_length=64)],
    order_amount: Annotated[Positive, Query(description="The order's amount, e.g. 80.00.")],
) -> dict[str, Any]:
    """How many of the member's points can pay for this order (a points_as_payment reward)."""
    member_id = members.locate(uow, caller.program_id, ref)
    return rewards.quote(uow, caller.program_id, member_id, reward_id, order_amount, now=now)


@router.post("/redemptions/{redemption_id}/cancel")
def cancel(
    caller: Integration,
    uow: Uow,
    now: Now,
    redemption_id: Annotated[int, Path(ge=1, le=ID_MAX)],
    write: Idempotent,
) -> JSONResponse:
    """Cancel a redemption whose voucher is unused; its points return to their lots."""

    def work() -> Answer:
        return Answer(200, rewards.cancel(uow, caller.program_id, redemption_id, now=now))

    return write.once(caller, None, work)


@router.get("/vouchers/{code}")
def validate_voucher(caller: Integration, uow: Uow, code: VoucherCode) -> dict[str, Any]:
    """What a voucher is worth and whether it can still be used."""
    return rewards.validate_voucher(uow, caller.program_id, code)


@router.post("/vouchers/{code}/consume")
def consume_voucher(
    caller: Integration,
    uow: Uow,
    now: Now,
    code: VoucherCode,
    body: ConsumptionBody,
    write: Idempotent,
) -> JSONResponse:
    """Use a voucher, exactly once even when two tills try at the same moment."""

    def work() -> Answer:
        consumed = rewards.consume_voucher(
            uow, caller.program_id, code, order_id=body.order_id, now=now
        )
        return Answer(200, consumed)

    return write.once(caller, body.model_dump(), work)
