"""Referrals: who may refer whom, and how the friend's first order decides."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from fidela.domain import members, referrals
from fidela.domain.ids import MemberId
from fidela.domain.members import MemberState, OrderState
from fidela.domain.program import parse_program
from fidela.domain.referrals import Referral, canonical_email, refusal
from tests.conftest import example

SHOP = parse_program(example("shop.yaml"))  # min_first_order 30.00, pending_days 30
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def test_copies_of_an_address_are_one_address() -> None:
    assert canonical_email(" A.n.a+Shop@Example.COM") == "ana@example.com"
    assert canonical_email("ana.b@googlemail.com") == "anab@gmail.com"


@pytest.mark.parametrize(
    ("referrer", "friend", "reason"),
    [
        (("c1", "ana@gmail.com"), ("c1", "bob@gmail.com"), "same shop customer id"),
        ((None, "ana@gmail.com"), (None, "a.n.a+promo@gmail.com"), "same e-mail"),
        ((None, "zoe@acme.fr"), (None, "yann@acme.fr"), "same e-mail domain"),
        ((None, "ana@gmail.com"), (None, "bob@gmail.com"), None),  # a public provider
        ((None, "ana@gmail.com"), ("c9", None), None),
    ],
)
def test_self_referral_and_a_shared_private_domain_are_refused(
    referrer: tuple[str | None, str | None],
    friend: tuple[str | None, str | None],
    reason: str | None,
) -> None:
    found = refusal(SHOP, referrer, friend, bought_before=False)
    assert (found is None) if reason is None else (reason in str(found))


def test_a_shared_domain_is_allowed_when_the_program_says_so() -> None:
    lenient = parse_program(
        example("shop.yaml").replace(
            "forbid_same_email_domain_and_address: true",
            "forbid_same_email_domain_and_address: false",
        )
    )
    assert (
        refusal(lenient, (None, "zoe@acme.fr"), (None, "yann@acme.fr"), bought_before=False) is None
    )
    assert "same e-mail once" in str(
        refusal(lenient, (None, "zoe@acme.fr"), (None, "z.o.e@acme.fr"), bought_before=False)
    )
    assert "bought before" in str(
        refusal(lenient, (None, "zoe@acme.fr"), (None, "yann@acme.fr"), bought_before=True)
    )


def friend() -> MemberState:
    state = MemberState(MemberId(2), T0, referral=Referral(1, "pending"))
    members.enroll(SHOP, state)
    return state


def buy(state: MemberState, amount: str, ref: str, at: datetime = T0) -> OrderState:
    order = OrderState(ref, at, int(Decimal(amount) * 100), "EUR")
    members.purchase(SHOP, state, order, Decimal(amount))
    return order


def test_the_first_order_decides_and_only_the_first() -> None:
    state = friend()
    buy(state, "29.99", "small")
    assert state.referral is not None and state.referral.status == "failed"
    assert "below 30.00" in str(state.referral.reason) and state.referral.closed_at == T0
    buy(state, "100.00", "big", T0 + timedelta(days=1))
    assert state.referral.status == "failed"  # a later order does not count


def test_a_qualifying_first_order_waits_for_its_return_window() -> None:
    state = friend()
    buy(state, "30.00", "first")
    buy(state, "5.00", "second", T0 + timedelta(hours=1))
    referral = state.referral
    assert referral is not None and referral.changed
    assert (referral.status, referral.first_order_ref) == ("waiting", "first")
    assert referral.qualifies_at == T0 + timedelta(days=30)


def test_a_refund_below_the_minimum_cancels_or_takes_back_and_one_above_does_not() -> None:
    referral = Referral(1, "waiting", "first", T0)
    referrals.refunded(SHOP, referral, 5000, 1000, T0)  # 40.00 remain
    assert referral.status == "waiting"
    referrals.refunded(SHOP, referral, 5000, 3000, T0)  # 20.00 remain
    assert (referral.status, referral.closed_at) == ("cancelled", T0)
    rewarded = Referral(2, "rewarded", "first", T0)
    referrals.refunded(SHOP, rewarded, 5000, 5000, T0)
    assert rewarded.status == "reversing" and rewarded.closed_at is None
