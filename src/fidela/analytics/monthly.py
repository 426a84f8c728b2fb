"""A program's ledger and revenue month by month: what a backtest reports."""

from __future__ import annotations

from datetime import date
from typing import Any

from fidela.analytics.kpis import percent
from fidela.analytics.snapshot import KEPT, Snapshot
from fidela.domain.ledger import Account


def by_month(snapshot: Snapshot, first: date, last: date) -> dict[str, Any]:
    """Each month from `first`'s to `last`'s (in the program's zone): points issued,
    redeemed, expired and reversed in it, members' spendable points at its end and their
    liability, revenue, and the reward cost as a share of revenue; and the totals."""
    local, point_value = snapshot.local, snapshot.program.point_value
    rows = snapshot.db.execute(
        f"""
        WITH months AS (
            SELECT CAST(range AS DATE) AS month
            FROM range(CAST($first AS TIMESTAMP), CAST($last AS TIMESTAMP) + INTERVAL 1 DAY,
                       INTERVAL 1 MONTH)
        ), flows AS (
            SELECT CAST(date_trunc('month', {local("occurred_at")}) AS DATE) AS month,
                -SUM(amount) FILTER (WHERE account = '{Account.ISSUED.value}') AS issued,
                SUM(amount) FILTER (WHERE account = '{Account.REDEEMED.value}') AS redeemed,
                SUM(amount) FILTER (WHERE account = '{Account.EXPIRED.value}') AS expired,
                SUM(amount) FILTER (WHERE account = '{Account.REVERSED.value}') AS reversed,
                SUM(amount) FILTER (WHERE account = '{Account.AVAILABLE.value}') AS available
            FROM ledger GROUP BY ALL
        ), sales AS (
            SELECT CAST(date_trunc('month', {local("occurred_at")}) AS DATE) AS month,
                   SUM(amount - refunded) AS revenue
            FROM orders WHERE {KEPT} GROUP BY ALL
        ), every AS (
            SELECT month FROM months UNION SELECT month FROM flows UNION SELECT month FROM sales
        ), running AS (
            SELECT every.month, COALESCE(issued, 0) AS issued, COALESCE(redeemed, 0) AS redeemed,
                   COALESCE(expired, 0) AS expired, COALESCE(reversed, 0) AS reversed,
                   SUM(COALESCE(available, 0)) OVER (ORDER BY every.month) AS outstanding,
                   COALESCE(revenue, 0) AS revenue
            FROM every LEFT JOIN flows USING (month) LEFT JOIN sales USING (month)
        )
        SELECT strftime(month, '%Y-%m'), issued, redeemed, expired, reversed, outstanding, revenue
        FROM running WHERE month IN (SELECT month FROM months) ORDER BY month
        """,
        {"first": first.replace(day=1), "last": last},
    ).fetchall()
    months = []
    for month, issued, redeemed, expired, reversed_, outstanding, revenue in rows:
        months.append(
            {
                "month": month,
                "issued": int(issued),
                "redeemed": int(redeemed),
                "expired": int(expired),
                "reversed": int(reversed_),
                "outstanding": int(outstanding),
                "liability": str(snapshot.cents(outstanding * point_value)),
                "revenue": str(snapshot.money(revenue)),
                "reward_cost_share": percent(redeemed * point_value, snapshot.money(revenue)),
            }
        )
    revenue = sum(snapshot.money(row[6]) for row in rows)
    redeemed = sum(int(row[2]) for row in rows)
    outstanding = int(rows[-1][5]) if rows else 0
    totals = {
        "issued": sum(int(row[1]) for row in rows),
        "redeemed": redeemed,
        "expired": sum(int(row[3]) for row in rows),
        "reversed": sum(int(row[4]) for row in rows),
        "outstanding": outstanding,
        "liability": str(snapshot.cents(outstanding * point_value)),
        "revenue": str(revenue),
        "reward_cost_share": percent(redeemed * point_value, revenue),
    }
    return {"totals": totals, "months": months}
