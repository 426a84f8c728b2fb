"""The application factory: one FastAPI app on one engine, with no import-time effects."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
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
from fidela.config import SERVED_LOCK_WAIT, Settings
from fidela.notify.webhooks import Worker, utc_now
from fidela.services import keys
from fidela.services.recorder import Recorder
from fidela.store.database import make_engine
from fidela.store.keys import KeyListener

Clock = Callable[[], datetime]
Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]
# Connections a worker may open beyond its pool, in a burst; with the one the keys'
# listener holds on PostgreSQL, a worker has at most pool size + 10.
SERVER_OVERFLOW = 9


def create_app(
    engine: Engine,
    *,
    clock: Clock = utc_now,
    deliver_webhooks: bool = False,
    cache_keys: bool = False,
) -> FastAPI:
    """The API on `engine`; `clock` gives "now" (tests pass a fixed one).

    While the app runs: with `deliver_webhooks`, a worker thread delivers webhooks,
    woken after every write the app commits; with `cache_keys` (PostgreSQL only), the
    keys it checked are remembered, forgotten when PostgreSQL tells of their change.
    """
    app = FastAPI(
        title="Fidela",
        version=__version__,
        summary="A loyalty-program engine: points, tiers, rewards and an exact ledger.",
        openapi_url="/openapi.json",
        lifespan=_running(deliver_webhooks=deliver_webhooks, cache_keys=cache_keys),
    )
    app.state.engine = engine
    app.state.clock = clock
    app.state.metrics = metrics.Metrics()
    app.state.webhooks = None
    app.state.keys = None  # a KeyCache, while its listener runs
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


def _running(*, deliver_webhooks: bool, cache_keys: bool) -> Lifespan | None:
    """The threads that run beside the app: the webhook worker, the keys' listener."""
    if not (deliver_webhooks or cache_keys):
        return None

    @asynccontextmanager
    async def running(app: FastAPI) -> AsyncIterator[None]:
        state = app.state
        threads: list[Worker | KeyListener] = []
        if deliver_webhooks:
            state.webhooks = Worker(
                state.engine, clock=state.clock, on_pass=state.metrics.count_webhooks
            )
            threads.append(state.webhooks)
        if cache_keys and (watched := keys.watched(state.engine)) is not None:
            state.keys, listener = watched
            threads.append(listener)
        for thread in threads:
            thread.start()
        try:
            yield
        finally:
            state.webhooks = state.keys = None
            for thread in threads:
                thread.stop()

    return running


# Objects a served worker's young generation holds before the cyclic collector looks at
# them (Python's default: 700). A batch of 1,000 events makes hundreds of thousands, nearly
# all freed by their reference counts; at 700, collections kept walking those still in use
# (the members' states), about 10 ms of a batch's 140 ms of CPU in process, 1-3 ms since.
YOUNG_GENERATION = 50_000


def from_settings() -> FastAPI:
    """The app on the configured database: what each `fidela serve` worker runs."""
    settings = Settings()
    engine = make_engine(
        settings.url,
        pool_size=settings.pool_size,
        max_overflow=SERVER_OVERFLOW,
        lock_wait=settings.lock_wait or SERVED_LOCK_WAIT,
    )
    app = create_app(engine, deliver_webhooks=True, cache_keys=True)
    # What lives as long as the worker (modules, the schema, the app) is kept out of the
    # cyclic collector's way: its full collections walked it all, about a tenth of a batch.
    gc.freeze()
    gc.set_threshold(YOUNG_GENERATION, *gc.get_threshold()[1:])
    return app
