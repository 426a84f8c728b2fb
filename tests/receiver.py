"""A real HTTP receiver on loopback for webhook tests: it logs every request it gets.

`answers` scripts its status codes in order (then 200 for good); `accepted` holds the
requests it answered with a 2xx, in the order they came.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int


@dataclass
class Receiver:
    url: str
    answers: list[int] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    @property
    def accepted(self) -> list[Received]:
        return [request for request in self.received if 200 <= request.status < 300]

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        """The accepted requests once there are `count` of them (or when `timeout` lapses)."""
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.accepted) >= count, timeout)
            return self.accepted


@contextmanager
def receiver() -> Iterator[Receiver]:
    """A receiver listening on a free loopback port until the block ends."""
    box: list[Receiver] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            target = box[0]
            with target.arrived:
                status = target.answers.pop(0) if target.answers else 200
                headers = {name.lower(): value for name, value in self.headers.items()}
                target.received.append(Received(self.path, headers, body, status))
                target.arrived.notify_all()
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass  # keep test output quiet

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    box.append(Receiver(f"http://127.0.0.1:{server.server_port}/hooks"))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield box[0]
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def eventually(check: Callable[[], T], timeout: float = 10.0) -> T:
    """The first truthy result of `check`, polled until `timeout` (then its last result).

    For what a background worker finishes after the receiver has answered.
    """
    deadline = time.monotonic() + timeout
    while not (result := check()) and time.monotonic() < deadline:
        time.sleep(0.02)
    return result
