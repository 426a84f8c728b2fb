"""Rewards: which a member may redeem, and what the voucher they get is worth."""

from __future__ import annotations

import secrets
from decimal import ROUND_DOWN, Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, ValidationError

from fidela.domain.errors import Conflict, InvalidInput, NotFound
from fidela.domain.events import Text, invalid_input
from fidela.domain.money import exponent, to_minor
from fidela.domain.program import Positive, Program, Reward

VOUCHER_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O or 1/I to misread at a till


def redeemable(program: Program, reward_id: str, tier: str | None) -> Reward:
    """The reward, if this member may redeem it now; else an error naming why not."""
    reward = program.reward(reward_id)
    if reward is None:
        raise NotFound("reward_id", f"no reward {reward_id} in the catalog")
    if reward.min_tier is not None:
        assert program.tiers is not None
        if tier is None or program.tiers.rank(tier) < program.tiers.rank(reward.min_tier):
            raise InvalidInput("reward_id", f"needs tier {reward.min_tier} or above")
    return reward


def within_limits(reward: Reward, by_member: int, by_everyone: int) -> None:
    """Refuse a redemption past the reward's `per_member_limit` or its `stock`, given how
    many were redeemed (and not cancelled) by this member and by everyone."""
    limit = reward.per_member_limit
    if limit is not None and by_member >= limit:
        raise Conflict("reward_id", f"redeemed {by_member} times already, the limit per member")
    if reward.stock is not None and by_everyone >= reward.stock:
        raise Conflict("reward_id", f"out of stock: all {reward.stock} were redeemed")


def stock_left(reward: Reward, by_everyone: int) -> int | None:
    """What the catalog shows: how many are left (None: no stock is kept)."""
    return None if reward.stock is None else max(reward.stock - by_everyone, 0)


class Payment(BaseModel):
    """Points paying for part of an order at checkout (a `points_as_payment` reward)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    order_amount: Positive
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
    points: PositiveInt
    order_id: Text | None = None


def parse_payment(data: dict[str, Any]) -> Payment:
    """A payment from loose input (the command line): InvalidInput naming the field if bad."""
    try:
        return Payment.model_validate(data)
    except ValidationError as error:
        raise invalid_input(error) from None


def most_points_for(program: Program, reward: Reward, order_amount: Decimal) -> int:
    """The most points that may pay for an order of `order_amount`: its
    `max_share_of_order`, in whole points at the program's `point_value`."""
    assert reward.max_share_of_order is not None
    share = order_amount * reward.max_share_of_order
    return int((share / program.point_value).to_integral_value(ROUND_DOWN))


def paid_amount(program: Program, points: int) -> Decimal:
    """What `points` take off an order, rounded down to the currency's smallest unit."""
    quantum = Decimal(1).scaleb(-exponent(program.currency))
    return (points * program.point_value).quantize(quantum, rounding=ROUND_DOWN)


def payment_points(program: Program, reward: Reward, payment: Payment | None) -> int:
    """The points a redemption spends: the reward's cost, or for `points_as_payment` those
    the payment names, if the order allows that many (the wallet says if the member has
    them)."""
    if reward.kind != "points_as_payment":
        if payment is not None:
            raise InvalidInput("payment", f"only points_as_payment takes one, not {reward.kind}")
        assert reward.cost is not None
        return reward.cost
    if payment is None:
        raise InvalidInput("payment", "points_as_payment needs the order's amount and the points")
    program.check_currency(payment.currency, "payment.currency")
    to_minor(payment.order_amount, payment.currency, "payment.order_amount")
    most = most_points_for(program, reward, payment.order_amount)
    if payment.points > most:
        share = reward.max_share_of_order
        raise InvalidInput("payment.points", f"more than {share} of the order: at most {most}")
    return payment.points


def voucher_terms(
    program: Program, reward: Reward, points: int, payment: Payment | None = None
) -> dict[str, Any]:
    """What the shop gives for the voucher: an amount off, a product, or an experience
    (the voucher is the booking, which the staff confirm by consuming it)."""
    match reward.kind:
        case "discount":
            assert reward.amount is not None
            return {"kind": "discount", "amount": str(reward.amount), "currency": program.currency}
        case "points_as_payment":
            amount = str(paid_amount(program, points))
            terms = {"kind": "discount", "amount": amount, "currency": program.currency}
            return terms | ({"order_id": payment.order_id} if payment and payment.order_id else {})
        case "experience":
            return {"kind": "experience", "name": reward.name}
    return {"kind": "free_product", "sku": reward.sku}


def normalize_code(code: str) -> str:
    """A voucher code as typed at a till: trimmed, any case."""
    return code.strip().upper()


def new_voucher_code() -> str:
    """A fresh, random voucher code."""
    return voucher_code(random_symbols(8))


def random_symbols(count: int) -> str:
    """`count` random symbols easy to read out and type (no 0/O, 1/I)."""
    return "".join(secrets.choice(VOUCHER_ALPHABET) for _ in range(count))


def voucher_code(random_symbols: str) -> str:
    """A voucher code made readable: FID-XXXX-XXXX from eight random symbols."""
    if len(random_symbols) != 8 or set(random_symbols) - set(VOUCHER_ALPHABET):
        raise ValueError("a voucher code takes eight symbols of VOUCHER_ALPHABET")
    return f"FID-{random_symbols[:4]}-{random_symbols[4:]}"
