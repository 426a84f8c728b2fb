"""HTTP load for a benchmark: keep-alive clients in threads, as fast as they can or paced.

The client is the standard library's http.client, one connection per thread: it costs
about 90 µs of CPU per request where httpx2's Client costs about 320 µs (measured here
against a server that answers at once), which matters because the client shares the
machine's cores with the server and the database. What the client costs during a load
is measured all the same (`Usage`), so that a reader can judge it.

Two ways to send:
- closed loop (`rate=None`): every client sends its next call as soon as the last one
  is answered; the calls per second are the server's maximum at that concurrency, and
  each latency is from sending to the end of the answer;
- open loop (`rate` calls per second): call i is planned at start + i / rate, whatever
  the server does, and its latency is counted from that planned instant, so that a
  server that falls behind shows it in the latencies (no coordinated omission).
"""

from __future__ import annotations

import http.client
import os
import statistics
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

TIMEOUT_SECONDS = 120.0  # a batch of 1,000 events can take seconds; none should take this
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Call:
    """One HTTP request, ready to send: its body already encoded, so clients only send."""

    method: str
    path: str
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Usage:
    """CPU seconds used during a load, by whom, and the wall-clock seconds it lasted.

    The client is this process (nothing else runs in it during a load); the server is
    `fidela serve` and its workers; PostgreSQL is every process of the database server,
    whoever its clients are; the machine is every core's busy time.
    """

    seconds: float
    client: float
    server: float
    database: float
    machine: float

    def cores(self) -> dict[str, float]:
        """Each one's average share of a core during the load (2.0 = both cores of two).

        `others` is what the machine did besides the three: other people's work, the kernel.
        """
        shares = {
            "client": self.client,
            "server": self.server,
            "database": self.database,
            "others": self.machine - self.client - self.server - self.database,
            "machine": self.machine,
        }
        return {name: round(used / self.seconds, 2) for name, used in shares.items()}


@dataclass
class Measured:
    """What the clients saw: one latency (seconds), status and answer size per call, and the
    load's time and CPU."""

    latencies: list[float]
    statuses: Counter[int]
    sizes: list[int]  # of each answer's body, in bytes
    usage: Usage

    @property
    def calls(self) -> int:
        return len(self.latencies)

    @property
    def per_second(self) -> float:
        return self.calls / self.usage.seconds

    def percentile_ms(self, percent: float) -> float:
        """The latency that `percent` % of calls did not exceed (nearest rank), in ms."""
        ordered = sorted(self.latencies)
        rank = max(1, -(-len(ordered) * percent // 100))  # ceiling, at least the first
        return 1000 * ordered[int(rank) - 1]

    def figures(self) -> dict[str, object]:
        """The figures a result file keeps."""
        return {
            "calls": self.calls,
            "seconds": round(self.usage.seconds, 3),
            "per_second": round(self.per_second, 1),
            "p50_ms": round(self.percentile_ms(50), 2),
            "p99_ms": round(self.percentile_ms(99), 2),
            "max_ms": round(1000 * max(self.latencies), 2),
            "statuses": dict(sorted(self.statuses.items())),
            "mean_answer_bytes": round(sum(self.sizes) / self.calls),
            "max_answer_bytes": max(self.sizes),
            "cores_used": self.usage.cores(),
        }


def send_all(
    port: int,
    authorization: str,
    calls: Sequence[Call],
    *,
    clients: int,
    rate: float | None = None,
    server_pid: int,
) -> Measured:
    """Send `calls` in order from `clients` threads, closed loop or at `rate` per second."""
    lock = threading.Lock()
    indexes = iter(range(len(calls)))
    latencies = [0.0] * len(calls)
    statuses: list[int] = [0] * len(calls)
    sizes = [0] * len(calls)
    headers = {"Authorization": authorization, "Content-Type": "application/json"}

    def next_index() -> int | None:
        with lock:
            return next(indexes, None)

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT_SECONDS)
        try:
            while (index := next_index()) is not None:
                call = calls[index]
                sent = time.perf_counter() if rate is None else start + index / rate
                if (delay := sent - time.perf_counter()) > 0:
                    time.sleep(delay)
                statuses[index], sizes[index] = _send(connection, call, headers)
                latencies[index] = time.perf_counter() - sent
        finally:
            connection.close()

    meter = UsageMeter(server_pid)
    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return Measured(latencies, Counter(statuses), sizes, meter.stop())


def _send(
    connection: http.client.HTTPConnection, call: Call, headers: dict[str, str]
) -> tuple[int, int]:
    """Send one call on a keep-alive connection; its status and answer size (0: no answer)."""
    try:
        connection.request(call.method, call.path, call.body, headers | call.headers)
        response = connection.getresponse()
        return response.status, len(response.read())
    except (OSError, http.client.HTTPException):
        connection.close()  # reopened by the next request
        return 0, 0


def answer(port: int, authorization: str, call: Call) -> tuple[int, bytes]:
    """Send one call on a connection of its own; its status and body."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT_SECONDS)
    try:
        headers = {"Authorization": authorization, "Content-Type": "application/json"}
        connection.request(call.method, call.path, call.body, headers | call.headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def health_ms(port: int, count: int) -> dict[str, float]:
    """The median time of GET /health, on one kept-alive connection and on a new one each time.

    The answer is tiny and needs no database: a difference between the two is the
    connection's, such as a response held back by Nagle's algorithm until the client's
    delayed ACK (about 40 ms on Linux) when the server's socket lacks TCP_NODELAY.
    """
    kept: list[float] = []
    fresh: list[float] = []
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT_SECONDS)
    try:
        for _ in range(count):
            kept.append(_timed_health(connection))
            new = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT_SECONDS)
            try:
                fresh.append(_timed_health(new))
            finally:
                new.close()
    finally:
        connection.close()
    return {"kept_alive": statistics.median(kept[1:]), "new_connection": statistics.median(fresh)}


def _timed_health(connection: http.client.HTTPConnection) -> float:
    start = time.perf_counter()
    connection.request("GET", "/health")
    connection.getresponse().read()
    return round(1000 * (time.perf_counter() - start), 2)


class UsageMeter:
    """Reads the CPU time used so far by the client, the server, the database and the machine."""

    def __init__(self, server_pid: int) -> None:
        self.server_pid = server_pid
        self.started = time.perf_counter()
        self.before = self._read()

    def stop(self) -> Usage:
        after = self._read()
        used = [end - begin for begin, end in zip(self.before, after, strict=True)]
        return Usage(time.perf_counter() - self.started, *used)

    def _read(self) -> tuple[float, float, float, float]:
        processes = list(_processes())
        server = {self.server_pid} | {
            pid for pid, parent, _, _ in processes if parent in {self.server_pid}
        }
        return (
            time.process_time(),
            sum(cpu for pid, _, _, cpu in processes if pid in server),
            sum(cpu for _, _, name, cpu in processes if name == "postgres"),
            _machine_busy(),
        )


def _processes() -> Iterator[tuple[int, int, str, float]]:
    """Every process: its id, its parent's, its name, and the CPU seconds it used so far."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # it ended meanwhile
            continue
        name = text[text.index("(") + 1 : text.rindex(")")]
        fields = text[text.rindex(")") + 2 :].split()
        # After the name: state, ppid, ..., then utime, stime, and the same for the children
        # it waited for (a PostgreSQL backend that ended is counted in the postmaster's).
        cpu = sum(int(ticks) for ticks in fields[11:15]) / CLOCK_TICKS
        yield int(stat.parent.name), int(fields[1]), name, cpu


def _machine_busy() -> float:
    """CPU seconds every core spent on anything but idling or waiting for the disk."""
    first = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    ticks = [int(value) for value in first[:8]]  # user nice system idle iowait irq softirq steal
    return (sum(ticks) - ticks[3] - ticks[4]) / CLOCK_TICKS
