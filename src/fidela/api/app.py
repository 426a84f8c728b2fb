"""The application factory: one FastAPI app on one engine, with no import-time effects."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from fastapi import FastAPI, Request, Response
from sqlalchemy import Engine

from fidela import __version__
from fidela.api import (
    adjustments,
    events,
    health,
    jobs,
    ledger,
    members,
    metrics,
    problems,
    programs,
    rewards,
)
from fidela.config import Settings
from fidela.store.database import make_engine

Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


def create_app(engine: Engine, *, clock: Clock = _utc_now) -> FastAPI:
    """The API on `engine`; `clock` gives "now" (tests pass a fixed one)."""
    app = FastAPI(
        title="Fidela",
        version=__version__,
        summary="A loyalty-program engine: points, tiers, rewards and an exact ledger.",
        openapi_url="/openapi.json",
    )
    app.state.engine = engine
    app.state.clock = clock
    app.state.metrics = metrics.Metrics()
    problems.install(app)
    app.middleware("http")(metrics.measure)
    app.middleware("http")(_request_id)
    for module in (health, metrics, programs, events, members, rewards, adjustments, ledger, jobs):
        app.include_router(module.router)
    return app


async def _request_id(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    """Give every request an id (the caller's X-Request-Id if sent), echoed in the answer."""
    given = request.headers.get("x-request-id", "")
    request.state.request_id = given if 0 < len(given) <= 100 else uuid.uuid4().hex
    response = await call_next(request)
    response.headers["X-Request-Id"] = request.state.request_id
    return response


def from_settings() -> FastAPI:
    """The app on the configured database: what each `fidela serve` worker runs."""
    return create_app(make_engine(Settings().url))
