"""RFM on a snapshot: the same scores and segments as the store's recomputation
(domain/segments.py), for reports over any instant."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from fidela.analytics.snapshot import Snapshot
from fidela.domain.ids import MemberId
from fidela.domain.segments import SEGMENTS, Buyer, scores


def rfm(snapshot: Snapshot, at: datetime) -> dict[str, Any]:
    """Every member who bought by `at` (as a member; an order counts for what is left of
    it after refunds, if anything) scored against the others, as `fidela segments
    recompute` scores them; how many fall in each named segment."""
    rows = snapshot.db.execute(
        """
        SELECT member_id, MAX(occurred_at), COUNT(*), SUM(amount - refunded)
        FROM orders WHERE member_id IS NOT NULL AND amount > refunded AND occurred_at <= $at
        GROUP BY member_id ORDER BY member_id
        """,
        {"at": at},
    ).fetchall()
    buyers = [Buyer(MemberId(m), last, int(n), int(spend)) for m, last, n, spend in rows]
    counted = Counter(score.segment for score in scores(buyers).values())
    return {
        "at": at.isoformat(),
        "members": len(buyers),
        "sizes": {segment: counted.get(segment, 0) for segment in SEGMENTS},
    }
