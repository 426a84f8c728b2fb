"""Fraud signals beyond caps and velocity: members who refund too much of what they buy."""

from __future__ import annotations

from typing import NamedTuple

from fidela.domain.program import Program


class Buying(NamedTuple):
    """A member's orders so far: how many, what they came to, what was refunded."""

    orders: int
    bought_minor: int
    refunded_minor: int


def refunds_too_much(program: Program, buying: Buying) -> bool:
    """True when the member's refunds pass the program's `flag_refund_share` of what they
    bought, over at least `flag_after_orders` orders."""
    caps = program.caps
    if caps is None or caps.flag_refund_share is None or buying.bought_minor == 0:
        return False
    if buying.orders < caps.flag_after_orders:
        return False
    return buying.refunded_minor > caps.flag_refund_share * buying.bought_minor
