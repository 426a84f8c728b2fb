"""Earn rules: which points an event grants, as pure functions of the event and the member.

Per-unit rules multiply the eligible amount by `points_per_unit` and the tier
multiplier, then round once per order. Fixed-point rules (`points`, `every_nth`)
are never multiplied. A rule with a `limit` grants at most `count` times per
calendar period of the program's time zone.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, MutableMapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from functools import lru_cache
from zoneinfo import ZoneInfo

from fidela.domain.events import OrderLine
from fidela.domain.ledger import Grant
from fidela.domain.money import exponent
from fidela.domain.program import Campaign, EarnRule, Period, Program

_ROUNDING = {"floor": ROUND_FLOOR, "round": ROUND_HALF_UP, "ceil": ROUND_CEILING}


def purchase_grants(
    program: Program,
    amount: Decimal,
    lines: Sequence[OrderLine],
    *,
    purchase_number: int,
    multiplier: Decimal,
    uses: Mapping[str, int],
    campaigns: Sequence[Campaign] = (),
    spent: MutableMapping[str, int] | None = None,
) -> list[Grant]:
    """Points a purchase earns: `purchase_number` counts the member's purchases, this one too.

    `campaigns` (those running for this member) add their own grants; `spent` holds
    what each campaign granted so far, and is updated.
    """
    grants = []
    per_unit = []
    for rule in _rules_for(program, "purchase", uses):
        if rule.every_nth is not None:
            if purchase_number % rule.every_nth == 0:
                grants.append(Grant(rule.id, _fixed(rule)))
        elif rule.points_per_unit is not None:
            raw = eligible_amount(rule, amount, lines) * rule.points_per_unit * multiplier
            per_unit.append((rule, raw))
            grants.append(Grant(rule.id, round_points(raw, rule)))
        else:
            grants.append(Grant(rule.id, _fixed(rule)))
    grants.extend(campaign_grants(campaigns, per_unit, {} if spent is None else spent))
    return [grant for grant in grants if grant.points > 0]


def activity_grants(
    program: Program,
    name: str,
    uses: Mapping[str, int],
    campaigns: Sequence[Campaign] = (),
    spent: MutableMapping[str, int] | None = None,
) -> list[Grant]:
    """Fixed points a named activity (review, birthday, signup...) earns, within limits,
    and the bonus of the campaigns running for it."""
    grants = [Grant(rule.id, _fixed(rule)) for rule in _rules_for(program, name, uses)]
    return grants + campaign_grants(campaigns, [], {} if spent is None else spent)


def running_campaigns(
    program: Program,
    when: str,
    at: datetime,
    segments: Collection[str | None],
    pilots: Collection[str] = (),
) -> list[Campaign]:
    """The campaigns for `when` running at `at` for a member of `segments` (their RFM
    segment and their rule segments) who is in the pilot group of `pilots`."""
    return [
        campaign
        for campaign in program.campaigns
        if campaign.when == when
        and campaign.starts <= at <= campaign.ends
        and (campaign.segment is None or campaign.segment in segments)
        and (campaign.pilot is None or campaign.pilot in pilots)
    ]


def campaign_grants(
    campaigns: Sequence[Campaign],
    per_unit: Sequence[tuple[EarnRule, Decimal]],
    spent: MutableMapping[str, int],
) -> list[Grant]:
    """What each campaign adds, within what is left of its budget (`spent` is updated).

    A multiplier applies to the per-unit rules' points before their rounding, after the
    member's (tier x membership): its grant is round(raw * member * campaign) -
    round(raw * member), per rule, so that the total is rounded once; a multiplier below
    1 takes nothing away. `bonus_points` are added once per event.
    """
    grants = []
    for campaign in campaigns:
        extra = campaign.bonus_points or 0
        if campaign.multiplier is not None:
            extra += max(
                sum(
                    round_points(raw * campaign.multiplier, rule) - round_points(raw, rule)
                    for rule, raw in per_unit
                ),
                0,
            )
        if campaign.budget_points is not None:
            extra = min(extra, campaign.budget_points - spent.get(campaign.id, 0))
        if extra > 0:
            spent[campaign.id] = spent.get(campaign.id, 0) + extra
            grants.append(Grant(campaign.id, extra))
    return grants


def cashback_grants(program: Program, amount: Decimal, lines: Sequence[OrderLine]) -> list[Grant]:
    """Store credit a purchase earns, in minor units: each cashback rule's `rate` of its
    category's lines (of the whole order without a category), rounded down once per rule.
    Tier, membership and campaign multipliers apply to points only."""
    places = exponent(program.currency)
    grants = []
    for rule in program.cashback:
        if rule.category is None:
            base = amount
        else:
            base = sum(
                (line.amount for line in lines if line.category == rule.category), Decimal(0)
            )
        minor = int((base * rule.rate).scaleb(places).to_integral_value(ROUND_FLOOR))
        if minor > 0:
            grants.append(Grant(rule.id, minor))
    return grants


def eligible_amount(rule: EarnRule, amount: Decimal, lines: Sequence[OrderLine]) -> Decimal:
    """The part of an order a per-unit rule counts: its category's lines, or all but excluded."""
    if rule.category is not None:
        return _of_category(lines, rule.category)
    excluded = set(rule.exclude_categories)
    return amount - sum((line.amount for line in lines if line.category in excluded), Decimal(0))


def _of_category(lines: Sequence[OrderLine], category: str) -> Decimal:
    return sum((line.amount for line in lines if line.category == category), Decimal(0))


def round_points(raw: Decimal, rule: EarnRule) -> int:
    return int(raw.quantize(Decimal(1), rounding=_ROUNDING[rule.rounding]))


def period_start(per: Period, at: datetime, zone: ZoneInfo) -> datetime | None:
    """Start of the calendar period containing `at`, in the program's zone; None for lifetime."""
    day = at.astimezone(zone).date()
    match per:
        case "day":
            start = day
        case "week":
            start = day - timedelta(days=day.weekday())
        case "month":
            start = day.replace(day=1)
        case "year":
            start = date(day.year, 1, 1)
        case "lifetime":
            return None
    return local_midnight(start, zone)


@lru_cache(maxsize=4096)  # an import's rows, and the rules' periods, share few days
def local_midnight(day: date, zone: ZoneInfo) -> datetime:
    """00:00 of `day` in `zone`, the instant a date-only time stands for (in UTC)."""
    # In UTC: Python adds a timedelta to a datetime of a zone with daylight saving by its
    # wall clock (+365 days across a DST change moves the instant an hour), but to a UTC
    # one exactly. Every instant the rules compute from is UTC, so stored or not alike.
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def uses_in_period(
    rule: EarnRule, grant_times: Sequence[datetime], at: datetime, zone: ZoneInfo
) -> int:
    """How many times `rule` granted in the calendar period that contains `at`."""
    assert rule.limit is not None
    return in_period(rule.limit.per, grant_times, at, zone)


def in_period(per: Period, times: Sequence[datetime], at: datetime, zone: ZoneInfo) -> int:
    """How many of `times` fall in the calendar period (of `zone`) that contains `at`."""
    start = period_start(per, at, zone)
    return sum(1 for t in times if period_start(per, t, zone) == start)


def capped(
    program: Program, grants: Sequence[Grant], granted: Sequence[tuple[datetime, int]], at: datetime
) -> tuple[list[Grant], list[Grant]]:
    """Split grants at the program's daily cap: those granted, and what is held above it.

    `granted` lists the points the member's rules granted (not held) and when; the cap
    counts those of the calendar day of `at` in the program's zone. Grants fill what is
    left of the day's cap in order; the one that crosses it is split.
    """
    cap = program.caps.points_per_member_per_day if program.caps else None
    if cap is None:
        return list(grants), []
    zone = program.zone
    day = at.astimezone(zone).date()
    today = sum(points for t, points in granted if t.astimezone(zone).date() == day)
    room = max(cap - today, 0)
    kept, held = [], []
    for grant in grants:
        take = min(grant.points, room)
        room -= take
        if take:
            kept.append(Grant(grant.rule_id, take))
        if grant.points > take:
            held.append(Grant(grant.rule_id, grant.points - take))
    return kept, held


def _rules_for(program: Program, when: str, uses: Mapping[str, int]) -> list[EarnRule]:
    return [
        rule
        for rule in program.earn
        if rule.when == when and (rule.limit is None or uses.get(rule.id, 0) < rule.limit.count)
    ]


def _fixed(rule: EarnRule) -> int:
    assert rule.points is not None
    return rule.points
