"""Referrals: a member's code brings a friend; both earn once the friend's first order
holds past its return window.

- The friend enrolls with the referrer's code. The referral is **refused** (and kept,
  with the reason, as suspected fraud) when the friend is the referrer: the same shop
  customer id, or the same e-mail once dots and plus-tags are removed from its local
  part; with `forbid_same_email_domain_and_address`, also when the friend's e-mail is
  at the referrer's domain and that domain is not a public mail provider. A friend who
  bought before enrolling is no new customer: refused too.
- The friend's first order as a member decides: below `min_first_order` the referral
  **fails**; otherwise it **waits** for the return window (`pending_days`) to pass.
- Then both are **rewarded**: `referee_points` to the friend, `referrer_points` to the
  referrer, at the instant the window ends.
- A refund that takes the first order below `min_first_order` **cancels** a waiting
  referral, or takes both rewards back from a rewarded one (**reversed**).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Literal

from fidela.domain.money import to_minor
from fidela.domain.program import Program

Status = Literal[
    "pending",  # enrolled, no order yet
    "waiting",  # the first order qualifies: waiting for its return window
    "rewarded",
    "refused",  # suspected fraud, or no new customer
    "failed",  # the first order was below min_first_order
    "cancelled",  # the first order was refunded below it within the window
    "reversing",  # refunded below it after the rewards: to take them back
    "reversed",
]

UNDECIDED: tuple[Status, ...] = ("pending", "waiting", "rewarded")  # the first order may change


def due(status: str, qualifies_at: datetime | None, now: datetime) -> bool:
    """Whether a referral is to settle now: rewarded at the end of its return window, or
    its rewards taken back after its first order was refunded."""
    waited = qualifies_at is not None and qualifies_at <= now
    return status == "reversing" or (status == "waiting" and waited)


# Addresses at these domains belong to anyone: sharing one says nothing.
PUBLIC_MAIL = frozenset(
    """gmail.com googlemail.com outlook.com hotmail.com hotmail.fr live.com live.fr msn.com
    yahoo.com yahoo.fr ymail.com icloud.com me.com mac.com aol.com proton.me protonmail.com
    gmx.com gmx.de gmx.net gmx.fr web.de t-online.de orange.fr wanadoo.fr free.fr sfr.fr
    laposte.net bbox.fr libero.it virgilio.it yandex.com yandex.ru mail.ru qq.com 163.com
    zoho.com fastmail.com hey.com tutanota.com""".split()
)


@dataclass
class Referral:
    """A referral as the referee's state carries it, while their first order decides it."""

    referral_id: int
    status: Status
    first_order_ref: str | None = None
    qualifies_at: datetime | None = None
    reason: str | None = None
    closed_at: datetime | None = None  # decided for good by the referee's orders
    changed: bool = False


def canonical_email(email: str) -> str:
    """An address without what makes copies of it: dots and a plus-tag in its local part,
    in lower case (a.n.a+shop@example.com is ana@example.com); googlemail is gmail."""
    local, _, domain = email.strip().lower().rpartition("@")
    local = local.split("+", 1)[0].replace(".", "")
    return f"{local}@{'gmail.com' if domain == 'googlemail.com' else domain}"


def refusal(
    program: Program,
    referrer: tuple[str | None, str | None],
    friend: tuple[str | None, str | None],
    *,
    bought_before: bool,
) -> str | None:
    """Why the friend can't be the referrer's referral, or None; each side is its (shop
    customer id, e-mail)."""
    assert program.referral is not None
    (referrer_id, referrer_email), (friend_id, friend_email) = referrer, friend
    if referrer_id is not None and referrer_id == friend_id:
        return "self-referral: the same shop customer id"
    if referrer_email and friend_email:
        mine, theirs = canonical_email(referrer_email), canonical_email(friend_email)
        if mine == theirs:
            return "self-referral: the same e-mail once dots and plus-tags are removed"
        domain = mine.rpartition("@")[2]
        same_domain = domain == theirs.rpartition("@")[2] and domain not in PUBLIC_MAIL
        if program.referral.forbid_same_email_domain_and_address and same_domain:
            return f"the same e-mail domain as the referrer ({domain}), not a public provider"
    if bought_before:
        return "no new customer: bought before enrolling"
    return None


def first_order(
    program: Program, referral: Referral, order_ref: str, amount: Decimal, at: datetime
) -> None:
    """The referee's first order as a member decides the referral."""
    assert program.referral is not None
    referral.changed = True
    referral.first_order_ref = order_ref
    if amount < program.referral.min_first_order:
        referral.status, referral.closed_at = "failed", at
        referral.reason = f"the first order was below {program.referral.min_first_order}"
        return
    referral.status = "waiting"
    referral.qualifies_at = at + timedelta(days=program.pending_days)


def refunded(
    program: Program, referral: Referral, amount_minor: int, refunded_minor: int, at: datetime
) -> None:
    """The first order was refunded: wholly, or below `min_first_order`, what it earned goes."""
    assert program.referral is not None
    minimum = to_minor(program.referral.min_first_order, program.currency)
    if refunded_minor < amount_minor and amount_minor - refunded_minor >= minimum:
        return
    if referral.status not in ("waiting", "rewarded"):
        return
    if referral.status == "waiting":
        referral.status, referral.closed_at = "cancelled", at
    else:
        referral.status = "reversing"  # closed once both rewards are taken back
    referral.reason = "the first order was refunded"
    referral.changed = True
