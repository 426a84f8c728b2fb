"""Customer value on a snapshot: each customer's calibration summary, the fits of BG/NBD
and Gamma-Gamma, each member's prediction, and a holdout check.

A customer's purchases are counted by distinct days in the program's zone, net of
refunds (an order wholly refunded is no purchase; one of no amount is); times are in weeks from
their first purchase; `m` is the mean value of their repeat days, in the currency.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any, NamedTuple

import numpy as np

from fidela.analytics.snapshot import KEPT, Snapshot
from fidela.domain import clv
from fidela.domain.clv import BgNbd, Floats, GammaGamma
from fidela.domain.errors import InvalidInput


class Summaries(NamedTuple):
    customer_ids: Floats
    x: Floats  # repeat purchase days
    t_x: Floats  # weeks from the first purchase to the last
    T: Floats  # weeks from the first purchase to the end of calibration
    m: Floats  # mean value of the repeat days, in the currency (0 without any)


def summaries(snapshot: Snapshot, until: date) -> Summaries:
    """Every customer who bought by the end of `until` (in the program's zone)."""
    rows = snapshot.db.execute(
        f"""
        WITH days AS (
            SELECT customer_id, CAST({snapshot.local("occurred_at")} AS DATE) AS day,
                   SUM(amount - refunded) AS value
            FROM orders
            WHERE {KEPT} AND occurred_at < ?
            GROUP BY ALL
        ), customers AS (
            SELECT customer_id, MIN(day) AS first, MAX(day) AS last, COUNT(*) - 1 AS x,
                   SUM(value) - ARG_MIN(value, day) AS repeat_value
            FROM days GROUP BY customer_id
        )
        SELECT customer_id, x, (last - first) / 7.0, (CAST(? AS DATE) - first) / 7.0,
               CASE WHEN x > 0 THEN repeat_value / x / ? ELSE 0 END
        FROM customers ORDER BY customer_id
        """,
        [snapshot.end_of(until), until, snapshot.scale],
    ).fetchnumpy()
    ids, x, t_x, big_t, m = (np.asarray(rows[key], dtype=np.float64) for key in rows)
    return Summaries(ids, x, t_x, big_t, m)


def fit(snapshot: Snapshot, until: date) -> tuple[Summaries, BgNbd, GammaGamma]:
    """Both models fitted up to `until`; refused without a customer who bought twice (the
    models would have nothing to learn from)."""
    found = summaries(snapshot, until)
    if not np.any((found.x > 0) & (found.m > 0)):
        reason = f"no customer bought on two days by {until.isoformat()}: nothing to fit"
        raise InvalidInput("until", reason)
    bgnbd = clv.fit_bgnbd(found.x, found.t_x, found.T)
    gamma_gamma = clv.fit_gamma_gamma(found.x, found.m)
    return found, bgnbd, gamma_gamma


def fitted(snapshot: Snapshot, until: date, *, holdout_until: date | None = None) -> dict[str, Any]:
    """The fitted parameters, and with `holdout_until` the predicted against the actual
    repeat purchase days after `until`."""
    found, bgnbd, gamma_gamma = fit(snapshot, until)
    report: dict[str, Any] = {
        "until": until.isoformat(),
        "customers": len(found.x),
        "repeat_customers": int(np.sum(found.x > 0)),
        "bgnbd": {key: _shown(value, 6) for key, value in bgnbd._asdict().items()},
        "gamma_gamma": {key: _shown(value, 6) for key, value in gamma_gamma._asdict().items()},
    }
    if holdout_until is not None:
        report["holdout"] = holdout(snapshot, found, bgnbd, until, holdout_until)
    return report


def holdout(
    snapshot: Snapshot, found: Summaries, model: BgNbd, until: date, to: date
) -> dict[str, Any]:
    """Purchase days after `until` up to `to`: predicted by the model, and counted, in all
    and by the number of repeat days in calibration (0 to 6, and 7 or more)."""
    weeks = (to - until).days / 7
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        predicted = clv.expected_purchases(model, weeks, found.x, found.t_x, found.T)
    actual = _days_between(snapshot, found.customer_ids, until, to)
    buckets = np.minimum(found.x, 7).astype(int)
    return {
        "until": to.isoformat(),
        "weeks": round(weeks, 3),
        "predicted": _shown(predicted.sum(), 1),
        "actual": int(actual.sum()),
        "by_repeat_days": [
            {
                "repeat_days": f"{k}+" if k == 7 else str(k),
                "customers": int(np.sum(buckets == k)),
                "predicted": _shown(predicted[buckets == k].mean(), 3),
                "actual": round(float(actual[buckets == k].mean()), 3),
            }
            for k in range(8)
            if np.any(buckets == k)
        ],
    }


def members(snapshot: Snapshot, until: date, weeks: float) -> list[dict[str, Any]]:
    """Each member who bought by `until`: expected purchases in the next `weeks`, the
    probability they are still active, expected spend per purchase and their CLV (the
    two multiplied, undiscounted, in the currency)."""
    found, bgnbd, gamma_gamma = fit(snapshot, until)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        purchases = clv.expected_purchases(bgnbd, weeks, found.x, found.t_x, found.T)
        alive = clv.p_alive(bgnbd, found.x, found.t_x, found.T)
        spend = clv.expected_spend(gamma_gamma, found.x, found.m)  # NaN: no mean exists
    member_of = dict(
        snapshot.db.execute(
            "SELECT customer_id, id FROM members WHERE erased_at IS NULL"
        ).fetchall()
    )
    rows = []
    for i, customer_id in enumerate(found.customer_ids.astype(int)):
        member_id = member_of.get(int(customer_id))
        if member_id is None:
            continue
        rows.append(
            {
                "member_id": member_id,
                "repeat_days": int(found.x[i]),
                "expected_purchases": _shown(purchases[i], 4),
                "p_alive": _shown(alive[i], 4),
                "expected_spend": _money(snapshot, spend[i]),
                "clv": _money(snapshot, purchases[i] * spend[i]),
            }
        )
    return rows


def _shown(value: float, places: int) -> float | None:
    """A model's figure, rounded; None where the fitted model gives none (infinite)."""
    return round(float(value), places) if np.isfinite(value) else None


def _money(snapshot: Snapshot, value: float) -> str | None:
    """An amount of the currency, to its minor unit; None where the model gives none."""
    return str(snapshot.cents(Decimal(str(float(value))))) if np.isfinite(value) else None


def _days_between(snapshot: Snapshot, customer_ids: Floats, after: date, to: date) -> Floats:
    """Each customer's purchase days after `after` up to `to`, in `customer_ids`' order."""
    counted = dict(
        snapshot.db.execute(
            f"""
            SELECT customer_id, COUNT(DISTINCT CAST({snapshot.local("occurred_at")} AS DATE))
            FROM orders
            WHERE {KEPT} AND occurred_at >= ? AND occurred_at < ?
            GROUP BY customer_id
            """,
            [snapshot.end_of(after), snapshot.end_of(to)],
        ).fetchall()
    )
    return np.array([counted.get(int(c), 0) for c in customer_ids], dtype=np.float64)
