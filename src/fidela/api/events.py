"""Events: a purchase, refund, birthday or named activity, applied once per idempotency key."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from fidela.api.dependencies import Integration, Now, Uow
from fidela.domain.errors import FidelaError, InvalidInput
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
    request: Request,
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
    counted = request.app.state.metrics.events
    try:
        recorded = events.record(uow, caller.program_id, parse_event(event), now=now)
    except FidelaError:
        counted.labels("refused").inc()
        raise
    counted.labels("duplicate" if recorded.duplicate else "recorded").inc()
    if recorded.duplicate:
        response.status_code = status.HTTP_200_OK
    return {"event_no": recorded.event_no, "duplicate": recorded.duplicate, **recorded.result}


BATCH_MAX = 1000


class Batch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    events: list[dict[str, Any]] = Field(min_length=1, max_length=BATCH_MAX)


@router.post("/events/batch")
def record_batch(
    caller: Integration, uow: Uow, now: Now, request: Request, batch: Batch
) -> dict[str, Any]:
    """Up to 1,000 events, each applied on its own: one result or problem per event, in order.

    A bad event does not stop the others; sending the batch again changes nothing, as
    every event carries its idempotency key.
    """
    results: list[dict[str, Any]] = []
    for index, data in enumerate(batch.events):
        try:
            recorded = events.record(uow, caller.program_id, parse_event(data), now=now)
        except FidelaError as error:
            results.append(
                {
                    "index": index,
                    "status": error.status,
                    "field": error.field,
                    "reason": error.reason,
                }
            )
            continue
        results.append(
            {
                "index": index,
                "status": status.HTTP_200_OK if recorded.duplicate else status.HTTP_201_CREATED,
                "event_no": recorded.event_no,
                "duplicate": recorded.duplicate,
                **recorded.result,
            }
        )
    failed = sum(1 for result in results if result["status"] >= 400)
    counted = request.app.state.metrics.events
    counted.labels("refused").inc(failed)
    counted.labels("duplicate").inc(sum(1 for result in results if result["status"] == 200))
    counted.labels("recorded").inc(sum(1 for result in results if result["status"] == 201))
    return {"recorded": len(results) - failed, "failed": failed, "results": results}
