"""The application factory: one FastAPI app on one engine, with no import-time effects."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
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
    me,
    members,
    metrics,
    privacy,
    problems,
    programs,
    rewards,
    webhooks,
)
from fidela.config import Settings
from fidela.notify.webhooks import Worker
from fidela.store.database import make_engine

Clock = Callable[[], datetime]
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _utc_now() -> datetime:
    return datetime.now(UTC)


def create_app(
    engine: Engine, *, clock: Clock = _utc_now, deliver_webhooks: bool = False
) -> FastAPI:
    """The API on `engine`; `clock` gives "now" (tests pass a fixed one).

    With `deliver_webhooks`, a worker thread delivers webhooks while the app runs,
    woken after every write the app commits.
    """
    app = FastAPI(
        title="Fidela",
        version=__version__,
        summary="A loyalty-program engine: points, tiers, rewards and an exact ledger.",
        openapi_url="/openapi.json",
        lifespan=_delivering_webhooks if deliver_webhooks else None,
    )
    app.state.engine = engine
    app.state.clock = clock
    app.state.metrics = metrics.Metrics()
    app.state.webhooks = None
    problems.install(app)
    app.middleware("http")(metrics.measure)
    app.middleware("http")(_wake_webhooks)
    app.middleware("http")(_request_id)
    for module in (
        health,
        metrics,
        programs,
        events,
        members,
        me,
        privacy,
        rewards,
        adjustments,
        ledger,
        jobs,
        webhooks,
    ):
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


@asynccontextmanager
async def _delivering_webhooks(app: FastAPI) -> AsyncIterator[None]:
    worker = Worker(
        app.state.engine, clock=app.state.clock, on_pass=app.state.metrics.count_webhooks
    )
    worker.start()
    app.state.webhooks = worker
    try:
        yield
    finally:
        app.state.webhooks = None
        worker.stop()


async def _wake_webhooks(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    """After a write that succeeded, wake the webhook worker: there may be news."""
    response = await call_next(request)
    worker: Worker | None = request.app.state.webhooks
    if worker is not None and request.method not in SAFE_METHODS and response.status_code < 400:
        worker.wake()
    return response


def from_settings() -> FastAPI:
    """The app on the configured database: what each `fidela serve` worker runs."""
    return create_app(make_engine(Settings().url), deliver_webhooks=True)
