"""Cohort retention: for each month's new members (or new customers), the share who
bought in each month after, the classic triangle."""

from __future__ import annotations

from typing import Any, Literal

from fidela.analytics.snapshot import KEPT, Snapshot

By = Literal["enrollment", "first_purchase"]


def cohorts(snapshot: Snapshot, by: By = "enrollment") -> dict[str, Any]:
    """Cohorts by month of enrollment (members, their orders as members) or of first
    purchase (every customer). `retention[k]` is the percentage of the cohort with an
    order in its k-th month after (0: its own month), up to the last month with orders."""
    local = snapshot.local
    if by == "enrollment":
        cohort = f"""
            SELECT id AS who, date_trunc('month', {local("enrolled_at")}) AS month
            FROM members WHERE erased_at IS NULL"""
        active = f"""
            SELECT DISTINCT member_id AS who, date_trunc('month', {local("occurred_at")}) AS month
            FROM orders WHERE member_id IS NOT NULL AND {KEPT}"""
    else:
        active = f"""
            SELECT DISTINCT customer_id AS who, date_trunc('month', {local("occurred_at")}) AS month
            FROM orders WHERE {KEPT}"""
        cohort = f"SELECT who, MIN(month) AS month FROM ({active}) GROUP BY who"
    rows = snapshot.db.execute(
        f"""
        WITH cohort AS ({cohort}), active AS ({active}),
        sizes AS (SELECT month, COUNT(*) AS size FROM cohort GROUP BY month),
        kept AS (
            SELECT cohort.month, date_diff('month', cohort.month, active.month) AS k,
                   COUNT(DISTINCT active.who) AS n
            FROM cohort JOIN active USING (who)
            WHERE active.month >= cohort.month
            GROUP BY ALL
        ),
        last AS (SELECT MAX(month) AS month FROM active)
        SELECT strftime(sizes.month, '%Y-%m'), sizes.size,
               date_diff('month', sizes.month, (SELECT month FROM last)) AS span,
               list(struct_pack(k := kept.k, n := kept.n) ORDER BY kept.k)
                   FILTER (WHERE kept.k IS NOT NULL)
        FROM sizes LEFT JOIN kept USING (month)
        GROUP BY ALL ORDER BY 1
        """
    ).fetchall()
    shown = []
    for month, size, span, counts in rows:
        found = {entry["k"]: entry["n"] for entry in counts or []}
        months = max(int(span), -1) + 1 if span is not None else 0
        shown.append(
            {
                "cohort": month,
                "size": int(size),
                "retention": [round(100 * found.get(k, 0) / size, 2) for k in range(months)],
            }
        )
    return {"by": by, "cohorts": shown}
