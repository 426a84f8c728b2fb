"""Benchmark: the latencies of events (W1) and balance reads (W3) at fixed rates.

    .venv/bin/python -m bench.latency [--postgres-url URL] [--members N] [--calls N]
                                      [--events-at R,R,...] [--reads-at R,R,...]

bench/api.py measures latencies at shares of each run's own maximum, which moves with
the code and the machine; this script paces the same calls at the rates given, so that
two versions of the code are compared at the same load. A fresh schema gets
examples/cafe.yaml and the members (bench/api.py's `set_up`), a real `fidela serve
--workers 2` answers 16 keep-alive clients, and each rate is held for --calls calls
(open loop: a call's latency counts from its planned instant). Events and reads each
start after a warm-up of their own, the reads' after an ANALYZE of what the events
wrote. It prints each rate's p50 and p99 and the cores that the client, the server and
PostgreSQL used.

Another version of the code, checked out in a worktree, runs with its `src` first on
PYTHONPATH (the server inherits it): `PYTHONPATH=/path/to/worktree/src:. python -m
bench.latency`.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from bench import report
from bench.api import Purchases, Setup, read_calls, set_up
from bench.databases import analyze, autoanalyzed, fresh_database, server_version
from bench.load import Call, Measured, send_all
from bench.server import Server, serving

CLIENTS = 16
WORKERS = 2
WARM_UP_CALLS = 500


def main(argv: Sequence[str] | None = None) -> None:
    arguments = _arguments(argv)
    started = time.perf_counter()
    result = report.start("latency", **_sizes(arguments))
    result["backends"]["postgresql"] = measure(arguments)
    report.finish(result, started)


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = report.parser("Latencies of W1 and W3 at fixed rates.", backend_option=False)
    parser.add_argument("--members", type=int, default=2_000)
    parser.add_argument("--calls", type=int, default=1_500, help="calls at each rate")
    parser.add_argument("--events-at", default="100,150,200,300", help="W1's rates, per second")
    parser.add_argument("--reads-at", default="200,400,600", help="W3's rates, per second")
    return parser.parse_args(argv)


def _sizes(arguments: argparse.Namespace) -> dict[str, Any]:
    return {
        "members": arguments.members,
        "calls": arguments.calls,
        "events_at": _rates(arguments.events_at),
        "reads_at": _rates(arguments.reads_at),
    }


def _rates(text: str) -> list[float]:
    return [float(rate) for rate in text.split(",") if rate.strip()]


def measure(arguments: argparse.Namespace) -> dict[str, Any]:
    """Every rate of W1, then of W3, against one server."""
    now = datetime.now(UTC)
    with fresh_database("postgresql", arguments.postgres_url, "latency") as engine:
        report.step(f"setting up: the café program, keys, {arguments.members:,} members")
        setup = set_up(engine, arguments.members, now)
        figures: dict[str, Any] = {"database": server_version(engine)}
        folder = tempfile.TemporaryDirectory(prefix="fidela-bench-latency-")
        log = Path(folder.name) / "server.log"
        with folder, serving(engine, WORKERS, log) as server, autoanalyzed(engine):
            figures |= paced(engine, server, setup, arguments, now)
    _print(figures)
    return figures


def paced(
    engine: Engine, server: Server, setup: Setup, arguments: argparse.Namespace, now: datetime
) -> dict[str, Any]:
    """Events at each of W1's rates, then balance reads at each of W3's."""
    purchases = Purchases(arguments.members, now - timedelta(hours=1))

    def send(calls: list[Call], rate: float | None = None) -> Measured:
        return send_all(
            server.port, setup.integration, calls, clients=CLIENTS, rate=rate, server_pid=server.pid
        )

    report.step(f"warming up: {WARM_UP_CALLS} events")
    send(purchases.calls(setup, "warm", WARM_UP_CALLS))
    analyze(engine)
    figures: dict[str, Any] = {"events": [], "reads": []}
    for rate in _rates(arguments.events_at):
        report.step(f"W1: {arguments.calls:,} events at {rate:g}/s")
        calls = purchases.calls(setup, f"at{rate:g}", arguments.calls)
        figures["events"].append(_figures(rate, send(calls, rate)))
    # The events' writes: their ANALYZE would land in the reads' phases, and the plans it
    # invalidates are made again by the warm-up's reads, not by the first rate's.
    analyze(engine)
    report.step(f"warming up: {WARM_UP_CALLS} balance reads")
    send(read_calls(setup, WARM_UP_CALLS, arguments.members))
    for rate in _rates(arguments.reads_at):
        report.step(f"W3: {arguments.calls:,} balance reads at {rate:g}/s")
        calls = read_calls(setup, arguments.calls, arguments.members)
        figures["reads"].append(_figures(rate, send(calls, rate)))
    return figures


def _figures(rate: float, measured: Measured) -> dict[str, Any]:
    return {"rate": rate, **measured.figures()}


def _print(figures: dict[str, Any]) -> None:
    print(f"\npostgresql ({figures['database']})")
    print("  rate asked   answered      p50      p99   cores: client, server, database, machine")
    for name, kind in (("events", "W1"), ("reads", "W3")):
        for phase in figures[name]:
            cores = phase["cores_used"]
            used = ", ".join(str(cores[who]) for who in ("client", "server", "database", "machine"))
            print(
                f"  {kind} {phase['rate']:6,.0f}/s  {phase['per_second']:6,.0f}/s"
                f"  {phase['p50_ms']:5.1f} ms  {phase['p99_ms']:5.1f} ms   {used}"
            )


if __name__ == "__main__":
    main()
