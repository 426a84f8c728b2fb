"""The application factory: one FastAPI app on one engine, with no import-time effects."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime

from fastapi import FastAPI
from sqlalchemy import Engine

from fidela import __version__
from fidela.api import (
    adjustments,
    analytics,
    campaigns,
    credit,
    events,
    health,
    jobs,
    leaderboard,
    ledger,
    me,
    members,
    memberships,
    metrics,
    privacy,
    problems,
    programs,
    referrals,
    review,
    rewards,
    segments,
    webhooks,
)
from fidela.api.middleware import EveryRequest
from fidela.config import Settings
from fidela.notify.webhooks import Worker, utc_now
from fidela.services.recorder import Recorder
from fidela.store.database import make_engine

Clock = Callable[[], datetime]
SERVER_OVERFLOW = 10  # connections a worker may open beyond its pool, in a burst


def create_app(
    engine: Engine, *, clock: Clock = utc_now, deliver_webhooks: bool = False
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
    app.state.recorder = Recorder(on_group=app.state.metrics.event_groups.observe)
    problems.install(app)
    app.add_middleware(EveryRequest)
    for module in (
        health,
        metrics,
        programs,
        events,
        members,
        me,
        privacy,
        rewards,
        credit,
        memberships,
        referrals,
        adjustments,
        review,
        ledger,
        jobs,
        segments,
        analytics,
        campaigns,
        leaderboard,
        webhooks,
    ):
        app.include_router(module.router)
    return app


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


def from_settings() -> FastAPI:
    """The app on the configured database: what each `fidela serve` worker runs."""
    settings = Settings()
    engine = make_engine(settings.url, pool_size=settings.pool_size, max_overflow=SERVER_OVERFLOW)
    app = create_app(engine, deliver_webhooks=True)
    # What lives as long as the worker (modules, the schema, the app) is kept out of the
    # cyclic collector's way: its full collections walked it all, about a tenth of a batch.
    gc.freeze()
    return app
