"""The KPIs of a period, and their series by day, week or month: definitions in
docs/analytics.md. Every figure is computed in DuckDB over the snapshot.

A period runs from the start of `from` to the end of `to`, in the program's zone; the
previous period is the one of the same length just before. An order counts if it was
not wholly refunded (KEPT), for its amount net of refunds; a member's order is one
made while a member (before enrolling, the person was a customer).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal
from zoneinfo import ZoneInfo

from fidela.analytics.snapshot import KEPT, Snapshot
from fidela.domain.ledger import Account
from fidela.domain.rules import local_midnight

Granularity = Literal["day", "week", "month"]
POINT_ACCOUNTS = (
    Account.ISSUED,
    Account.REDEEMED,
    Account.EXPIRED,
    Account.REVERSED,
    Account.ADJUSTED,
)


@dataclass(frozen=True)
class Period:
    """Whole days of the program's zone, from `first` to `last`."""

    first: date
    last: date
    zone: ZoneInfo

    @property
    def start(self) -> datetime:
        """Its first instant."""
        return local_midnight(self.first, self.zone)

    @property
    def end(self) -> datetime:
        """The first instant after it."""
        return local_midnight(self.last + timedelta(days=1), self.zone)

    def before(self) -> Period:
        """The as many days just before (daylight saving may make it an hour longer)."""
        days = (self.last - self.first).days + 1
        return Period(self.first - timedelta(days=days), self.first - timedelta(days=1), self.zone)


def kpis(
    snapshot: Snapshot, first: date, last: date, granularity: Granularity = "month"
) -> dict[str, Any]:
    """Every KPI of the period from `first` to `last` (dates in the program's zone)."""
    period = Period(first, last, snapshot.program.zone)
    money = snapshot.money
    base = counts(snapshot, period)
    points = points_moved(snapshot, period)
    retention = _retention(snapshot, period)
    members, customers = base["members"], base["customers"]
    revenue, orders, buyers = base["revenue"], base["orders"], base["buyers"]
    aov = _ratio(revenue, orders)
    frequency = _ratio(orders, buyers)
    customer_value = _ratio(revenue, buyers)
    kept = retention["retention"]
    lost = kept["start"] - (kept["end"] - kept["new"])  # of the previous period's buyers
    lifetime = Decimal(kept["start"]) / lost if lost > 0 else None  # periods: 1 / churn
    point_value = snapshot.program.point_value
    redeemed_cost = points["redeemed"] * point_value
    outstanding = points["outstanding"]
    return {
        "program": snapshot.program.program,
        "from": first.isoformat(),
        "to": last.isoformat(),
        "currency": snapshot.program.currency,
        "customers": customers,
        "members": members,
        "new_members": base["new_members"],
        "adoption_rate": percent(members, customers),
        "active_members": base["active_members"],
        "active_members_share": percent(base["active_members"], members),
        **retention,
        "buyers": buyers,
        "orders": orders,
        "revenue": str(money(revenue)),
        "repeat_purchase_rate": percent(base["repeat_buyers"], buyers),
        "average_order_value": _amount(snapshot, aov),
        "purchase_frequency": _round(frequency),
        "customer_value": _amount(snapshot, customer_value),
        "average_lifetime_periods": _round(lifetime),
        "clv": _amount(
            snapshot, customer_value * lifetime if customer_value and lifetime else None
        ),
        "points": {
            key: points[key] for key in ("issued", "redeemed", "expired", "reversed", "adjusted")
        },
        "redemption_rate": percent(points["redeemed"], points["issued"]),
        "breakage_rate": percent(points["expired"], points["issued"]),
        "outstanding_points": outstanding,
        "liability": str(snapshot.cents(outstanding * point_value)),
        "reward_cost_share": percent(redeemed_cost, money(base["member_revenue"])),
        "members_vs_non_members": members_vs_others(snapshot, period),
        "series": series(snapshot, period, granularity),
    }


def counts(snapshot: Snapshot, period: Period) -> dict[str, int]:
    """Counts and sums of the period: customers and members by its end, its buyers…"""
    start, end = period.start, period.end
    row = snapshot.db.execute(
        f"""
        WITH kept AS (
            SELECT customer_id, member_id, amount - refunded AS value FROM orders
            WHERE {KEPT} AND occurred_at >= $start AND occurred_at < $end
        )
        SELECT
            (SELECT COUNT(*) FROM customers WHERE first_seen_at < $end),
            (SELECT COUNT(*) FROM members
             WHERE enrolled_at < $end AND (erased_at IS NULL OR erased_at >= $end)),
            (SELECT COUNT(*) FROM members WHERE enrolled_at >= $start AND enrolled_at < $end),
            (SELECT COUNT(*) FROM kept),
            (SELECT COALESCE(SUM(value), 0) FROM kept),
            (SELECT COUNT(DISTINCT customer_id) FROM kept),
            (SELECT COUNT(DISTINCT member_id) FROM kept),
            (SELECT COALESCE(SUM(value), 0) FROM kept WHERE member_id IS NOT NULL),
            (SELECT COUNT(*) FROM (
                SELECT customer_id FROM kept GROUP BY customer_id HAVING COUNT(*) >= 2))
        """,
        {"start": start, "end": end},
    ).fetchone()
    assert row is not None
    names = (
        "customers",
        "members",
        "new_members",
        "orders",
        "revenue",
        "buyers",
        "active_members",
        "member_revenue",
        "repeat_buyers",
    )
    return {name: int(value) for name, value in zip(names, row, strict=True)}


def _retention(snapshot: Snapshot, period: Period) -> dict[str, Any]:
    """CRR = (E - N) / S x 100 over buyers: S bought in the previous period, E in this
    one, N in this one but not the previous (new or come back)."""
    before = period.before()
    row = snapshot.db.execute(
        f"""
        WITH now_ AS (
            SELECT customer_id, SUM(amount - refunded) AS value FROM orders
            WHERE {KEPT} AND occurred_at >= $start AND occurred_at < $end GROUP BY ALL
        ), then_ AS (
            SELECT customer_id, SUM(amount - refunded) AS value FROM orders
            WHERE {KEPT} AND occurred_at >= $before AND occurred_at < $start GROUP BY ALL
        )
        SELECT
            (SELECT COUNT(*) FROM then_),
            (SELECT COUNT(*) FROM now_),
            (SELECT COUNT(*) FROM now_ ANTI JOIN then_ USING (customer_id)),
            (SELECT COALESCE(SUM(GREATEST(then_.value - COALESCE(now_.value, 0), 0)), 0)
             FROM then_ LEFT JOIN now_ USING (customer_id)),
            (SELECT COALESCE(SUM(value), 0) FROM then_)
        """,
        {"start": period.start, "end": period.end, "before": before.start},
    ).fetchone()
    assert row is not None
    start, end, new, lost, earlier = (int(value) for value in row)
    retention = percent(end - new, start)
    return {
        "retention": {"start": start, "end": end, "new": new},
        "retention_rate": retention,
        "churn_rate": round(100 - retention, 2) if retention is not None else None,
        "revenue_churn_rate": percent(lost, earlier),
    }


def points_moved(snapshot: Snapshot, period: Period) -> dict[str, int]:
    """Points that moved in the period, by program account (signs turned positive), and
    members' spendable points at its end."""
    accounts = [account.value for account in (*POINT_ACCOUNTS, Account.AVAILABLE)]
    rows = snapshot.db.execute(
        """
        SELECT account,
               COALESCE(SUM(amount) FILTER (WHERE occurred_at >= $start AND occurred_at < $end), 0),
               COALESCE(SUM(amount) FILTER (WHERE occurred_at < $end), 0)
        FROM ledger WHERE list_contains($accounts, account) GROUP BY account
        """,
        {"start": period.start, "end": period.end, "accounts": accounts},
    ).fetchall()
    moved = {account: int(value) for account, value, _ in rows}
    by_end = {account: int(value) for account, _, value in rows}

    def flow(account: Account) -> int:
        return moved.get(account.value, 0)

    return {
        "issued": -flow(Account.ISSUED),
        "redeemed": flow(Account.REDEEMED),
        "expired": flow(Account.EXPIRED),
        "reversed": flow(Account.REVERSED),
        "adjusted": -flow(Account.ADJUSTED),
        "outstanding": by_end.get(Account.AVAILABLE.value, 0),
    }


def members_vs_others(snapshot: Snapshot, period: Period) -> dict[str, dict[str, Any]]:
    """The period's orders made by members and by customers who were not members then."""
    rows = snapshot.db.execute(
        f"""
        SELECT member_id IS NOT NULL, COUNT(*), SUM(amount - refunded), COUNT(DISTINCT customer_id)
        FROM orders WHERE {KEPT} AND occurred_at >= $start AND occurred_at < $end
        GROUP BY ALL
        """,
        {"start": period.start, "end": period.end},
    ).fetchall()
    found = {bool(member): (int(n), int(value), int(buyers)) for member, n, value, buyers in rows}
    shown = {}
    for name, member in (("members", True), ("non_members", False)):
        orders, revenue, buyers = found.get(member, (0, 0, 0))
        shown[name] = {
            "buyers": buyers,
            "orders": orders,
            "revenue": str(snapshot.money(revenue)),
            "average_order_value": _amount(snapshot, _ratio(revenue, orders)),
            "purchase_frequency": _round(_ratio(orders, buyers)),
        }
    return shown


def series(snapshot: Snapshot, period: Period, granularity: Granularity) -> list[dict[str, Any]]:
    """The period by day, week (from Monday) or month, in the program's zone: every bucket,
    with revenue, orders, buyers, new members, and points issued and redeemed."""
    local = snapshot.local
    params = {"start": period.start, "end": period.end, "unit": granularity}
    orders = snapshot.db.execute(
        f"""
        SELECT CAST(date_trunc($unit, {local("occurred_at")}) AS DATE), COUNT(*),
               SUM(amount - refunded), COUNT(DISTINCT customer_id)
        FROM orders WHERE {KEPT} AND occurred_at >= $start AND occurred_at < $end
        GROUP BY ALL
        """,
        params,
    ).fetchall()
    enrolled = snapshot.db.execute(
        f"""
        SELECT CAST(date_trunc($unit, {local("enrolled_at")}) AS DATE), COUNT(*)
        FROM members WHERE enrolled_at >= $start AND enrolled_at < $end GROUP BY ALL
        """,
        params,
    ).fetchall()
    points = snapshot.db.execute(
        f"""
        SELECT CAST(date_trunc($unit, {local("occurred_at")}) AS DATE),
               -COALESCE(SUM(amount) FILTER (WHERE account = '{Account.ISSUED.value}'), 0),
               COALESCE(SUM(amount) FILTER (WHERE account = '{Account.REDEEMED.value}'), 0)
        FROM ledger WHERE occurred_at >= $start AND occurred_at < $end GROUP BY ALL
        """,
        params,
    ).fetchall()
    by_orders = {day: row for day, *row in orders}
    by_members = dict(enrolled)
    by_points = {day: row for day, *row in points}
    rows = []
    for bucket in _buckets(snapshot, period, granularity):
        n, revenue, buyers = by_orders.get(bucket, (0, 0, 0))
        issued, redeemed = by_points.get(bucket, (0, 0))
        rows.append(
            {
                "period": bucket.isoformat(),
                "orders": int(n),
                "revenue": str(snapshot.money(revenue)),
                "buyers": int(buyers),
                "new_members": int(by_members.get(bucket, 0)),
                "points_issued": int(issued),
                "points_redeemed": int(redeemed),
            }
        )
    return rows


def _buckets(snapshot: Snapshot, period: Period, granularity: Granularity) -> list[date]:
    """The first day of every bucket the period touches, in the program's zone."""
    zone = snapshot.program.zone
    first = period.start.astimezone(zone).date()
    last = (period.end - timedelta(microseconds=1)).astimezone(zone).date()
    if granularity == "week":
        first -= timedelta(days=first.weekday())
    elif granularity == "month":
        first = first.replace(day=1)
    buckets = []
    day = first
    while day <= last:
        buckets.append(day)
        if granularity == "day":
            day += timedelta(days=1)
        elif granularity == "week":
            day += timedelta(days=7)
        else:
            day = (day.replace(day=28) + timedelta(days=4)).replace(day=1)
    return buckets


def _ratio(numerator: int | Decimal, denominator: int) -> Decimal | None:
    return Decimal(numerator) / denominator if denominator else None


def percent(part: int | Decimal | None, whole: int | Decimal) -> float | None:
    """part / whole x 100 (a number for charts), to 0.01; None when the whole is nothing
    or the part unknown (a share is `percent(share, 1)`)."""
    if part is None or not whole:
        return None
    return float((Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.01")))


def _round(value: Decimal | None) -> float | None:
    return float(value.quantize(Decimal("0.0001"))) if value is not None else None


def _amount(snapshot: Snapshot, minor: Decimal | None) -> str | None:
    """Minor units (maybe fractional) as an amount of the currency, to its decimals."""
    if minor is None:
        return None
    return str(snapshot.cents(minor / snapshot.scale))
