"""Earn rules as pure functions: rounding, every n-th, fixed points, limits, multipliers."""

from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from fidela.domain.events import OrderLine
from fidela.domain.ledger import Grant
from fidela.domain.program import parse_program
from fidela.domain.rules import (
    activity_grants,
    cashback_grants,
    period_start,
    purchase_grants,
    uses_in_period,
)
from tests.conftest import example

CAFE = parse_program(example("cafe.yaml"))
SHOP = parse_program(example("shop.yaml"))


def grants(amount: str, number: int = 1, multiplier: str = "1", lines=()) -> list[Grant]:  # type: ignore[no-untyped-def]
    return purchase_grants(
        CAFE,
        Decimal(amount),
        lines,
        purchase_number=number,
        multiplier=Decimal(multiplier),
        uses={},
    )


def test_per_unit_earning_rounds_down_once_per_order() -> None:
    assert grants("12.99") == [Grant("base", 12)]
    assert grants("0.99") == []


def test_the_tier_multiplier_applies_before_rounding_and_not_to_fixed_bonuses() -> None:
    # 12.99 x 1.5 = 19.485 -> 19 (rounding each would give 12 x 1.5 = 18)
    assert grants("12.99", number=10, multiplier="1.5") == [
        Grant("base", 19),
        Grant("tenth-visit", 50),
    ]


@pytest.mark.parametrize(("number", "bonus"), [(9, False), (10, True), (11, False), (20, True)])
def test_every_tenth_purchase_earns_the_bonus(number: int, bonus: bool) -> None:
    assert (Grant("tenth-visit", 50) in grants("5.00", number=number)) is bonus


def test_fixed_points_for_an_activity_respect_its_limit() -> None:
    assert activity_grants(CAFE, "review", {}) == [Grant("review", 20)]
    assert activity_grants(CAFE, "review", {"review": 1}) == []
    assert activity_grants(CAFE, "visit", {}) == []


def test_category_rules_count_only_their_lines_and_exclusions_are_left_out() -> None:
    lines = [
        OrderLine(category="beauty", amount=Decimal("10.00")),
        OrderLine(category="gift-card", amount=Decimal("50.00")),
        OrderLine(category="home", amount=Decimal("20.00")),
    ]
    found = purchase_grants(
        SHOP, Decimal("80.00"), lines, purchase_number=1, multiplier=Decimal(1), uses={}
    )
    assert found == [Grant("base", 150), Grant("double-beauty", 50)]


def test_periods_follow_the_programs_time_zone() -> None:
    paris = ZoneInfo("Europe/Paris")
    # 23:30 UTC on 31 January is already 1 February in Paris.
    at = datetime(2026, 1, 31, 23, 30, tzinfo=UTC)
    assert period_start("month", at, paris) == datetime(2026, 2, 1, tzinfo=paris)
    assert period_start("day", at, paris) == datetime(2026, 2, 1, tzinfo=paris)
    assert period_start("week", at, paris) == datetime(2026, 1, 26, tzinfo=paris)
    assert period_start("year", at, paris) == datetime(2026, 1, 1, tzinfo=paris)
    assert period_start("lifetime", at, paris) is None


def test_uses_are_counted_within_the_calendar_period_of_the_event() -> None:
    rule = next(rule for rule in SHOP.earn if rule.id == "social-share")  # 3 per month
    paris = ZoneInfo("Europe/Paris")
    times = [
        datetime(2026, 1, 3, tzinfo=UTC),
        datetime(2026, 1, 31, 23, 30, tzinfo=UTC),  # February in Paris
        datetime(2026, 2, 10, tzinfo=UTC),
    ]
    assert uses_in_period(rule, times, datetime(2026, 1, 20, tzinfo=UTC), paris) == 1
    assert uses_in_period(rule, times, datetime(2026, 2, 15, tzinfo=UTC), paris) == 2


def test_cashback_is_a_rate_of_its_category_in_minor_units_rounded_down_once() -> None:
    shop = parse_program(example("shop.yaml"))
    lines = [
        OrderLine(sku="LAMP", category="home", quantity=2, amount=Decimal("79.90")),
        OrderLine(sku="MUG", category="home", amount=Decimal("0.10")),
        OrderLine(sku="SERUM", category="beauty", amount=Decimal("20.00")),
    ]
    # 5 % of 80.00 of home lines: 4.00 EUR, as 400 cents; the beauty line earns none.
    assert cashback_grants(shop, Decimal("100.00"), lines) == [Grant("home-cashback", 400)]
    assert cashback_grants(shop, Decimal("0.19"), lines[1:2]) == []  # 0.005 rounds to nothing
