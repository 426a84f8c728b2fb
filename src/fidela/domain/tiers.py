"""Tiers: a qualifying metric over a rolling window; upgrade at once, downgrade at the review.

The metric is kept as (instant, value) contributions: an order's net spend in minor
units, or points earned net of reversals, each dated by the order or grant it comes from.
A member's review falls `window_days` after their last tier change, and every
`window_days` after that while they hold a tier above the first.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from fidela.domain.program import Program, TierLevel


def metric(contributions: Sequence[tuple[datetime, int]], at: datetime, window_days: int) -> int:
    """The qualifying value at `at`: contributions in the window (at - window_days, at]."""
    start = at - timedelta(days=window_days)
    total = 0
    for t, value in contributions:  # a loop, not sum() of a generator: run at every event
        if start < t <= at:
            total += value
    return total


def level_for(program: Program, value: int) -> TierLevel:
    """The highest level whose threshold the metric `value` reaches."""
    assert program.tiers is not None
    reached = 0
    for i, threshold in enumerate(program.tier_thresholds):
        if value >= threshold:
            reached = i
    return program.tiers.levels[reached]
