"""Pilots: a seeded, stratified share of customers gets the new treatment, the rest are
the control group; afterwards each measure is compared between the two with Welch's t
test (unequal variances), its 95 % confidence interval and p-value."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats

from fidela.domain.errors import InvalidInput

LEVEL = 0.95  # of the confidence intervals; significant: p < 1 - LEVEL


def assign(customers: Sequence[tuple[int, str]], share: float, seed: int) -> dict[int, bool]:
    """Who is in the pilot (True) or the control group, from (customer, stratum) pairs:
    in each stratum, the customers in id order are shuffled by a generator seeded with
    the seed and the stratum, and the first round(share x n) join the pilot. The same
    customers, share and seed give the same groups."""
    if not 0 < share < 1:
        raise InvalidInput("share", f"{share} is not between 0 and 1 (both excluded)")
    strata: dict[str, list[int]] = defaultdict(list)
    for customer, stratum in customers:
        strata[stratum].append(customer)
    groups = {}
    for stratum, members in sorted(strata.items()):
        ordered = sorted(members)
        random.Random(f"{seed}:{stratum}").shuffle(ordered)
        cut = round(share * len(ordered))
        groups.update({customer: i < cut for i, customer in enumerate(ordered)})
    return groups


def compare(pilot: Sequence[float], control: Sequence[float]) -> dict[str, Any]:
    """The pilot's mean against the control's: the difference, its 95 % confidence
    interval (Welch-Satterthwaite), the relative uplift, the p-value, and whether it is
    significant. Nothing is concluded (None) with fewer than two in a group or no
    variance: `significant` is then None, not False."""
    a, b = np.asarray(pilot, dtype=float), np.asarray(control, dtype=float)
    shown: dict[str, Any] = {
        "pilot_mean": _round(a.mean()) if len(a) else None,
        "control_mean": _round(b.mean()) if len(b) else None,
    }
    if len(a) < 2 or len(b) < 2:
        return shown | {"difference": None, "ci95": None, "relative": None, "p_value": None,
                        "significant": None}  # fmt: skip
    difference = a.mean() - b.mean()
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = np.sqrt(va + vb)
    if se == 0:
        return shown | {"difference": _round(difference), "ci95": None,
                        "relative": _relative(difference, b.mean()), "p_value": None,
                        "significant": None}  # fmt: skip
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    margin = stats.t.ppf((1 + LEVEL) / 2, df) * se
    p_value = float(stats.ttest_ind(a, b, equal_var=False).pvalue)
    return shown | {
        "difference": _round(difference),
        "ci95": [_round(difference - margin), _round(difference + margin)],
        "relative": _relative(difference, b.mean()),
        "p_value": round(p_value, 6),
        "significant": p_value < 1 - LEVEL,
    }


def _round(value: float) -> float:
    return round(float(value), 6)


def _relative(difference: float, base: float) -> float | None:
    """The difference as a percentage of the control's mean."""
    return round(float(100 * difference / base), 2) if base else None
