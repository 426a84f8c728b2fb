"""Benchmark: the HTTP API under load on PostgreSQL, against the raw ceiling (W1-W4).

    .venv/bin/python -m bench.api [--postgres-url URL] [--members N] [--events N]
                                  [--reads N] [--batches N] [--clients N] [--workers N]

A fresh schema gets examples/cafe.yaml, two API keys (integration and admin) and the
members, enrolled through the services; then a real `fidela serve --workers N`
(bench/server.py) answers keep-alive clients in threads (bench/load.py):

- W1: purchase events (POST /events), each with its own key and order, for random
  members: as fast as --clients clients can (the maximum), then paced at 80 % of that
  maximum, for the p50 and p99 latencies there, and at 50 %. The raw ceiling replays the rows
  Fidela wrote for the maximum's events, each event in a transaction of its own, by
  plain INSERT and UPDATE statements from as many connections.
- W2: 16 clients try 40 redemptions on one member whose points pay for exactly 25:
  25 must succeed, 15 be refused (409), the balance end at 0, and the ledger verify.
- W3: a member's balance (GET /members/{ref}/balance: points, tier, next expiry) as fast as the
  clients can, then paced at 80 % and at 50 %, and by one client alone.
- W4: POST /events/batch, 1,000 events a request; the raw ceiling stores the same rows,
  1,000 events a transaction, by COPY (bench/ceiling.py's `store`).

The raw ceilings (bench/api_raw.py) run once the server has stopped, each in a fresh
schema given first (untimed) what they rely on of Fidela's database. Every phase reports
the CPU used by the client, the server, PostgreSQL and anything else on the machine.
This machine's PostgreSQL runs with autovacuum off, so the script runs ANALYZE after
the warm-up and after W1, and, while the workloads run, wherever autovacuum would
(bench/databases.py's `analyze` and `autoanalyzed`).
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine

from bench import report
from bench.api_raw import Marks, marks, raw_batched, raw_each
from bench.databases import (
    analyze,
    autoanalyzed,
    checkpoint,
    fresh_database,
    server_version,
)
from bench.load import Call, Measured, answer, health_ms, send_all
from bench.server import Server, serving
from fidela.domain.events import parse_enrollment
from fidela.domain.ids import ProgramId
from fidela.services import adjustments, keys, members, programs
from fidela.store.unit_of_work import UnitOfWork

ROOT = Path(__file__).parent.parent
PROGRAM = ROOT / "examples" / "cafe.yaml"
OPTIONS = {  # name: (default, what it sets)
    "members": (2_000, "members enrolled before the workloads"),
    "events": (2_000, "W1's events, in each of its two phases"),
    "reads": (2_000, "W3's reads, in each of its two loaded phases"),
    "batches": (16, "W4's requests of 1,000 events"),
    "clients": (16, "concurrent clients of W1 and W3, connections of W1's raw ceiling"),
    "workers": (2, "fidela serve --workers, and W4's concurrent clients"),
}
PACED = 0.8  # share of the maximum at which latencies are measured (the goals')
LIGHTER = 0.5  # and a lighter load, for the shape of the latencies' curve
READS_ALONE = 300
HEALTH_CALLS = 20  # GET /health kept alive and on new connections, one at a time
WARM_UP_CALLS = 300  # events and reads, before anything is measured: every worker connects
BATCH_SIZE = 1_000
REDEEMER = "redeemer"
REWARD = "free-coffee"
AFFORDED = 25  # redemptions the redeemer's points pay for
ATTEMPTS = 40
REDEEMING_CLIENTS = 16
SEED = 20261124
GOALS = {
    "w1_ratio_percent_at_least": 60.0,
    "w1_p99_ms_at_most": 25.0,
    "w3_p99_ms_at_most": 5.0,
    "w4_ratio_percent_at_least": 50.0,
}


def main(argv: Sequence[str] | None = None) -> None:
    """Run W1-W4 against a real server and their raw ceilings; print and store the figures."""
    arguments = _arguments(argv)
    started = time.perf_counter()
    sizes = {name: getattr(arguments, name) for name in OPTIONS}
    result = report.start("api", goals=GOALS, sizes=sizes)
    figures = measure(arguments.postgres_url, **sizes)
    result["backends"]["postgresql"] = figures
    print_figures(figures)
    report.finish(result, started)
    if not figures["checks_passed"]:
        raise SystemExit("a check failed: the figures above are not valid")


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    arguments = report.parser("The HTTP API under load (W1-W4).", backend_option=False)
    for name, (default, sets) in OPTIONS.items():
        arguments.add_argument(f"--{name}", type=int, default=default, help=f"{sets} (%(default)s)")
    parsed = arguments.parse_args(argv)
    for name in OPTIONS:
        if getattr(parsed, name) < 1:
            arguments.error(f"--{name} must be 1 or more")
    return parsed


@dataclass(frozen=True)
class Setup:
    """The program, and its keys as Authorization headers."""

    program_id: ProgramId
    integration: str
    admin: str

    def path(self, rest: str) -> str:
        return f"/v1/programs/{self.program_id}{rest}"


def measure(postgres_url: str, **sizes: int) -> dict[str, Any]:
    """Set up, serve and run W1-W4, stop the server, then measure the raw ceilings."""
    now = datetime.now(UTC)
    purchases = Purchases(sizes["members"], now - timedelta(hours=1))
    with fresh_database("postgresql", postgres_url, "api") as engine:
        report.step(f"setting up: the café program, keys, {sizes['members']:,} members")
        setup, seconds = report.timed(lambda: set_up(engine, sizes["members"], now))
        figures: dict[str, Any] = {
            "database": server_version(engine),
            "setup_seconds": round(seconds, 1),
            "load_average_before": os.getloadavg()[0],
        }
        checkpoint(engine)
        spans = run_workloads(engine, setup, purchases, sizes, figures)
        w1, w4 = figures["w1"], figures["w4"]
        w1.update(raw_each(engine, postgres_url, *spans["w1"], sizes["clients"]))
        w1["ratio_percent"] = round(100 * w1["maximum"]["per_second"] / w1["raw_per_second"], 1)
        w4.update(raw_batched(engine, postgres_url, *spans["w4"], BATCH_SIZE))
        w4["ratio_percent"] = round(100 * w4["events_per_second"] / w4["raw_per_second"], 1)
    figures["checks_passed"] = checks_passed(figures)
    figures["peak_rss_mib_so_far"] = round(report.peak_rss_mib(), 1)
    return figures


def run_workloads(
    engine: Engine,
    setup: Setup,
    purchases: Purchases,
    sizes: dict[str, int],
    figures: dict[str, Any],
) -> dict[str, tuple[Marks, Marks]]:
    """W1-W4 and a verification, against a server started for them; adds their figures.

    Returns the ledger's marks around W1's maximum and around W4, for the raw ceilings.
    """
    with tempfile.TemporaryDirectory(prefix="fidela-bench-api-") as folder:
        log = Path(folder) / "server.log"
        with serving(engine, sizes["workers"], log) as server, autoanalyzed(engine):
            warm_up(server, setup, purchases, sizes["clients"])
            figures["health_ms"] = health_ms(server.port, HEALTH_CALLS)
            analyze(engine)
            figures["w1"], w1_span = earn(engine, server, setup, purchases, sizes)
            analyze(engine)  # W1's writes: their ANALYZE would land in W3's phases
            figures["w3"] = read_balances(engine, server, setup, sizes)
            figures["w2"] = redeem(server, setup)
            figures["w4"], w4_span = send_batches(engine, server, setup, purchases, sizes)
            figures["verify"] = verify(server, setup)
        figures["server_errors_logged"] = log.read_text().count('"level": "error"')
    return {"w1": w1_span, "w4": w4_span}


def set_up(engine: Engine, enrolled: int, now: datetime) -> Setup:
    """The program, keys, the members (enrolled a day ago), and the redeemer's points."""
    uow = UnitOfWork(engine)
    program_id = programs.apply(uow, PROGRAM.read_text(encoding="utf-8"), now=now).program_id
    integration, admin = (
        keys.create(uow, program_id, role=role, name=f"bench {role}", now=now)["key"]
        for role in ("integration", "admin")
    )
    enrolled_at = (now - timedelta(days=1)).isoformat()
    for ref in [*map(member_ref, range(enrolled)), REDEEMER]:
        form = parse_enrollment({"customer_id": ref, "enrolled_at": enrolled_at})
        members.enroll(uow, program_id, form, now=now)
    rewards = programs.described(uow, program_id)["rewards"]
    cost = next(reward["cost"] for reward in rewards if reward["id"] == REWARD)
    redeemer = members.locate(uow, program_id, REDEEMER)
    reason = f"W2: exactly {AFFORDED} x {REWARD}"
    adjustments.adjust(
        uow, program_id, redeemer, AFFORDED * cost, actor="bench", reason=reason, now=now
    )
    return Setup(program_id, f"Bearer {integration}", f"Bearer {admin}")


def member_ref(number: int) -> str:
    """The shop's customer id of enrolled member `number`."""
    return f"m{number}"


class Purchases:
    """Purchase events of random members, each with its own key, order and instant.

    Instants are a millisecond apart from `first` on, so that they are distinct: what
    an event wrote to the outbox is found by its member and instant (`rows_by_event`).
    """

    def __init__(self, enrolled: int, first: datetime) -> None:
        self.enrolled = enrolled
        self.first = first
        self.numbers = itertools.count()
        self.chance = random.Random(SEED)

    def make(self, label: str) -> dict[str, Any]:
        number = next(self.numbers)
        return {
            "type": "purchase",
            "idempotency_key": f"{label}-{number}",
            "customer": {"customer_id": member_ref(self.chance.randrange(self.enrolled))},
            "order_id": f"{label}-{number}",
            "amount": f"{self.chance.randint(300, 3000) / 100:.2f}",  # 3 to 30 EUR
            "currency": "EUR",
            "occurred_at": (self.first + timedelta(milliseconds=number)).isoformat(),
        }

    def calls(self, setup: Setup, label: str, count: int) -> list[Call]:
        path = setup.path("/events")
        return [Call("POST", path, orjson.dumps(self.make(label))) for _ in range(count)]


def read_calls(setup: Setup, count: int, enrolled: int) -> list[Call]:
    """Balance reads (GET /members/{ref}/balance) of random members."""
    chance = random.Random(SEED)
    refs = (member_ref(chance.randrange(enrolled)) for _ in range(count))
    return [Call("GET", setup.path(f"/members/{ref}/balance")) for ref in refs]


def send(
    server: Server, setup: Setup, calls: list[Call], clients: int, rate: float | None = None
) -> Measured:
    """Send `calls` with the integration key (bench/load.py's send_all)."""
    return send_all(
        server.port, setup.integration, calls, clients=clients, rate=rate, server_pid=server.pid
    )


def warm_up(server: Server, setup: Setup, purchases: Purchases, clients: int) -> None:
    """Events and reads before anything is timed: every worker starts and fills its pool."""
    report.step(f"warming up: {WARM_UP_CALLS} events and {WARM_UP_CALLS} reads")
    send(server, setup, purchases.calls(setup, "warm", WARM_UP_CALLS), clients)
    send(server, setup, read_calls(setup, WARM_UP_CALLS, purchases.enrolled), clients)


def earn(
    engine: Engine, server: Server, setup: Setup, purchases: Purchases, sizes: dict[str, int]
) -> tuple[dict[str, Any], tuple[Marks, Marks]]:
    """W1: events as fast as the clients can, then paced at 80 % of that; the maximum's marks."""
    count, clients = sizes["events"], sizes["clients"]
    report.step(f"W1: {count:,} events, {clients} clients, as fast as they can")
    before, opened = marks(engine), sessions(engine)
    maximum = send(server, setup, purchases.calls(setup, "w1", count), clients)
    after, opened = marks(engine), sessions(engine) - opened
    paced = {}
    for share, label in ((PACED, "paced"), (LIGHTER, "lighter")):
        rate = share * maximum.per_second
        report.step(f"W1: {count:,} events paced at {rate:,.0f}/s ({share:.0%} of the maximum)")
        calls = purchases.calls(setup, f"w1-{label}", count)
        paced[label] = {
            "rate": round(rate, 1),
            **send(server, setup, calls, clients, rate).figures(),
        }
    figures = {
        "maximum": {**maximum.figures(), "database_sessions_opened": opened},
        **paced,
        "recorded": after.event_no - before.event_no,
    }
    return figures, (before, after)


def read_balances(
    engine: Engine, server: Server, setup: Setup, sizes: dict[str, int]
) -> dict[str, Any]:
    """W3: balance reads as fast as the clients can, then paced at 80 %, then by one client."""
    count, clients, enrolled = sizes["reads"], sizes["clients"], sizes["members"]
    report.step(f"W3: {count:,} balance reads, {clients} clients, as fast as they can")
    opened = sessions(engine)
    maximum = send(server, setup, read_calls(setup, count, enrolled), clients)
    opened = sessions(engine) - opened
    paced = {}
    for share, label in ((PACED, "paced"), (LIGHTER, "lighter")):
        rate = share * maximum.per_second
        report.step(f"W3: {count:,} reads paced at {rate:,.0f}/s ({share:.0%} of the maximum)")
        calls = read_calls(setup, count, enrolled)
        paced[label] = {
            "rate": round(rate, 1),
            **send(server, setup, calls, clients, rate).figures(),
        }
    report.step(f"W3: {READS_ALONE} reads by one client")
    alone = send(server, setup, read_calls(setup, READS_ALONE, enrolled), 1)
    return {
        "maximum": {**maximum.figures(), "database_sessions_opened": opened},
        **paced,
        "alone": alone.figures(),
    }


def sessions(engine: Engine) -> int:
    """Sessions opened in the database so far, everyone's: the pool's reconnections show here.

    PostgreSQL's statistics lag by up to a second, which is small beside a workload.
    """
    with engine.connect() as connection:
        query = "SELECT sessions FROM pg_stat_database WHERE datname = current_database()"
        return int(connection.exec_driver_sql(query).scalar() or 0)


def redeem(server: Server, setup: Setup) -> dict[str, Any]:
    """W2: concurrent redemptions on one member: exactly those the points pay for succeed."""
    report.step(f"W2: {ATTEMPTS} redemptions by {REDEEMING_CLIENTS} clients, {AFFORDED} paid for")
    body = orjson.dumps({"reward_id": REWARD})
    path = setup.path(f"/members/{REDEEMER}/redemptions")
    calls = [Call("POST", path, body, {"Idempotency-Key": f"w2-{i}"}) for i in range(ATTEMPTS)]
    measured = send(server, setup, calls, REDEEMING_CLIENTS)
    status, view = answer(
        server.port, setup.integration, Call("GET", setup.path(f"/members/{REDEEMER}"))
    )
    available = orjson.loads(view)["available"] if status == 200 else None
    succeeded, refused = measured.statuses[201], measured.statuses[409]
    return {
        "attempts": ATTEMPTS,
        "afforded": AFFORDED,
        "succeeded": succeeded,
        "refused": refused,
        "available_after": available,
        "exact": succeeded == AFFORDED and refused == ATTEMPTS - AFFORDED and available == 0,
        **measured.figures(),
    }


def send_batches(
    engine: Engine, server: Server, setup: Setup, purchases: Purchases, sizes: dict[str, int]
) -> tuple[dict[str, Any], tuple[Marks, Marks]]:
    """W4: batches of 1,000 events, from one client per worker; events per second."""
    count, clients = sizes["batches"], sizes["workers"]
    report.step(f"W4: {count} batches of {BATCH_SIZE:,} events, {clients} clients")
    path = setup.path("/events/batch")
    calls = [
        Call(
            "POST",
            path,
            orjson.dumps({"events": [purchases.make("w4") for _ in range(BATCH_SIZE)]}),
        )
        for _ in range(count)
    ]
    before = marks(engine)
    measured = send(server, setup, calls, clients)
    after = marks(engine)
    recorded = after.event_no - before.event_no
    figures = {
        "batches": count,
        "events": count * BATCH_SIZE,
        "recorded": recorded,
        "events_per_second": round(recorded / measured.usage.seconds, 1),
        **measured.figures(),
    }
    return figures, (before, after)


def verify(server: Server, setup: Setup) -> dict[str, Any]:
    """POST /ledger/verify with the admin key, timed."""
    report.step("verifying the ledger over HTTP")
    call = Call("POST", setup.path("/ledger/verify"))
    (status, body), seconds = report.timed(lambda: answer(server.port, setup.admin, call))
    verification = (
        orjson.loads(body) if status == 200 else {"ok": False, "problem": f"HTTP {status}"}
    )
    return {**verification, "seconds": round(seconds, 3)}


def checks_passed(figures: dict[str, Any]) -> bool:
    """Whether every call was answered as it should and the ledger verified."""
    w1, w3, w4 = figures["w1"], figures["w3"], figures["w4"]
    phases = [w1["maximum"], w1["paced"], w1["lighter"], w4]
    phases += [w3["maximum"], w3["paced"], w3["lighter"], w3["alone"]]
    answered = all(set(phase["statuses"]) <= {200, 201} for phase in phases)
    recorded = w1["recorded"] == w1["maximum"]["calls"] and w4["recorded"] == w4["events"]
    return answered and recorded and figures["w2"]["exact"] and figures["verify"]["ok"]


def print_figures(figures: dict[str, Any]) -> None:
    """The figures of each workload, with the goals beside them, then who used the CPU."""
    w1, w2, w3, w4 = (figures[name] for name in ("w1", "w2", "w3", "w4"))
    paced, health, verified = w1["paced"], figures["health_ms"], figures["verify"]
    w1_p99 = _against(paced["p99_ms"], " ms", GOALS["w1_p99_ms_at_most"], at_least=False)
    w3_p99 = _against(w3["paced"]["p99_ms"], " ms", GOALS["w3_p99_ms_at_most"], at_least=False)
    w1_ratio = _against(w1["ratio_percent"], " %", GOALS["w1_ratio_percent_at_least"])
    w4_ratio = _against(w4["ratio_percent"], " %", GOALS["w4_ratio_percent_at_least"])
    lines = [
        ("W1 maximum", f"{w1['maximum']['per_second']:,.0f} events/s"),
        ("W1 raw ceiling", f"{w1['raw_per_second']:,.0f} events/s"),
        ("W1 ratio", w1_ratio),
        ("W1 at 80 %", f"{paced['per_second']:,.0f} events/s, p50 {paced['p50_ms']:.1f} ms"),
        ("W1 p99 at 80 %", w1_p99),
        ("W1 at 50 %", _paced(w1["lighter"], "events")),
        ("W2", f"{w2['succeeded']} of {w2['attempts']} succeeded, {w2['refused']} refused (409)"),
        ("W2 balance after", f"{w2['available_after']} (exact: {w2['exact']})"),
        ("W3 maximum", f"{w3['maximum']['per_second']:,.0f} reads/s"),
        (
            "W3 at 80 %",
            f"{w3['paced']['per_second']:,.0f} reads/s, p50 {w3['paced']['p50_ms']:.1f} ms",
        ),
        ("W3 p99 at 80 %", w3_p99),
        ("W3 at 50 %", _paced(w3["lighter"], "reads")),
        (
            "W3 one client",
            f"p50 {w3['alone']['p50_ms']:.1f} ms, p99 {w3['alone']['p99_ms']:.1f} ms",
        ),
        (
            "W3 answers",
            f"{w3['maximum']['mean_answer_bytes']:,} bytes on average, "
            f"{w3['maximum']['max_answer_bytes']:,} at most",
        ),
        ("W4 batches", f"{w4['events_per_second']:,.0f} events/s"),
        ("W4 raw ceiling", f"{w4['raw_per_second']:,.0f} events/s"),
        ("W4 ratio", w4_ratio),
        ("ledger verify", f"ok={verified['ok']} in {verified['seconds']:.1f} s"),
        (
            "GET /health",
            f"{health['kept_alive']:.1f} ms kept alive, "
            f"{health['new_connection']:.1f} ms on a new connection",
        ),
        (
            "sessions opened",
            f"W1 maximum {w1['maximum']['database_sessions_opened']:,}, "
            f"W3 maximum {w3['maximum']['database_sessions_opened']:,}",
        ),
    ]
    print(f"\npostgresql ({figures['database']})")
    print(report.table(lines))
    print("  cores used, of 2 (client, server, database, others, whole machine):")
    phases = {"W1 maximum": w1["maximum"], "W1 at 80 %": paced, "W3 maximum": w3["maximum"]}
    for name, phase in {**phases, "W4": w4}.items():
        print(f"    {name.ljust(10)}  {', '.join(map(str, phase['cores_used'].values()))}")
    if figures["server_errors_logged"]:
        print(f"  the server logged {figures['server_errors_logged']} errors")
    if not figures["checks_passed"]:
        print("  CHECK FAILED: unexpected answers, a wrong W2 count, or the ledger did not verify")


def _paced(phase: dict[str, Any], what: str) -> str:
    """A paced phase's rate and latencies, on one line."""
    rate, p50, p99 = phase["per_second"], phase["p50_ms"], phase["p99_ms"]
    return f"{rate:,.0f} {what}/s, p50 {p50:.1f} ms, p99 {p99:.1f} ms"


def _against(value: float, unit: str, goal: float, *, at_least: bool = True) -> str:
    met = value >= goal if at_least else value <= goal
    sign = "≥" if at_least else "≤"
    return f"{value:,.1f}{unit}  (goal {sign} {goal:g}{unit}: {report.goal(met)})"


if __name__ == "__main__":
    main()
