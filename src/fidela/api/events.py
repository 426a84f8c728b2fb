"""Events: a purchase, refund, birthday or named activity, applied once per idempotency key."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Response, status

from fidela.api.dependencies import Integration, Now, Uow
from fidela.domain.errors import InvalidInput
from fidela.domain.events import parse_event
from fidela.services import events

router = APIRouter(prefix="/v1/programs/{program_id}", tags=["events"])


@router.post(
    "/events",
    status_code=status.HTTP_201_CREATED,
    responses={200: {"description": "A retry: the first result, nothing changed."}},
)
def record_event(
    caller: Integration,
    uow: Uow,
    now: Now,
    response: Response,
    event: Annotated[
        dict[str, Any], Body(description="The event, as `fidela event record` takes it.")
    ],
    idempotency_key: Annotated[str | None, Header()] = None,
) -> dict[str, Any]:
    """Record an event; the same key with the same content returns the first result."""
    body_key = event.get("idempotency_key")
    if idempotency_key is not None and body_key not in (None, idempotency_key):
        raise InvalidInput("idempotency_key", "differs from the Idempotency-Key header")
    if body_key is None and idempotency_key is not None:
        event = {**event, "idempotency_key": idempotency_key}
    recorded = events.record(uow, caller.program_id, parse_event(event), now=now)
    if recorded.duplicate:
        response.status_code = status.HTTP_200_OK
    return {"event_no": recorded.event_no, "duplicate": recorded.duplicate, **recorded.result}
