"""A pilot's report: its group against the control group over a period."""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np

from fidela.analytics.kpis import Period
from fidela.analytics.snapshot import KEPT, Snapshot
from fidela.domain import pilots


def report(snapshot: Snapshot, name: str, first: date, last: date) -> dict[str, Any]:
    """For each customer of the pilot, over the period: orders (frequency), net spend in
    the currency, and whether they bought at all (retention); each measure compared
    between the pilot and the control group."""
    period = Period(first, last, snapshot.program.zone)
    rows = snapshot.db.execute(
        f"""
        WITH bought AS (
            SELECT customer_id, COUNT(*) AS orders, SUM(amount - refunded) AS spend
            FROM orders WHERE {KEPT} AND occurred_at >= $start AND occurred_at < $end
            GROUP BY customer_id
        )
        SELECT in_pilot, COALESCE(orders, 0) AS n, COALESCE(spend, 0) AS spent
        FROM pilot_groups LEFT JOIN bought USING (customer_id)
        WHERE pilot = $pilot
        """,
        {"start": period.start, "end": period.end, "pilot": name},
    ).fetchnumpy()
    in_pilot = np.asarray(rows["in_pilot"], dtype=bool)
    orders = np.asarray(rows["n"], dtype=float)
    spend = np.asarray(rows["spent"], dtype=float) / snapshot.scale
    measures = {"frequency": orders, "spend": spend, "retention": (orders > 0).astype(float)}
    return {
        "pilot": name,
        "from": first.isoformat(),
        "to": last.isoformat(),
        "customers": {"pilot": int(in_pilot.sum()), "control": int((~in_pilot).sum())},
        **{
            measure: pilots.compare(values[in_pilot], values[~in_pilot])
            for measure, values in measures.items()
        },
    }
