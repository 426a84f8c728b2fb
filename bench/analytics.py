"""Benchmark: the reports at scale, on PostgreSQL.

    .venv/bin/python -m bench.analytics [--customers N] [--orders M]

Setup (untimed, reported): a fresh PostgreSQL schema, the café program of
examples/cafe-usd.yaml, and a synthetic history generated inside PostgreSQL
(seeded): N customers first seen during 2024, four in five of them members from then,
and M orders spread over customers with a skew (some buy often, most rarely), each after
its customer's first purchase and before 2026, of 5 to 100 USD. The ledger is left empty
(the orders were not replayed through the rules): the points KPIs read no lines.

Timed, one after the other, as `fidela kpi`, `fidela segments` and `fidela clv fit`
would do them: the snapshot (the store's binary slices of each table, read by two
connections in one snapshot, and DuckDB taking the arrays in),
the KPI suite of 2025 with its monthly series, RFM of every member at the end of 2025,
and the fit of BG/NBD and Gamma-Gamma on 2024-2025. The goal: 10 s in all for 10 M
orders of 500,000 customers. The peak memory is the process's (DuckDB runs inside it).

The raw ceiling, for context: PostgreSQL streaming the same tables by COPY (text, one
connection, the plain way to read a table out) to a sink that keeps nothing, timed
before the snapshot in the same run.
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import text

from bench import report
from bench.databases import driver_connection, fresh_database, server_version
from fidela.analytics import clv, kpis
from fidela.analytics.segments import rfm
from fidela.domain.ids import ProgramId
from fidela.services import analytics, programs
from fidela.store.snapshot import queries as snapshot_queries
from fidela.store.unit_of_work import UnitOfWork

ROOT = Path(__file__).parent.parent
CAFE = ROOT / "examples" / "cafe-usd.yaml"
PROGRAM = "cafe-lumiere-us"
NOW = datetime(2026, 1, 1, tzinfo=UTC)
GOAL_SECONDS = 10.0


def main() -> None:
    arguments = report.parser(__doc__ or "", backend_option=False)
    arguments.add_argument("--customers", type=int, default=500_000)
    arguments.add_argument("--orders", type=int, default=10_000_000)
    options = arguments.parse_args()
    started = time.perf_counter()
    result = report.start("analytics", customers=options.customers, orders=options.orders)
    with fresh_database("postgresql", options.postgres_url, "analytics") as engine:
        uow = UnitOfWork(engine)
        programs.apply(uow, CAFE.read_text(encoding="utf-8"), now=NOW)
        report.step(f"generating {options.customers:,} customers and {options.orders:,} orders")
        _, setup = report.timed(lambda: _generate(engine, options.customers, options.orders))
        measured = _measure(uow)
        measured["setup_seconds"] = round(setup, 1)
        measured["server"] = server_version(engine)
    result["backends"]["postgresql"] = measured
    _print(measured, options)
    report.finish(result, started)


def _generate(engine: Any, customers: int, orders: int) -> None:
    """The synthetic history, written by PostgreSQL itself (random() after setseed)."""
    statements = [
        "SELECT setseed(0.42)",
        f"""INSERT INTO customers (id, program_id, external_id, first_seen_at)
            SELECT i, '{PROGRAM}', 'c' || i,
                   timestamptz '2024-01-01 00:00+00' + random() * interval '365 days'
            FROM generate_series(1, {customers}) AS i""",
        """INSERT INTO members (id, program_id, customer_id, enrolled_at, available, pending,
                                 held, debt, purchase_count)
            SELECT id, program_id, id, first_seen_at, 0, 0, 0, 0, 0
            FROM customers WHERE id % 5 <> 0""",
        f"""INSERT INTO orders (program_id, order_ref, customer_id, member_id, event_no,
                                occurred_at, currency, amount_minor, refunded_minor,
                                refunded_quantities, points, reversed_points, lines)
            SELECT '{PROGRAM}', 'o' || g, c.id, CASE WHEN c.id % 5 <> 0 THEN c.id END, g,
                   c.first_seen_at + random() * (timestamptz '2026-01-01 00:00+00'
                                                  - c.first_seen_at),
                   'USD', 500 + floor(random() * 9500)::int, 0, '{{}}', 0, 0, '[]'
            FROM (SELECT g, 1 + floor(power(random(), 3) * {customers})::bigint AS customer
                  FROM generate_series(1, {orders}) AS g) AS drawn
            JOIN customers AS c ON c.id = drawn.customer""",
        "ANALYZE",
    ]
    with engine.begin() as connection:
        for statement in statements:
            connection.execute(text(statement))


def _raw_copy(engine: Any) -> float:
    """The raw ceiling of the snapshot: PostgreSQL streaming the same tables with COPY to
    a sink that keeps nothing (no file, no DuckDB), in seconds."""
    with driver_connection(engine) as driver, driver.cursor() as cursor:
        begun = time.perf_counter()
        for query in snapshot_queries(ProgramId(PROGRAM)).values():
            sql = str(query.compile(engine, compile_kwargs={"literal_binds": True}))
            with cursor.copy(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)") as copy:
                for _chunk in copy:
                    pass
        return time.perf_counter() - begun


def _measure(uow: UnitOfWork) -> dict[str, Any]:
    """Each step of the reports, timed; the snapshot is held open across them."""
    figures: dict[str, Any] = {}
    report.step("raw ceiling: COPY of the same tables to nothing")
    figures["raw_copy_seconds"] = round(_raw_copy(uow.engine), 2)
    begun = time.perf_counter()
    report.step("snapshot: binary slices of each table, then DuckDB takes them in")
    with analytics.snapshot(uow, ProgramId(PROGRAM), now=NOW) as taken:
        figures["snapshot_seconds"] = round(time.perf_counter() - begun, 2)
        report.step("the KPIs of 2025, by month")
        found, seconds = report.timed(
            lambda: kpis.kpis(taken, date(2025, 1, 1), date(2025, 12, 31), "month")
        )
        figures["kpis_seconds"] = round(seconds, 2)
        figures["orders_2025"] = found["orders"]
        report.step("RFM of every member at the end of 2025")
        segmented, seconds = report.timed(lambda: rfm(taken, NOW))
        figures["rfm_seconds"] = round(seconds, 2)
        figures["rfm_members"] = segmented["members"]
        report.step("BG/NBD and Gamma-Gamma fitted on 2024-2025")
        (summaries, bgnbd, gamma_gamma), seconds = report.timed(
            lambda: clv.fit(taken, date(2025, 12, 31))
        )
        figures["clv_seconds"] = round(seconds, 2)
        figures["clv_customers"] = len(summaries.x)
        figures["bgnbd"] = bgnbd._asdict()
        figures["gamma_gamma"] = gamma_gamma._asdict()
    figures["total_seconds"] = round(time.perf_counter() - begun, 2)
    figures["peak_rss_mib"] = round(report.peak_rss_mib(), 1)
    return figures


def _print(figures: dict[str, Any], options: Any) -> None:
    total = figures["total_seconds"]
    met = report.goal(total <= GOAL_SECONDS)
    print(f"\npostgresql ({figures['server']})")
    print(
        report.table(
            [
                ("history", f"{options.orders:,} orders of {options.customers:,} customers"),
                ("setup", f"{figures['setup_seconds']} s (untimed)"),
                (
                    "snapshot",
                    f"{figures['snapshot_seconds']} s (raw COPY alone: "
                    f"{figures['raw_copy_seconds']} s)",
                ),
                (
                    "KPIs of 2025",
                    f"{figures['kpis_seconds']} s ({figures['orders_2025']:,} orders)",
                ),
                ("RFM", f"{figures['rfm_seconds']} s ({figures['rfm_members']:,} members)"),
                ("CLV fit", f"{figures['clv_seconds']} s ({figures['clv_customers']:,} customers)"),
                ("in all", f"{total} s  (goal ≤ {GOAL_SECONDS:.0f} s: {met})"),
                ("peak RSS", f"{figures['peak_rss_mib']:,.0f} MiB"),
            ]
        )
    )


if __name__ == "__main__":
    main()
