"""Punch cards: a punch per unit, a voucher per full card, and refunds that take them back."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from fidela.domain import members
from fidela.domain.errors import ProgramInvalid
from fidela.domain.events import OrderLine, Refund, RefundLine
from fidela.domain.ids import MemberId
from fidela.domain.members import MemberState, OrderState
from fidela.domain.program import parse_program
from tests.conftest import example

SHOP = parse_program(example("shop.yaml"))  # coffee-card: 9 punches, one per coffee unit
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def bags(state: MemberState, quantity: int, ref: str, at: datetime = T0) -> OrderState:
    """An order of `quantity` bags of coffee at 10.00 and a 5.00 mug."""
    lines = (
        OrderLine(
            sku="COFFEE", category="coffee", quantity=quantity, amount=Decimal(10 * quantity)
        ),
        OrderLine(sku="MUG", category="home", amount=Decimal(5)),
    )
    amount = Decimal(10 * quantity + 5)
    order = OrderState(ref, at, int(amount * 100), "EUR", lines)
    members.purchase(SHOP, state, order, amount)
    return order


def refund(state: MemberState, order: OrderState, **what: object) -> members.Outcome:
    event = Refund.model_validate(
        {"idempotency_key": "r", "order_id": order.order_ref, "occurred_at": T0} | what
    )
    amount, order.refunded_quantities = members.refund_amount(order, event)
    return members.refund(SHOP, state, order, amount, T0 + timedelta(hours=1))


def card(state: MemberState) -> tuple[int, int]:
    held = state.cards["coffee-card"]
    return held.punches, held.completed


def member() -> MemberState:
    state = MemberState(MemberId(1), T0)
    members.enroll(SHOP, state)
    return state


def test_each_unit_punches_and_a_full_card_issues_its_voucher_then_starts_again() -> None:
    state = member()
    bags(state, 4, "o1")
    assert card(state) == (4, 0) and not state.card_vouchers
    lines = (OrderLine(sku="COFFEE", category="coffee", quantity=6, amount=Decimal(60)),)
    outcome = members.purchase(SHOP, state, OrderState("o2", T0, 6000, "EUR", lines), Decimal(60))
    assert card(state) == (1, 1)  # 10 punches: one card of 9, and 1 on the next
    (voucher,) = outcome.vouchers
    assert voucher.terms == {
        "kind": "free_product",
        "sku": "COFFEE-BAG",
        "punch_card": "coffee-card",
    }
    assert outcome.punches == {"coffee-card": 6} and state.card_vouchers == [voucher]
    assert [e.kind for e in outcome.effects if e.kind == "punch_card.completed"] == [
        "punch_card.completed"
    ]
    mug = (OrderLine(sku="MUG", category="home", amount=Decimal(5)),)
    no_coffee = OrderState("o3", T0, 500, "EUR", mug)
    assert not members.purchase(SHOP, state, no_coffee, Decimal(5)).punches
    assert no_coffee.punches == {} and card(state) == (1, 1)


def test_returned_units_take_their_punches_back_and_an_unused_voucher_with_them() -> None:
    state = member()
    bags(state, 5, "o1")
    second = bags(state, 5, "o2")
    (voucher,) = state.card_vouchers
    assert card(state) == (1, 1)
    taken = refund(state, second, lines=[RefundLine(sku="COFFEE", quantity=2)])
    assert taken.cancelled_vouchers == [voucher] and voucher.cancelled_at is not None
    assert card(state) == (8, 0) and not state.card_vouchers
    assert taken.punches == {"coffee-card": -2}
    refund(state, second, lines=[RefundLine(sku="MUG")])  # no coffee: no punch back
    assert card(state) == (8, 0)


def test_an_amount_refund_returns_no_goods_and_a_full_refund_takes_every_punch() -> None:
    state = member()
    order = bags(state, 3, "o1")
    refund(state, order, amount=Decimal("10.00"))
    assert card(state) == (3, 0)
    refund(state, order)  # the rest: the whole order is refunded
    assert card(state) == (0, 0)


def test_punches_of_a_used_reward_are_owed_and_repaid_by_the_next_bags() -> None:
    state = member()
    order = bags(state, 9, "o1")
    state.card_vouchers.clear()  # the till consumed the voucher: it is no longer unused
    taken = refund(state, order, lines=[RefundLine(sku="COFFEE", quantity=3)])
    assert taken.cancelled_vouchers == [] and card(state) == (-3, 1)
    bags(state, 4, "o2")
    assert card(state) == (1, 1)


def test_a_card_must_name_its_reward() -> None:
    text = example("shop.yaml").replace("    sku: COFFEE-BAG\n", "")
    with pytest.raises(ProgramInvalid, match="a free_product card needs a sku"):
        parse_program(text)
