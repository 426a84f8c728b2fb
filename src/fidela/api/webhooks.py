"""Webhooks: subscriptions, their deliveries with every attempt, and replaying one."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from fidela.api.dependencies import Admin, After, Idempotent, Limit, Now, Uow
from fidela.domain.events import WithoutNul
from fidela.domain.ids import ID_MAX
from fidela.domain.webhooks import KINDS
from fidela.services import webhooks
from fidela.services.idempotency import Answer

router = APIRouter(prefix="/v1/programs/{program_id}/webhooks", tags=["webhooks"])
IdPath = Annotated[int, Path(ge=1, le=ID_MAX)]


class SubscriptionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: Annotated[
        str,
        Field(min_length=1, max_length=2000, description="Where deliveries are POSTed."),
        WithoutNul,
    ]
    events: list[str] | None = Field(
        default=None,
        max_length=len(KINDS),
        description=f"The kinds to receive; all if left out. Known: {', '.join(KINDS)}.",
    )


@router.post("", status_code=201)
def subscribe(
    caller: Admin, uow: Uow, now: Now, body: SubscriptionBody, write: Idempotent
) -> JSONResponse:
    """Subscribe a URL; the answer holds the secret that signs every delivery, once."""

    def work() -> Answer:
        subscribed = webhooks.subscribe(uow, caller.program_id, body.url, body.events, now=now)
        return Answer(201, subscribed)

    return write.once(caller, body.model_dump(), work)


@router.get("")
def subscriptions(caller: Admin, uow: Uow) -> list[dict[str, Any]]:
    """The program's subscriptions, stopped ones too, without secrets."""
    return webhooks.subscriptions(uow, caller.program_id)


@router.delete("/{subscription_id}")
def unsubscribe(
    caller: Admin, uow: Uow, now: Now, subscription_id: IdPath, write: Idempotent
) -> JSONResponse:
    """Stop a subscription: nothing more is sent to it, not even what is pending."""

    def work() -> Answer:
        webhooks.unsubscribe(uow, caller.program_id, subscription_id, now=now)
        return Answer(200, {"subscription_id": subscription_id, "disabled": True})

    return write.once(caller, None, work)


@router.get("/deliveries")
def deliveries(
    caller: Admin,
    uow: Uow,
    status: Annotated[
        str | None, Query(description="Only `pending`, `delivered` or `failed` ones.")
    ] = None,
    after: After = 0,
    limit: Limit = 100,
) -> dict[str, Any]:
    """Deliveries in id order, each with every attempt: when, the answer, how long."""
    return webhooks.deliveries(uow, caller.program_id, status=status, after=after, limit=limit)


@router.post("/deliveries/{delivery_id}/replay")
def replay(
    caller: Admin, uow: Uow, now: Now, delivery_id: IdPath, write: Idempotent
) -> JSONResponse:
    """Send a delivery again now, with a fresh retry schedule; its past attempts stay logged."""

    def work() -> Answer:
        webhooks.replay(uow, caller.program_id, delivery_id, now=now)
        return Answer(200, {"delivery_id": delivery_id, "status": "pending"})

    return write.once(caller, None, work)
