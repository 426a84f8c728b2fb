"""Store credit (cashback) at checkout: a payment with it, and its cancellation."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from fidela.api.dependencies import Idempotent, Integration, MemberRef, Now, Uow
from fidela.domain.events import Text
from fidela.domain.ids import ID_MAX
from fidela.domain.program import Positive
from fidela.services import credit, members
from fidela.services.idempotency import Answer

router = APIRouter(prefix="/v1/programs/{program_id}", tags=["credit"])


class PaymentBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: Positive = Field(description="The credit spent, e.g. 5.00.")
    currency: str = Field(pattern=r"^[A-Z]{3}$", description="The program's currency.")
    order_id: Text | None = None


@router.post("/members/{ref}/credit/payments", status_code=201)
def pay(
    caller: Integration,
    uow: Uow,
    now: Now,
    ref: MemberRef,
    body: PaymentBody,
    write: Idempotent,
) -> JSONResponse:
    """Pay part of an order with the member's available credit; never below zero."""

    def work() -> Answer:
        member_id = members.locate(uow, caller.program_id, ref)
        paid = credit.pay(
            uow,
            caller.program_id,
            member_id,
            body.amount,
            body.currency,
            order_id=body.order_id,
            now=now,
        )
        return Answer(201, paid)

    return write.once(caller, body.model_dump(mode="json"), work)


@router.post("/credit-payments/{payment_id}/cancel")
def cancel(
    caller: Integration,
    uow: Uow,
    now: Now,
    payment_id: Annotated[int, Path(ge=1, le=ID_MAX)],
    write: Idempotent,
) -> JSONResponse:
    """Cancel a payment with credit (the order did not go through): the credit goes back."""

    def work() -> Answer:
        return Answer(200, credit.cancel(uow, caller.program_id, payment_id, now=now))

    return write.once(caller, None, work)
