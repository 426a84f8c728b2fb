"""Rule segments: conditions on seniority, orders, basket, tier and membership."""

from datetime import UTC, datetime, timedelta

import pytest

from fidela.domain.errors import ProgramInvalid
from fidela.domain.ids import MemberId
from fidela.domain.program import parse_program
from fidela.domain.rules import running_campaigns
from fidela.domain.segments import Facts, rule_segments
from tests.conftest import example

SEGMENTS = """
segments:
  - {id: veterans, name: Veterans, min_seniority_days: 365}
  - {id: regulars, name: Regulars, min_orders: 5}
  - {id: big-baskets, name: Big baskets, min_average_basket: "80.00"}
  - {id: small-baskets, name: Small baskets, max_average_basket: "20.00"}
  - {id: gold-plus, name: Gold with Verte+, tiers: [gold], memberships: [verte-plus]}
"""
SHOP = parse_program(example("shop.yaml") + SEGMENTS)
NOW = datetime(2027, 1, 5, 12, tzinfo=UTC)


def facts(**changes: object) -> Facts:
    base = Facts(MemberId(1), NOW - timedelta(days=10), 0, 0, "insider", None)
    return base._replace(**changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("member", "expected"),
    [
        (facts(), set()),  # new, no orders: no average basket either
        (facts(enrolled_at=NOW - timedelta(days=365)), {"veterans"}),
        (facts(enrolled_at=NOW - timedelta(days=364, hours=23)), set()),
        (facts(orders=5, spend_minor=40000), {"regulars", "big-baskets"}),  # 80.00 each
        (facts(orders=4, spend_minor=7996), {"small-baskets"}),  # 19.99 each
        (facts(tier="gold", membership="verte-plus"), {"gold-plus"}),
        (facts(tier="gold"), set()),  # every condition must hold
    ],
)
def test_a_member_is_in_every_segment_whose_rules_they_meet(
    member: Facts, expected: set[str]
) -> None:
    assert rule_segments(SHOP.segments, [member], NOW, 2) == {MemberId(1): expected}


def test_a_campaign_may_target_a_rule_segment() -> None:
    text = example("shop.yaml") + SEGMENTS
    program = parse_program(text.replace("segment: at_risk", "segment: regulars"))
    spring = datetime(2027, 3, 21, 12, tzinfo=UTC)
    assert running_campaigns(program, "purchase", spring, {"champions", "regulars"})
    assert not running_campaigns(program, "purchase", spring, {"champions", "veterans"})


@pytest.mark.parametrize(
    ("segment", "message"),
    [
        ("{id: x, name: X}", "needs at least one rule"),
        ("{id: x, name: X, tiers: [platinum]}", "are no tiers"),
        ("{id: x, name: X, memberships: [club]}", "are no memberships"),
        ("{id: lost, name: Lost, min_orders: 1}", "the id of an RFM segment"),
        ("{id: x, name: X, min_orders: 5, max_orders: 2}", "min_orders is above max_orders"),
    ],
)
def test_a_rule_segment_is_checked_against_the_program(segment: str, message: str) -> None:
    with pytest.raises(ProgramInvalid, match=message):
        parse_program(example("shop.yaml") + f"segments:\n  - {segment}\n")
