"""Webhook delivery over HTTP, and the worker that runs it beside the API.

`post` sends one delivery with the standard library. `Worker` is a thread that
delivers whatever is due every `interval` seconds, and at once when woken: the API
wakes it after each write it commits, so an event usually reaches its receivers
within milliseconds (at most `gap` later under load, when the writes of that gap
share one pass), and what other processes wrote within one interval.
"""

from __future__ import annotations

import logging
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import Engine

from fidela.services import webhooks
from fidela.services.webhooks import Report
from fidela.store.unit_of_work import UnitOfWork

TIMEOUT = 10.0  # seconds a receiver has to answer
log = logging.getLogger("fidela.notify.webhooks")


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None  # a 3xx is the receiver's answer, and not a success


_opener = urllib.request.build_opener(_NoRedirects)


def post(url: str, headers: dict[str, str], body: bytes) -> int:
    """POST `body` to `url`; the answer's status. OSError if no answer came."""
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with _opener.open(request, timeout=TIMEOUT) as response:
            status: int = response.status
    except urllib.error.HTTPError as answer:
        status = answer.code
    return status


def utc_now() -> datetime:
    return datetime.now(UTC)


class Worker:
    """Delivers webhooks in a background thread until stopped."""

    def __init__(
        self,
        engine: Engine,
        *,
        interval: float = 1.0,
        gap: float = 0.05,
        send: webhooks.Sender = post,
        clock: Callable[[], datetime] = utc_now,
        on_pass: Callable[[Report], None] = lambda report: None,
    ) -> None:
        self.engine = engine
        self.interval = interval
        self.gap = gap  # at least this long between passes, however often woken
        self.send = send
        self.clock = clock
        self.on_pass = on_pass
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fidela-webhooks", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                report = webhooks.deliver_due(UnitOfWork(self.engine), self.send, now=self.clock)
                self.on_pass(report)
            except Exception:
                # The database may be away for a moment; the next pass tries again.
                log.exception("webhook delivery pass failed")
            # Under load every write wakes the worker: the writes of a gap share one pass.
            self._stop.wait(self.gap)
            self._wake.wait(self.interval)
