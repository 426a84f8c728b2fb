"""Which rewards a member may redeem: tier, stock and the limit per member."""

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
