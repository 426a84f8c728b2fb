"""Tiers: a qualifying metric over a rolling window; upgrade at once, downgrade at the review.

The metric is kept as (instant, value) contributions: an order's net spend in minor
units, or points earned net of reversals, each dated by the order or grant it comes from.
A member's review falls `window_days` after their last tier change, and every
`window_days` after that while they hold a tier above the first.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from fidela.domain.money import to_minor
from fidela.domain.program import Program, TierLevel, Tiers


def metric(contributions: Sequence[tuple[datetime, int]], at: datetime, window_days: int) -> int:
    """The qualifying value at `at`: contributions in the window (at - window_days, at]."""
    start = at - timedelta(days=window_days)
    return sum(value for t, value in contributions if start < t <= at)


def level_for(program: Program, value: int) -> TierLevel:
    """The highest level whose threshold the metric `value` reaches."""
    tiers = _tiers(program)
    reached = tiers.levels[0]
    for level in tiers.levels:
        if value >= threshold(program, level):
            reached = level
    return reached


def threshold(program: Program, level: TierLevel) -> int:
    """A level's threshold in the metric's unit: minor units of money, or points."""
    if _tiers(program).metric == "spend":
        return to_minor(level.threshold, program.currency, "tiers.levels.from")
    return int(level.threshold)


def _tiers(program: Program) -> Tiers:
    assert program.tiers is not None
    return program.tiers
