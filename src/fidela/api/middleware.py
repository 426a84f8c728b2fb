"""What every request goes through, as one plain ASGI middleware (no per-request task).

It gives the request an id (the caller's X-Request-Id if sent), echoed in the answer
and in the log; counts and times it for /metrics under its route template (never the
raw path); writes one JSON log line; and after a write that succeeded, wakes the
webhook worker, as there may be news.
"""

from __future__ import annotations

import logging
import time
import uuid

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fidela.api.metrics import Metrics
from fidela.notify.webhooks import Worker

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
REQUEST_ID_MAX = 100
log = logging.getLogger("fidela.api.requests")


class EveryRequest:
    """Wraps the app: sees each request go in and its answer start. Starlette's
    BaseHTTPMiddleware would run the app in a task of its own and pass the answer
    through a stream, for every request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        given = Headers(scope=scope).get("x-request-id", "")
        request_id = given if 0 < len(given) <= REQUEST_ID_MAX else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        status = 500  # unless an answer starts

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)["X-Request-Id"] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            self._after(scope, request_id, status, time.perf_counter() - started)

    @staticmethod
    def _after(scope: Scope, request_id: str, status: int, seconds: float) -> None:
        method: str = scope["method"]
        route = getattr(scope.get("route"), "path", "unmatched")
        state = scope["app"].state
        metrics: Metrics = state.metrics
        metrics.observe(method, route, status, seconds)
        extra = {"request_id": request_id, "method": method, "route": route, "status": status}
        log.info("request", extra=extra | {"ms": round(seconds * 1000, 2)})
        worker: Worker | None = state.webhooks
        if worker is not None and method not in SAFE_METHODS and status < 400:
            worker.wake()
