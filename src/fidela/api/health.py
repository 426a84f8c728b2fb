"""Liveness and readiness, for load balancers and orchestrators; no key needed."""

from __future__ import annotations

from fastapi import APIRouter, Request

from fidela.api import problems
from fidela.store.database import check_schema

router = APIRouter(tags=["operations"])


@router.get("/health")
async def health() -> dict[str, str]:
    """The process answers."""
    return {"status": "ok"}


@router.get("/ready", responses={503: problems.response("Database unreachable or outdated.")})
def ready(request: Request) -> dict[str, str]:
    """The database answers and its schema is the one this Fidela needs."""
    check_schema(request.app.state.engine)
    return {"status": "ready"}
