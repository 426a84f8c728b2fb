"""Rewards: which a member may redeem, and what the voucher they get is worth."""

from __future__ import annotations

from typing import Any

from fidela.domain.errors import Conflict, InvalidInput, NotFound
from fidela.domain.program import Program, Reward

ACTIVE_KINDS = ("discount", "free_product")
VOUCHER_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O or 1/I to misread at a till


def redeemable(program: Program, reward_id: str, tier: str | None) -> Reward:
    """The reward, if this member may redeem it now; else an error naming why not."""
    reward = program.reward(reward_id)
    if reward is None:
        raise NotFound("reward_id", f"no reward {reward_id} in the catalog")
    if reward.kind not in ACTIVE_KINDS:
        raise InvalidInput("reward_id", f"{reward.kind} rewards are not active yet")
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


def voucher_terms(program: Program, reward: Reward) -> dict[str, Any]:
    """What the shop gives for the voucher: an amount off, or a product."""
    if reward.kind == "discount":
        assert reward.amount is not None
        return {"kind": "discount", "amount": str(reward.amount), "currency": program.currency}
    return {"kind": "free_product", "sku": reward.sku}


def normalize_code(code: str) -> str:
    """A voucher code as typed at a till: trimmed, any case."""
    return code.strip().upper()


def voucher_code(random_symbols: str) -> str:
    """A voucher code made readable: FID-XXXX-XXXX from eight random symbols."""
    if len(random_symbols) != 8 or set(random_symbols) - set(VOUCHER_ALPHABET):
        raise ValueError("a voucher code takes eight symbols of VOUCHER_ALPHABET")
    return f"FID-{random_symbols[:4]}-{random_symbols[4:]}"
