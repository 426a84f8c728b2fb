"""The program's liability and its ROI model filled from its own history."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from fidela.analytics.kpis import Period, counts, members_vs_others, percent, points_moved
from fidela.analytics.snapshot import Snapshot
from fidela.domain import roi
from fidela.domain.ledger import Account


def liability(snapshot: Snapshot) -> tuple[dict[str, Any], Decimal | None]:
    """Members' spendable points now at `point_value`, the breakage seen so far (of the
    points that left members' accounts, other than by refunds, the share that expired),
    and what the outstanding points are expected to cost after that breakage; and that
    breakage, exact."""
    rows = dict(
        snapshot.db.execute(
            "SELECT account, SUM(amount) FROM ledger WHERE list_contains($accounts, account) "
            "GROUP BY account",
            {"accounts": [Account.AVAILABLE.value, Account.EXPIRED.value, Account.REDEEMED.value]},
        ).fetchall()
    )
    outstanding = int(rows.get(Account.AVAILABLE.value, 0))
    expired, redeemed = (int(rows.get(a.value, 0)) for a in (Account.EXPIRED, Account.REDEEMED))
    breakage = Decimal(expired) / (expired + redeemed) if expired + redeemed else None
    value = outstanding * snapshot.program.point_value
    expected = value * (1 - breakage) if breakage is not None else value
    shown = {
        "outstanding_points": outstanding,
        "liability": str(snapshot.cents(value)),
        "breakage": percent(breakage, 1),
        "expected_cost": str(snapshot.cents(expected)),
    }
    return shown, breakage


def assumptions(
    snapshot: Snapshot,
    first: date,
    last: date,
    *,
    margin: Decimal,
    frequency_uplift: Decimal,
    basket_uplift: Decimal,
    fixed_cost: Decimal,
    breakage: Decimal | None,
) -> roi.Assumptions:
    """The model's baseline from the period: members at its end, their orders a year and
    average order, and the points they earned per unit of money; the rest as given."""
    period = Period(first, last, snapshot.program.zone)
    members = members_vs_others(snapshot, period)["members"]
    days = Decimal((last - first).days + 1)
    orders, revenue = Decimal(members["orders"]), Decimal(members["revenue"])
    count = counts(snapshot, period)["members"]
    issued = points_moved(snapshot, period)["issued"]
    return roi.Assumptions(
        members=count,
        orders_per_year=orders / count * 365 / days if count else Decimal(0),
        average_order=revenue / orders if orders else Decimal(0),
        margin=margin,
        points_per_unit=Decimal(issued) / revenue if revenue else Decimal(0),
        point_value=snapshot.program.point_value,
        breakage=breakage if breakage is not None else Decimal(0),
        frequency_uplift=frequency_uplift,
        basket_uplift=basket_uplift,
        fixed_cost=fixed_cost,
    )


def report(snapshot: Snapshot, first: date, last: date, **given: Any) -> dict[str, Any]:
    """The liability now, the assumptions taken from the period, and the modelled year."""
    owed, seen = liability(snapshot)
    chosen = given.pop("breakage", None)
    filled = assumptions(
        snapshot, first, last, breakage=chosen if chosen is not None else seen, **given
    )
    result = roi.model(filled)
    money = snapshot.cents
    return {
        "liability": owed,
        "assumptions": {
            "members": filled.members,
            "orders_per_year": _round(filled.orders_per_year),
            "average_order": str(money(filled.average_order)),
            "margin": percent(filled.margin, 1),
            "points_per_unit": _round(filled.points_per_unit),
            "point_value": str(filled.point_value),
            "breakage": percent(filled.breakage, 1),
            "frequency_uplift": percent(filled.frequency_uplift, 1),
            "basket_uplift": percent(filled.basket_uplift, 1),
            "fixed_cost": str(money(filled.fixed_cost)),
        },
        "year": {
            "baseline_revenue": str(money(result.baseline_revenue)),
            "revenue": str(money(result.revenue)),
            "incremental_margin": str(money(result.incremental_margin)),
            "reward_cost": str(money(result.reward_cost)),
            "yearly_cost": str(money(result.yearly_cost)),
            "net": str(money(result.net)),
            "roi": percent(result.roi, 1),
            "break_even_uplift": percent(result.break_even_uplift, 1),
        },
    }


def _round(value: Decimal) -> float:
    return float(round(value, 4))
