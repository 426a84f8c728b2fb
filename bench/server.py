"""A real `fidela serve` for a benchmark: its own process, on a free port of 127.0.0.1."""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

READY_WITHIN_SECONDS = 60.0
STOP_WITHIN_SECONDS = 30.0


@dataclass(frozen=True)
class Server:
    pid: int
    port: int


@contextmanager
def serving(engine: Engine, workers: int, log: Path) -> Iterator[Server]:
    """`fidela serve --workers N` on the engine's database until the block ends.

    The server is the virtualenv's own `fidela` command, given the engine's URL (with its
    search_path option) as FIDELA_DATABASE_URL; what it prints goes to `log`.
    """
    port = _free_port()
    fidela = Path(sys.executable).with_name("fidela")
    command = [str(fidela), "serve", "--host", "127.0.0.1", "--port", str(port)]
    environment = os.environ | {
        "FIDELA_DATABASE_URL": engine.url.render_as_string(hide_password=False)
    }
    with log.open("wb") as output:
        process = subprocess.Popen(
            [*command, "--workers", str(workers)],
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_until_ready(process, port, log)
        yield Server(process.pid, port)
    finally:
        process.terminate()  # uvicorn stops its workers and exits
        try:
            process.wait(timeout=STOP_WITHIN_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_until_ready(process: subprocess.Popen[bytes], port: int, log: Path) -> None:
    """Poll GET /ready until it answers 200; fail with the server's last words if it exits."""
    deadline = time.monotonic() + READY_WITHIN_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"fidela serve exited with {process.returncode}:\n{tail}")
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            connection.request("GET", "/ready")
            if connection.getresponse().status == 200:
                return
        except OSError:
            pass  # not listening yet
        finally:
            connection.close()
        time.sleep(0.1)
    raise RuntimeError(f"fidela serve did not answer /ready within {READY_WITHIN_SECONDS:g} s")
