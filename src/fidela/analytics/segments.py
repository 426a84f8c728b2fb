"""RFM on a snapshot: the same scores and segments as the store's recomputation
(domain/segments.py), for reports over any instant."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fidela.analytics.snapshot import Snapshot
from fidela.domain.segments import quintiles, sizes


def rfm(snapshot: Snapshot, at: datetime) -> dict[str, Any]:
    """Every member who bought by `at` (as a member; an order counts for what is left of
    it after refunds, if anything) scored against the others, as `fidela segments
    recompute` scores them; how many fall in each named segment."""
    buyers = snapshot.db.execute(
        """
        SELECT epoch_us(MAX(occurred_at)) AS last, COUNT(*) AS orders,
               CAST(SUM(amount - refunded) AS BIGINT) AS spend
        FROM orders WHERE member_id IS NOT NULL AND amount > refunded AND occurred_at <= $at
        GROUP BY member_id
        """,
        {"at": at},
    ).fetchnumpy()
    scored = (quintiles(buyers[column]) for column in ("last", "orders", "spend"))
    return {"at": at.isoformat(), "members": len(buyers["last"]), "sizes": sizes(*scored)}
