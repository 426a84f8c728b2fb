"""Segments: RFM scores by quintiles over a program's buyers, and the named segment of each;
and rule segments, from the program file, each a set of conditions on a member.

Recency, frequency and monetary value are scored 1 to 5 by quintiles: a member's
score is 1 + 5 * (the share of buyers with a smaller value), rounded down. Each score
holds about a fifth of the buyers, and equal values take the lowest score of their
group: one-time buyers score frequency 1 however many they are (most shops' largest
group), and a program's only buyer scores 1, 1, 1.
Recency ranks the last purchase (more recent scores higher), frequency the orders,
monetary the spend net of refunds. The named segment comes from R and FM = (F + M) / 2,
rounded half up:

    R \\ FM   1                  2                  3         4          5
    5        new                potential_loyalist loyal     champions  champions
    4        promising          potential_loyalist loyal     champions  champions
    3        needs_attention    needs_attention    loyal     loyal      loyal
    2        hibernating        hibernating        at_risk   at_risk    at_risk
    1        lost               lost               at_risk   cannot_lose cannot_lose
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from fidela.domain.ids import MemberId

if TYPE_CHECKING:  # the program's file names the RFM segments: it imports this module
    from fidela.domain.program import RuleSegment

SEGMENTS = (
    "champions",
    "loyal",
    "potential_loyalist",
    "new",
    "promising",
    "needs_attention",
    "at_risk",
    "cannot_lose",
    "hibernating",
    "lost",
)
_GRID = {  # R: the segment for FM = 1..5
    5: ("new", "potential_loyalist", "loyal", "champions", "champions"),
    4: ("promising", "potential_loyalist", "loyal", "champions", "champions"),
    3: ("needs_attention", "needs_attention", "loyal", "loyal", "loyal"),
    2: ("hibernating", "hibernating", "at_risk", "at_risk", "at_risk"),
    1: ("lost", "lost", "at_risk", "cannot_lose", "cannot_lose"),
}


class Buyer(NamedTuple):
    """What RFM needs of a member: their last purchase, orders and net spend."""

    member_id: MemberId
    last_order_at: datetime
    orders: int
    spend_minor: int


class Score(NamedTuple):
    recency: int
    frequency: int
    monetary: int

    @property
    def segment(self) -> str:
        fm = (self.frequency + self.monetary + 1) // 2
        return _GRID[self.recency][fm - 1]


def quintiles(values: Sequence[float] | NDArray[Any]) -> NDArray[np.int64]:
    """Each value's score, 1 to 5: 1 + 5 * the share of values smaller than it."""
    ranked = np.asarray(values)
    if ranked.size == 0:
        return np.zeros(0, dtype=np.int64)
    smaller = np.searchsorted(np.sort(ranked), ranked, side="left")
    scored: NDArray[np.int64] = 1 + 5 * smaller // ranked.size
    return scored


def scores(buyers: Sequence[Buyer]) -> dict[MemberId, Score]:
    """The RFM scores of every buyer, against the others."""
    recency = quintiles([buyer.last_order_at.timestamp() for buyer in buyers]).tolist()
    frequency = quintiles([buyer.orders for buyer in buyers]).tolist()
    monetary = quintiles([buyer.spend_minor for buyer in buyers]).tolist()
    return {
        buyer.member_id: Score(r, f, m)
        for buyer, r, f, m in zip(buyers, recency, frequency, monetary, strict=True)
    }


def sizes(
    recency: NDArray[np.int64], frequency: NDArray[np.int64], monetary: NDArray[np.int64]
) -> dict[str, int]:
    """How many buyers each named segment holds, from every buyer's three scores."""
    combined = np.stack([recency, frequency, monetary], axis=1)
    found, counts = np.unique(combined, axis=0, return_counts=True)
    held = dict.fromkeys(SEGMENTS, 0)
    for (r, f, m), count in zip(found.tolist(), counts.tolist(), strict=True):
        held[Score(r, f, m).segment] += count
    return held


class Facts(NamedTuple):
    """What rule segments ask of a member now."""

    member_id: MemberId
    enrolled_at: datetime
    orders: int  # not wholly refunded
    spend_minor: int  # net of refunds
    tier: str | None
    membership: str | None  # running, if any


def matches(segment: RuleSegment, facts: Facts, now: datetime, places: int) -> bool:
    """Whether the member meets every condition of the segment (`places`: the currency's
    decimals). A member without orders has no average basket: a basket rule fails."""
    seniority = (now - facts.enrolled_at).days
    basket = Decimal(facts.spend_minor) / facts.orders / 10**places if facts.orders else None
    ranges: list[tuple[Decimal | int | None, Decimal | int | None, Decimal | int | None]] = [
        (seniority, segment.min_seniority_days, segment.max_seniority_days),
        (facts.orders, segment.min_orders, segment.max_orders),
        (basket, segment.min_average_basket, segment.max_average_basket),
    ]
    for value, low, high in ranges:
        if low is None and high is None:
            continue
        if (
            value is None
            or (low is not None and value < low)
            or (high is not None and value > high)
        ):
            return False
    if segment.tiers and facts.tier not in segment.tiers:
        return False
    return not segment.memberships or facts.membership in segment.memberships


def rule_segments(
    segments: Sequence[RuleSegment], members: Sequence[Facts], now: datetime, places: int
) -> dict[MemberId, set[str]]:
    """The rule segments each member is in now (a member may be in several, or none)."""
    return {
        facts.member_id: {s.id for s in segments if matches(s, facts, now, places)}
        for facts in members
    }
