"""Which rewards a member may redeem (tier, stock, limit per member) and for how many points."""

from decimal import Decimal

import pytest

from fidela.domain import rewards
from fidela.domain.errors import Conflict, InvalidInput
from fidela.domain.program import Reward, parse_program
from tests.conftest import example

SHOP = parse_program(example("shop.yaml"))
COFFEE = Reward.model_validate(
    {"id": "coffee", "name": "Coffee", "kind": "free_product", "sku": "C", "cost": 40,
     "stock": 3, "per_member_limit": 2}
)  # fmt: skip


def test_a_reward_above_the_members_tier_is_refused() -> None:
    with pytest.raises(InvalidInput, match="needs tier silver"):
        rewards.redeemable(SHOP, "off-20", "insider")
    assert rewards.redeemable(SHOP, "off-20", "gold").id == "off-20"


@pytest.mark.parametrize(
    ("by_member", "by_everyone", "refusal"),
    [
        (0, 0, None),
        (1, 2, None),
        (2, 2, "the limit per member"),
        (0, 3, "out of stock"),
    ],
)
def test_limits_refuse_past_the_member_limit_and_the_stock(
    by_member: int, by_everyone: int, refusal: str | None
) -> None:
    if refusal is None:
        rewards.within_limits(COFFEE, by_member, by_everyone)
    else:
        with pytest.raises(Conflict, match=refusal):
            rewards.within_limits(COFFEE, by_member, by_everyone)


def test_the_stock_left_never_shows_below_zero() -> None:
    assert [rewards.stock_left(COFFEE, n) for n in (0, 3, 5)] == [3, 0, 0]
    assert rewards.stock_left(SHOP.rewards[0], 7) is None  # keeps no stock


PAY = SHOP.reward("points-and-cash")


def test_points_pay_at_most_the_share_of_the_order_in_whole_points() -> None:
    assert PAY is not None
    assert rewards.most_points_for(SHOP, PAY, Decimal("80.00")) == 4000  # half, at 0.01 a point
    assert rewards.most_points_for(SHOP, PAY, Decimal("0.03")) == 1  # 1.5 points: one whole
    assert rewards.paid_amount(SHOP, 1234) == Decimal("12.34")


@pytest.mark.parametrize(
    ("payment", "field", "reason"),
    [
        (None, "payment", "needs the order's amount"),
        ({"order_amount": "80.00", "currency": "EUR", "points": 4001}, "payment.points",
         "at most 4000"),
        ({"order_amount": "80.00", "currency": "USD", "points": 1}, "payment.currency", "USD"),
        ({"order_amount": "80.001", "currency": "EUR", "points": 1}, "payment.order_amount",
         "decimals"),
    ],
)  # fmt: skip
def test_a_payment_is_refused_naming_the_field(
    payment: dict[str, object] | None, field: str, reason: str
) -> None:
    assert PAY is not None
    parsed = rewards.parse_payment(payment) if payment else None
    with pytest.raises(InvalidInput, match=reason) as caught:
        rewards.payment_points(SHOP, PAY, parsed)
    assert caught.value.field == field


def test_the_voucher_of_a_payment_is_its_amount_and_an_experience_is_a_booking() -> None:
    assert PAY is not None
    payment = rewards.parse_payment(
        {"order_amount": "80.00", "currency": "EUR", "points": 1500, "order_id": "W-7"}
    )
    assert rewards.payment_points(SHOP, PAY, payment) == 1500
    assert rewards.voucher_terms(SHOP, PAY, 1500, payment) == {
        "kind": "discount", "amount": "15.00", "currency": "EUR", "order_id": "W-7"
    }  # fmt: skip
    masterclass = SHOP.reward("masterclass")
    assert masterclass is not None
    assert rewards.voucher_terms(SHOP, masterclass, 5000) == {
        "kind": "experience", "name": "Invitation to a skincare masterclass"
    }  # fmt: skip
    with pytest.raises(InvalidInput, match="only points_as_payment"):
        rewards.payment_points(SHOP, masterclass, payment)
