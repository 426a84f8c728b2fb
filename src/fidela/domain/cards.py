"""Punch cards: a punch per qualifying unit bought; a full card issues its reward's voucher.

A member holds one card of each kind at a time. Each unit of an order line in the
card's category punches it; at `punches` the card completes, its voucher is issued and
a new card starts with the punches left over. Returned units (a refund of lines) take
their punches back, and so does a refund of the whole order; a refund of an amount
alone returns no goods and takes none. Punches taken back below zero first take back
the last unused voucher of that card (the completed card is restored); if every voucher
was used, the member owes the punches, and the next ones bought repay them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fidela.domain.events import OrderLine
from fidela.domain.program import Program, PunchCard
from fidela.domain.rewards import new_voucher_code


@dataclass
class Card:
    """A member's current card of one kind."""

    punches: int = 0  # below zero: punches owed (taken back after the reward was used)
    completed: int = 0


@dataclass(eq=False)
class CardVoucher:
    """The voucher a completed card issued (a redemption of no points, once stored)."""

    card_id: str
    code: str
    issued_at: datetime
    terms: dict[str, Any]
    cancelled_at: datetime | None = None  # taken back by a refund


def units(card: PunchCard, lines: Sequence[OrderLine]) -> int:
    """The punches an order's lines give this card: one per unit of its category."""
    return sum(line.quantity for line in lines if line.category == card.category)


def voucher_terms(card: PunchCard, currency: str) -> dict[str, Any]:
    """What the shop gives for a full card: the product, or an amount off."""
    if card.reward == "free_product":
        return {"kind": "free_product", "sku": card.sku, "punch_card": card.id}
    amount = str(card.amount)
    return {"kind": "discount", "amount": amount, "currency": currency, "punch_card": card.id}


def punch(
    program: Program,
    cards: dict[str, Card],
    lines: Sequence[OrderLine],
    at: datetime,
) -> tuple[dict[str, int], list[CardVoucher]]:
    """Punch the member's cards for an order; the punches given per card, and the
    vouchers of the cards it completed."""
    given: dict[str, int] = {}
    vouchers = []
    for card in program.punch_cards:
        count = units(card, lines)
        if not count:
            continue
        given[card.id] = count
        held = cards.setdefault(card.id, Card())
        held.punches += count
        while held.punches >= card.punches:
            held.punches -= card.punches
            held.completed += 1
            terms = voucher_terms(card, program.currency)
            vouchers.append(CardVoucher(card.id, new_voucher_code(), at, terms))
    return given, vouchers


def unpunch(
    card: PunchCard,
    cards: dict[str, Card],
    unused: list[CardVoucher],
    count: int,
    at: datetime,
) -> list[CardVoucher]:
    """Take `count` punches of a card back at `at`; the unused vouchers this takes back
    (removed from `unused`)."""
    held = cards.setdefault(card.id, Card())
    held.punches -= count
    taken = []
    while held.punches < 0:
        voucher = next((v for v in reversed(unused) if v.card_id == card.id), None)
        if voucher is None:
            break  # every reward was used: the punches are owed
        unused.remove(voucher)
        voucher.cancelled_at = at
        taken.append(voucher)
        held.punches += card.punches
        held.completed -= 1
    return taken


def returned(
    lines: Sequence[OrderLine],
    category: str,
    refunded_quantities: dict[str, int],
    given: int,
    fully_refunded: bool,
) -> int:
    """How many of the punches an order gave (`given`) its refunds take back so far: all
    of them once the whole order is refunded, else one per returned unit of the card's
    category (refunds of lines name their sku)."""
    if fully_refunded:
        return given
    skus = {line.sku for line in lines if line.category == category and line.sku}
    return min(given, sum(refunded_quantities.get(sku, 0) for sku in skus))
