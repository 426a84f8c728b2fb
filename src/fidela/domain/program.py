"""The program file: its YAML format validated into typed, immutable models.

Every section but `program`, `name`, `currency`, `timezone` and `earn` is optional; an
unknown key anywhere is an error, so that a typo never passes silently.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import Decimal
from functools import cached_property
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeInt,
    PositiveInt,
    ValidationError,
    field_validator,
    model_validator,
)

from fidela.domain.errors import InvalidInput, Problem, ProgramInvalid
from fidela.domain.money import CURRENCIES, exponent
from fidela.domain.segments import SEGMENTS

Slug = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=64)]
# Money and rates stay far below what 64-bit minor units hold, so that sums never overflow.
AMOUNT_MAX = Decimal(10) ** 12
Positive = Annotated[Decimal, Field(gt=0, le=AMOUNT_MAX)]
NonNegative = Annotated[Decimal, Field(ge=0, le=AMOUNT_MAX)]
Period = Literal["day", "week", "month", "year", "lifetime"]
Rounding = Literal["floor", "round", "ceil"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_by_alias=True)


class Limit(_Section):
    count: PositiveInt
    per: Period


class EarnRule(_Section):
    """One way to earn: per unit of money spent, a fixed number, or every n-th purchase."""

    id: Slug
    when: Slug
    points_per_unit: Positive | None = None
    rounding: Rounding = "floor"
    points: PositiveInt | None = None
    every_nth: PositiveInt | None = None
    limit: Limit | None = None
    category: str | None = None
    exclude_categories: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _one_way_to_earn(self) -> EarnRule:
        if (self.points_per_unit is None) == (self.points is None):
            raise ValueError("needs exactly one of points_per_unit or points")
        if self.every_nth is not None and self.points is None:
            raise ValueError("every_nth grants fixed points: give points, not points_per_unit")
        if (self.category or self.exclude_categories) and self.points_per_unit is None:
            raise ValueError("category and exclude_categories apply only to points_per_unit")
        purchase_only = {
            "points_per_unit": self.points_per_unit,
            "every_nth": self.every_nth,
            "category": self.category,
            "exclude_categories": self.exclude_categories,
        }
        for key, value in purchase_only.items():
            if value and self.when != "purchase":
                raise ValueError(f"{key} applies only to rules with when: purchase")
        if self.category and self.exclude_categories:
            raise ValueError("category and exclude_categories can't be combined")
        return self


class Expiry(_Section):
    policy: Literal["rolling", "inactivity"]
    days: PositiveInt
    remind_days_before: PositiveInt | None = None

    @model_validator(mode="after")
    def _reminder_before_expiry(self) -> Expiry:
        if self.remind_days_before is not None and self.remind_days_before >= self.days:
            raise ValueError("remind_days_before must be less than days")
        return self

    @cached_property
    def lifetime(self) -> timedelta:
        """How long a lot lives under the rolling policy (after the last purchase under
        the inactivity policy)."""
        return timedelta(days=self.days)

    @cached_property
    def reminder_lead(self) -> timedelta | None:
        """How long before lots expire their member is told, if at all."""
        if self.remind_days_before is None:
            return None
        return timedelta(days=self.remind_days_before)


class Reward(_Section):
    id: Slug
    name: str
    kind: Literal["discount", "free_product", "experience", "points_as_payment"]
    cost: PositiveInt | None = None
    amount: Positive | None = None
    sku: str | None = None
    min_tier: Slug | None = None
    stock: NonNegativeInt | None = None
    per_member_limit: PositiveInt | None = None
    max_share_of_order: Annotated[Decimal, Field(gt=0, le=1)] | None = None

    @model_validator(mode="after")
    def _fields_of_kind(self) -> Reward:
        if self.kind == "discount" and self.amount is None:
            raise ValueError("a discount needs an amount")
        if self.kind == "free_product" and not self.sku:
            raise ValueError("a free_product needs a sku")
        if self.kind == "points_as_payment":
            if self.max_share_of_order is None:
                raise ValueError("points_as_payment needs max_share_of_order")
        elif self.cost is None:
            raise ValueError("needs a cost in points")
        return self


class TierLevel(_Section):
    id: Slug
    threshold: NonNegative = Field(alias="from")
    earn_multiplier: Positive = Decimal(1)
    perks: tuple[str, ...] = ()


class Tiers(_Section):
    """Levels reached by a metric over a rolling window; up at once, down at the review."""

    metric: Literal["spend", "points_earned"]
    window_days: PositiveInt
    downgrade: Literal["at_review", "never"] = "at_review"
    levels: Annotated[tuple[TierLevel, ...], Field(min_length=1)]

    @model_validator(mode="after")
    def _levels_ascend_from_zero(self) -> Tiers:
        if self.levels[0].threshold != 0:
            raise ValueError("the first level must start from 0")
        for lower, higher in zip(self.levels, self.levels[1:], strict=False):
            if higher.threshold <= lower.threshold:
                raise ValueError(f"level {higher.id} must start above {lower.id}")
        _refuse_duplicates("levels", (level.id for level in self.levels))
        if self.metric == "points_earned":
            for level in self.levels:
                if level.threshold != level.threshold.to_integral_value():
                    raise ValueError(f"level {level.id}: points thresholds are whole numbers")
        return self

    def level(self, tier_id: str) -> TierLevel:
        return self.levels[self.rank(tier_id)]

    def rank(self, tier_id: str) -> int:
        return self.ranks[tier_id]

    @cached_property
    def ranks(self) -> dict[str, int]:
        return {level.id: i for i, level in enumerate(self.levels)}


class Caps(_Section):
    points_per_member_per_day: PositiveInt | None = None
    events_per_member_per_minute: PositiveInt | None = None  # more: their points are held
    # A member whose refunds pass this share of what they bought (over at least
    # `flag_after_orders` orders) is flagged for an admin.
    flag_refund_share: Annotated[Decimal, Field(gt=0, le=1)] | None = None
    flag_after_orders: PositiveInt = 3

    @model_validator(mode="after")
    def _caps_something(self) -> Caps:
        caps = (
            self.points_per_member_per_day,
            self.events_per_member_per_minute,
            self.flag_refund_share,
        )
        if all(cap is None for cap in caps):
            raise ValueError(
                "needs points_per_member_per_day, events_per_member_per_minute or flag_refund_share"
            )
        return self


class Referral(_Section):
    referrer_points: NonNegativeInt
    referee_points: NonNegativeInt
    min_first_order: NonNegative = Decimal(0)
    forbid_same_email_domain_and_address: bool = True
    # Where a member's code is shared: a URL with `{code}` in it (the shop's sign-up page).
    link: Annotated[str, Field(pattern=r"^https?://\S*\{code\}\S*$", max_length=500)] | None = None


class Membership(_Section):
    id: Slug
    name: str
    fee: NonNegative
    period: Literal["month", "year"]
    trial_days: NonNegativeInt = 0
    earn_multiplier: Positive = Decimal(1)
    monthly_points: NonNegativeInt = 0
    perks: tuple[str, ...] = ()


class PunchCard(_Section):
    id: Slug
    name: str
    category: str
    punches: PositiveInt
    reward: Literal["free_product", "discount"]
    sku: str | None = None
    amount: Positive | None = None

    @model_validator(mode="after")
    def _reward_named(self) -> PunchCard:
        if self.reward == "free_product" and not self.sku:
            raise ValueError("a free_product card needs a sku")
        if self.reward == "discount" and self.amount is None:
            raise ValueError("a discount card needs an amount")
        return self


class Cashback(_Section):
    id: Slug
    category: str | None = None
    rate: Annotated[Decimal, Field(gt=0, le=1)]


class RuleSegment(_Section):
    """A segment by rules on what is known of a member: every condition given must hold."""

    id: Slug
    name: str
    min_seniority_days: NonNegativeInt | None = None  # days since enrolling
    max_seniority_days: NonNegativeInt | None = None
    min_orders: NonNegativeInt | None = None  # orders not wholly refunded
    max_orders: NonNegativeInt | None = None
    min_average_basket: NonNegative | None = None  # net spend per order
    max_average_basket: NonNegative | None = None
    tiers: tuple[Slug, ...] = ()  # holding one of these tiers
    memberships: tuple[Slug, ...] = ()  # with one of these memberships running

    @model_validator(mode="after")
    def _some_rule(self) -> RuleSegment:
        bounds = (
            self.min_seniority_days,
            self.max_seniority_days,
            self.min_orders,
            self.max_orders,
            self.min_average_basket,
            self.max_average_basket,
        )
        if all(bound is None for bound in bounds) and not self.tiers and not self.memberships:
            raise ValueError("needs at least one rule (min_orders, tiers, memberships…)")
        for name, (low, high) in {
            "seniority_days": bounds[0:2],
            "orders": bounds[2:4],
            "average_basket": bounds[4:6],
        }.items():
            if low is not None and high is not None and low > high:
                raise ValueError(f"min_{name} is above max_{name}: no member could match")
        return self


class Campaign(_Section):
    id: Slug
    name: str
    starts: datetime
    ends: datetime
    when: Slug
    multiplier: Positive | None = None
    bonus_points: PositiveInt | None = None
    segment: Slug | None = None
    pilot: Slug | None = None  # only the members a pilot of this name assigned to its group
    budget_points: PositiveInt | None = None

    @model_validator(mode="after")
    def _aware_and_ordered(self) -> Campaign:
        if self.starts.tzinfo is None or self.ends.tzinfo is None:
            raise ValueError("starts and ends need a UTC offset")
        if self.ends <= self.starts:
            raise ValueError("ends must be after starts")
        if self.multiplier is None and self.bonus_points is None:
            raise ValueError("needs a multiplier or bonus_points")
        return self


class Streak(_Section):
    when: Slug
    every: Literal["day", "week", "month"]
    length: PositiveInt


class Challenge(_Section):
    id: Slug
    name: str
    when: Slug | None = None
    count: PositiveInt | None = None
    within: Literal["day", "week", "month", "year"] | None = None
    streak: Streak | None = None
    points: NonNegativeInt = 0
    badge: Slug | None = None

    @model_validator(mode="after")
    def _count_or_streak(self) -> Challenge:
        counted = (self.when, self.count, self.within)
        if self.streak is None and None in counted:
            raise ValueError("needs when, count and within, or a streak")
        if self.streak is not None and any(v is not None for v in counted):
            raise ValueError("a streak challenge takes no when, count or within")
        return self


class Program(_Section):
    """One version of a loyalty program, as its file describes it."""

    program: Slug
    name: Annotated[str, Field(min_length=1)]
    currency: str
    timezone: str
    point_name: str = "points"
    point_value: NonNegative = Decimal(0)
    earn: tuple[EarnRule, ...]
    pending_days: NonNegativeInt = 0
    expiry: Expiry | None = None
    rewards: tuple[Reward, ...] = ()
    tiers: Tiers | None = None
    caps: Caps | None = None
    referral: Referral | None = None
    memberships: tuple[Membership, ...] = ()
    punch_cards: tuple[PunchCard, ...] = ()
    cashback: tuple[Cashback, ...] = ()
    segments: tuple[RuleSegment, ...] = ()
    campaigns: tuple[Campaign, ...] = ()
    challenges: tuple[Challenge, ...] = ()

    @field_validator("currency")
    @classmethod
    def _known_currency(cls, value: str) -> str:
        if value not in CURRENCIES:
            raise ValueError(f"'{value}' is not an ISO 4217 currency code Fidela knows")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"'{value}' is not an IANA time zone") from None
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Program:
        for section, ids in (
            ("earn", (rule.id for rule in self.earn)),
            ("rewards", (reward.id for reward in self.rewards)),
            ("memberships", (m.id for m in self.memberships)),
            ("punch_cards", (card.id for card in self.punch_cards)),
            ("cashback", (c.id for c in self.cashback)),
            ("segments", (segment.id for segment in self.segments)),
            ("campaigns", (c.id for c in self.campaigns)),
            ("challenges", (c.id for c in self.challenges)),
        ):
            _refuse_duplicates(section, ids)
        _refuse_shared_rule_ids(
            {
                "earn": [rule.id for rule in self.earn],
                "campaigns": [c.id for c in self.campaigns],
                "challenges": [c.id for c in self.challenges],
                "memberships": [m.id for m in self.memberships],
                "cashback": [c.id for c in self.cashback],
            }
        )
        tier_ids = {level.id for level in self.tiers.levels} if self.tiers else set()
        for reward in self.rewards:
            if reward.min_tier and reward.min_tier not in tier_ids:
                raise ValueError(f"reward {reward.id}: min_tier {reward.min_tier} is no tier")
            if reward.amount is not None:
                _check_places(f"reward {reward.id}: amount", reward.amount, self.currency)
            if reward.kind == "points_as_payment" and self.point_value == 0:
                raise ValueError(f"reward {reward.id}: points can pay only with a point_value")
        if self.referral is not None:
            _check_places("referral: min_first_order", self.referral.min_first_order, self.currency)
        for plan in self.memberships:
            _check_places(f"membership {plan.id}: fee", plan.fee, self.currency)
        for card in self.punch_cards:
            if card.amount is not None:
                _check_places(f"punch card {card.id}: amount", card.amount, self.currency)
        plans = {plan.id for plan in self.memberships}
        for segment in self.segments:
            if segment.id in SEGMENTS:
                raise ValueError(f"segment {segment.id}: the id of an RFM segment")
            if unknown := set(segment.tiers) - tier_ids:
                raise ValueError(f"segment {segment.id}: tiers {sorted(unknown)} are no tiers")
            if unknown := set(segment.memberships) - plans:
                raise ValueError(f"segment {segment.id}: {sorted(unknown)} are no memberships")
            for bound in (segment.min_average_basket, segment.max_average_basket):
                if bound is not None:
                    _check_places(f"segment {segment.id}: average basket", bound, self.currency)
        targets = (*SEGMENTS, *(segment.id for segment in self.segments))
        for campaign in self.campaigns:
            if campaign.segment is not None and campaign.segment not in targets:
                known = ", ".join(targets)
                raise ValueError(
                    f"campaign {campaign.id}: segment {campaign.segment} is none of {known}"
                )
        if self.tiers and self.tiers.metric == "spend":
            for level in self.tiers.levels:
                _check_places(f"tier {level.id}: from", level.threshold, self.currency)
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @cached_property
    def limited_rules(self) -> tuple[EarnRule, ...]:
        """The earn rules with a per-period limit, whose grants must be counted."""
        return tuple(rule for rule in self.earn if rule.limit is not None)

    @cached_property
    def limited_rule_ids(self) -> frozenset[str]:
        return frozenset(rule.id for rule in self.limited_rules)

    @cached_property
    def counts_events(self) -> bool:
        """Whether members' recent events matter to the rules: challenges, or velocity."""
        return bool(self.challenges) or bool(self.caps and self.caps.events_per_member_per_minute)

    @cached_property
    def targets_rule_segments(self) -> bool:
        """Whether a campaign targets a rule segment (members' rule segments matter)."""
        rule_ids = {segment.id for segment in self.segments}
        return any(campaign.segment in rule_ids for campaign in self.campaigns)

    @cached_property
    def targets_pilots(self) -> bool:
        """Whether a campaign is a pilot's treatment (members' pilot groups matter)."""
        return any(campaign.pilot for campaign in self.campaigns)

    @cached_property
    def earns_on(self) -> frozenset[str]:
        """The events some earn rule answers (`purchase`, `birthday`, `review`...)."""
        return frozenset(rule.when for rule in self.earn)

    @cached_property
    def tier_thresholds(self) -> tuple[int, ...]:
        """Each level's threshold in the metric's unit: minor units of money, or points."""
        if self.tiers is None:
            return ()
        scale = exponent(self.currency) if self.tiers.metric == "spend" else 0
        return tuple(int(level.threshold.scaleb(scale)) for level in self.tiers.levels)

    def check_currency(self, currency: str, field: str) -> None:
        """Refuse money in another currency than the program's."""
        if currency != self.currency:
            reason = f"{currency} is not the program's currency ({self.currency})"
            raise InvalidInput(field, reason)

    def reward(self, reward_id: str) -> Reward | None:
        return next((reward for reward in self.rewards if reward.id == reward_id), None)


def _refuse_duplicates(section: str, ids: Iterable[str]) -> None:
    repeated = [key for key, n in Counter(ids).items() if n > 1]
    if repeated:
        raise ValueError(f"{section}: id {repeated[0]} is used more than once")


RESERVED_RULE_IDS = frozenset({"referral"})  # the rule of referral rewards in the ledger


def _refuse_shared_rule_ids(sections: dict[str, list[str]]) -> None:
    """The ids that name ledger lines (earn rules, campaigns, challenges, memberships,
    cashback) must differ across sections too: budgets and limits count lines by id."""
    seen: dict[str, str] = {}
    for section, ids in sections.items():
        for rule_id in ids:
            if rule_id in RESERVED_RULE_IDS:
                raise ValueError(f"{section}: the id {rule_id} is kept for {rule_id} rewards")
            if seen.get(rule_id, section) != section:
                raise ValueError(
                    f"{section}: id {rule_id} is also in {seen[rule_id]}; ledger lines name "
                    "rules by id, so ids must differ across sections"
                )
            seen[rule_id] = section


def _check_places(what: str, amount: Decimal, currency: str) -> None:
    if amount.scaleb(exponent(currency)) % 1:
        raise ValueError(f"{what} has more decimals than {currency} allows")


NOT_YET_ACTIVE: tuple[str, ...] = ()


def inactive_sections(program: Program) -> list[str]:
    """What the file asks for that this version of Fidela does not carry out yet.

    Applying such a program succeeds, and these are reported to the person applying it.
    Every section of the format is active now: this stays for sections to come.
    """
    return [section for section in NOT_YET_ACTIVE if getattr(program, section)]


def parse_program(text: str) -> Program:
    """Validate a program file's text; raise ProgramInvalid listing every located mistake."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data: Any = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = mark.line + 1 if mark else None
        reason = getattr(error, "problem", None) or str(error)
        raise ProgramInvalid([Problem("(file)", f"not valid YAML: {reason}", line)]) from None
    if not isinstance(data, dict):
        raise ProgramInvalid([Problem("(file)", "must be a mapping of sections")])
    try:
        return Program.model_validate(data)
    except ValidationError as error:
        lines = _lines_of(root)
        problems = [
            Problem(_location(e["loc"]), _message(e["msg"]), _line(lines, e["loc"]))
            for e in error.errors()
        ]
        raise ProgramInvalid(problems) from None


def program_from_definition(definition: dict[str, Any]) -> Program:
    """Rebuild a stored, already-validated program."""
    return Program.model_validate(definition)


def _location(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(file)"


def _message(msg: str) -> str:
    for prefix, replacement in (
        ("Value error, ", ""),
        ("Input should be", "must be"),
        ("Extra inputs are not permitted", "unknown key"),
        ("Field required", "is required"),
        ("String should match pattern", "must match the pattern"),
    ):
        if msg.startswith(prefix):
            return replacement + msg[len(prefix) :]
    return msg


_Path = tuple[int | str, ...]


def _lines_of(node: yaml.Node | None, path: _Path = ()) -> dict[_Path, int]:
    """Map each path in the YAML document to the line it starts on (1-based)."""
    if node is None:
        return {}
    lines: dict[_Path, int] = {path: node.start_mark.line + 1}
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            child = (*path, str(key.value))
            lines.update(_lines_of(value, child))
            lines[child] = key.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines.update(_lines_of(item, (*path, i)))
    return lines


def _line(lines: dict[_Path, int], loc: _Path) -> int | None:
    for end in range(len(loc), -1, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None
