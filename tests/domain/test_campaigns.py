"""Campaigns: running for a window and a segment, on top of the tier, within a budget."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from fidela.domain import members
from fidela.domain.errors import ProgramInvalid
from fidela.domain.ids import MemberId
from fidela.domain.members import MemberState, OrderState
from fidela.domain.program import Campaign, parse_program
from fidela.domain.rules import campaign_grants, running_campaigns
from tests.conftest import example

SHOP = parse_program(example("shop.yaml"))
SPRING = datetime(2027, 3, 21, 12, 0, tzinfo=UTC)  # inside spring-double's weekend
BASE = SHOP.earn[0]


def test_a_campaign_runs_in_its_window_for_its_segment_only() -> None:
    assert [c.id for c in running_campaigns(SHOP, "purchase", SPRING, {"at_risk"})] == [
        "spring-double"
    ]
    assert running_campaigns(SHOP, "purchase", SPRING, {"champions"}) == []
    assert running_campaigns(SHOP, "purchase", SPRING, {None}) == []
    assert running_campaigns(SHOP, "review", SPRING, {"at_risk"}) == []
    before = datetime(2027, 3, 19, 22, 59, tzinfo=UTC)  # 23:59 in Paris, the day before
    assert running_campaigns(SHOP, "purchase", before, {"at_risk"}) == []


def test_a_pilots_campaign_runs_for_the_members_of_its_group_only() -> None:
    treated = SHOP.model_copy(update={"campaigns": (campaign(bonus_points=5, pilot="spring"),)})
    assert [c.id for c in running_campaigns(treated, "purchase", SPRING, {None}, {"spring"})] == [
        "c"
    ]
    assert running_campaigns(treated, "purchase", SPRING, {None}, {"autumn"}) == []
    assert running_campaigns(treated, "purchase", SPRING, {None}) == []  # in no pilot's group
    both = campaign(bonus_points=5, pilot="spring", segment="at_risk")
    treated = SHOP.model_copy(update={"campaigns": (both,)})
    assert running_campaigns(treated, "purchase", SPRING, {"lost"}, {"spring"}) == []


def campaign(**fields: object) -> Campaign:
    base = {"id": "c", "name": "C", "starts": SPRING, "ends": SPRING + timedelta(days=1),
            "when": "purchase"}  # fmt: skip
    return Campaign.model_validate(base | fields)


def test_a_multiplier_applies_before_rounding_and_a_budget_is_never_exceeded() -> None:
    spent: dict[str, int] = {}
    # 12.3 points by the rule (after the tier): the campaign's x2 makes 24 of 12, so 12 more.
    double = campaign(multiplier="2", budget_points=30)
    assert campaign_grants([double], [(BASE, Decimal("12.3"))], spent) == [("c", 12)]
    assert campaign_grants([double], [(BASE, Decimal("12.3"))], spent) == [("c", 12)]
    assert campaign_grants([double], [(BASE, Decimal("12.3"))], spent) == [("c", 6)]  # 30 in all
    assert campaign_grants([double], [(BASE, Decimal("12.3"))], spent) == []
    assert spent == {"c": 30}
    bonus = campaign(bonus_points=7, multiplier="0.5")  # below 1: takes nothing away
    assert campaign_grants([bonus], [(BASE, Decimal("10"))], spent) == [("c", 7)]


def test_a_member_of_the_segment_earns_the_campaign_on_a_purchase() -> None:
    state = MemberState(MemberId(1), SPRING - timedelta(days=400), segment="at_risk")
    members.enroll(SHOP, state)
    order = OrderState("o1", SPRING, 4000, "EUR")
    spent: dict[str, int] = {}
    outcome = members.purchase(SHOP, state, order, Decimal("40.00"), spent=spent)
    (earn,) = [t for t in outcome.transactions if t.kind == "earn"]
    assert [(line.rule_id, -line.amount) for line in earn.lines if line.rule_id] == [
        ("base", 200),
        ("spring-double", 200),
    ]
    assert spent == {"spring-double": 200}
    # Without `spent` (the caller keeps no budget), no campaign applies.
    other = OrderState("o2", SPRING, 4000, "EUR")
    assert members.purchase(SHOP, state, other, Decimal("40.00")).transactions[-1].issued() == 200


def test_a_campaign_must_target_a_known_segment() -> None:
    text = example("shop.yaml").replace("segment: at_risk", "segment: at-risk")
    with pytest.raises(ProgramInvalid, match="segment at-risk is none of"):
        parse_program(text)
