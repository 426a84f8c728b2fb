"""examples/shop.yaml, section by section, as a shop would use it (both databases).

Every section is active: each has its story here.
"""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from fidela.domain.errors import Conflict, InsufficientCredit, InvalidInput
from fidela.domain.events import Enrollment
from fidela.domain.ids import ProgramId
from fidela.domain.memberships import parse_membership_payment
from fidela.services import (
    credit,
    jobs,
    ledger,
    members,
    memberships,
    programs,
    referrals,
    rewards,
)
from fidela.store.unit_of_work import UnitOfWork
from tests.conftest import T0, example
from tests.services.helpers import enroll, purchase, send


@pytest.fixture
def shop(uow: UnitOfWork) -> ProgramId:
    return programs.apply(uow, example("shop.yaml"), now=T0).program_id


def activity(uow: UnitOfWork, shop: ProgramId, name: str, key: str, at: datetime) -> int:
    customer = {"email": "ana@example.com"}
    recorded = send(uow, shop, at, type=name, idempotency_key=key, customer=customer)
    return int(recorded.result["points"])


def test_earn_rules_by_category_and_by_activity_within_their_limits(
    uow: UnitOfWork, shop: ProgramId
) -> None:
    enroll(uow, shop, "ana@example.com", T0)  # welcome: 200
    lines = [
        {"sku": "SERUM", "category": "beauty", "quantity": 2, "amount": "20.00"},
        {"sku": "GIFT50", "category": "gift-card", "amount": "50.00"},
        {"sku": "MUG", "category": "home", "amount": "30.00"},
    ]
    bought = purchase(uow, shop, "ana@example.com", "A1", "100.00", T0, lines=lines)
    # base: 5 a EUR on all but the gift card (50 EUR) = 250; double-beauty: 5 a EUR on 20 EUR
    rules = ["base", "double-beauty", "home-cashback"]
    assert (bought.result["points"], bought.result["rules"]) == (350, rules)
    at = T0 + timedelta(hours=1)
    assert [activity(uow, shop, "newsletter_signup", f"n{i}", at) for i in range(2)] == [50, 0]
    # 3 shares a month, counted in Paris: 23:30 UTC on 31 January is already February there.
    shares = [T0 + timedelta(days=d) for d in (1, 2, 3, 4)] + [
        datetime(2026, 1, 31, 23, 30, tzinfo=UTC)
    ]
    granted = [activity(uow, shop, "social_share", f"s{i}", t) for i, t in enumerate(shares)]
    assert granted == [10, 10, 10, 0, 10]
    assert members.balance(uow, shop, "ana@example.com")["pending"] == 200 + 350 + 50 + 40
    assert ledger.verify(uow, shop).ok


def test_the_whole_balance_expires_540_days_after_the_last_purchase(
    uow: UnitOfWork, shop: ProgramId
) -> None:
    enroll(uow, shop, "ana@example.com", T0)
    purchase(uow, shop, "ana@example.com", "A1", "10.00", T0)  # 50, with the welcome 200
    purchase(uow, shop, "ana@example.com", "A2", "10.00", T0 + timedelta(days=100))
    deadline = T0 + timedelta(days=640)
    assert (
        jobs.run_due(uow, shop, now=deadline - timedelta(seconds=1)).get("points_expired") is None
    )
    assert members.balance(uow, shop, "ana@example.com")["available"] == 300
    assert jobs.run_due(uow, shop, now=deadline)["points_expired"] == 300
    assert ledger.summary(uow, shop)["expired"] == 300


def test_cashback_is_store_credit_pending_then_spent_at_checkout_and_reversed_on_refund(
    uow: UnitOfWork, shop: ProgramId
) -> None:
    member_id = enroll(uow, shop, "ana@example.com", T0)
    lines = [
        {"sku": "LAMP", "category": "home", "quantity": 2, "amount": "79.90"},
        {"sku": "SERUM", "category": "beauty", "amount": "20.00"},
    ]
    bought = purchase(uow, shop, "ana@example.com", "A1", "99.90", T0, lines=lines)
    assert bought.result["cashback"] == "3.99"  # 5 % of the home line, 3.995, rounded down
    wallet = members.balance(uow, shop, "ana@example.com")["credit"]
    assert wallet == {"currency": "EUR", "available": "0.00", "pending": "3.99", "debt": "0.00"}
    with pytest.raises(InsufficientCredit, match=r"only 0\.00 EUR"):  # the return window first
        credit.pay(uow, shop, member_id, Decimal("1.00"), "EUR", order_id="B1", now=T0)

    after_window = T0 + timedelta(days=30)
    jobs.run_due(uow, shop, now=after_window)
    paid = credit.pay(uow, shop, member_id, Decimal("2.50"), "EUR", order_id="B1", now=after_window)
    assert paid["available"] == "1.49"
    assert credit.cancel(uow, shop, paid["payment_id"], now=after_window)["available"] == "3.99"
    with pytest.raises(Conflict):
        credit.cancel(uow, shop, paid["payment_id"], now=after_window)
    with pytest.raises(InvalidInput, match="USD is not the program's currency"):
        credit.pay(uow, shop, member_id, Decimal("1.00"), "USD", order_id="B2", now=after_window)
    credit.pay(uow, shop, member_id, Decimal("3.00"), "EUR", order_id="B2", now=after_window)

    # One lamp of two comes back: 39.95 of 99.90, so 1.59 of the 3.99; 0.99 are left to
    # take, and the 0.60 already spent become a debt.
    later = after_window + timedelta(days=1)
    refund = {"type": "refund", "order_id": "A1", "lines": [{"sku": "LAMP", "quantity": 1}]}
    returned = send(uow, shop, later, idempotency_key="r1", **refund)
    assert returned.result["cashback"] == "-1.59"
    wallet = members.balance(uow, shop, "ana@example.com")["credit"]
    assert (wallet["available"], wallet["debt"]) == ("0.00", "0.60")
    # The next cashback repays the debt first.
    home = [{"sku": "VASE", "category": "home", "amount": "20.00"}]
    purchase(uow, shop, "ana@example.com", "A2", "20.00", later, lines=home)
    wallet = members.balance(uow, shop, "ana@example.com")["credit"]
    assert (wallet["pending"], wallet["debt"]) == ("0.40", "0.00")

    send(uow, shop, later, idempotency_key="r2", type="refund", order_id="A1")  # the rest
    send(uow, shop, later, idempotency_key="r3", type="refund", order_id="A2")
    totals = ledger.summary(uow, shop)["credit"]
    assert (totals["issued"], totals["reversed"], totals["spent"]) == ("4.99", "4.99", "3.00")
    wallet = members.balance(uow, shop, "ana@example.com")["credit"]
    assert (wallet["available"], wallet["pending"], wallet["debt"]) == ("0.00", "0.00", "3.00")
    history = members.show(uow, shop, "ana@example.com")["history"]
    earned = next(entry for entry in history if entry["credit"] == "3.99")
    assert earned["rules"] == ["home-cashback"] and earned["cause"]["event"] == "purchase"
    assert ledger.verify(uow, shop).ok


def coffee(quantity: int) -> list[dict[str, object]]:
    return [
        {
            "sku": "COFFEE",
            "category": "coffee",
            "quantity": quantity,
            "amount": f"{quantity * 12}.00",
        }
    ]


def test_the_coffee_card_issues_a_voucher_at_nine_bags_that_a_return_takes_back(
    uow: UnitOfWork, shop: ProgramId
) -> None:
    enroll(uow, shop, "ana@example.com", T0)
    first = purchase(uow, shop, "ana@example.com", "C1", "60.00", T0, lines=coffee(5))
    assert first.result["punches"] == {"coffee-card": 5} and "vouchers" not in first.result
    second = purchase(uow, shop, "ana@example.com", "C2", "60.00", T0, lines=coffee(5))
    (code,) = second.result["vouchers"]
    voucher = rewards.validate_voucher(uow, shop, code)
    assert voucher["usable"] and (voucher["kind"], voucher["sku"]) == ("free_product", "COFFEE-BAG")
    card = members.show(uow, shop, "ana@example.com")["punch_cards"]
    assert card == [
        {"card": "coffee-card", "name": card[0]["name"], "punches": 1, "of": 9, "completed": 1}
    ]
    (issued,) = members.show(uow, shop, "ana@example.com")["redemptions"]
    assert (issued["source"], issued["points"], issued["voucher_code"]) == ("punch_card", 0, code)
    redemption_id = issued["redemption_id"]
    with pytest.raises(Conflict, match="punch card"):  # not cancelled like a redemption
        rewards.cancel(uow, shop, redemption_id, now=T0)

    # Two bags of the second order come back: the card is 8 of 9 again, the voucher gone.
    back = {"type": "refund", "order_id": "C2", "lines": [{"sku": "COFFEE", "quantity": 2}]}
    returned = send(uow, shop, T0 + timedelta(days=1), idempotency_key="r1", **back)
    assert returned.result["punches"] == {"coffee-card": -2}
    assert rewards.validate_voucher(uow, shop, code)["status"] == "cancelled"
    with pytest.raises(Conflict):
        rewards.consume_voucher(uow, shop, code, order_id="X", now=T0 + timedelta(days=1))

    # One more bag completes it again; the new voucher is used, then the order refunded:
    # the used reward can't come back, so the punches are owed.
    third = purchase(uow, shop, "ana@example.com", "C3", "12.00", T0 + timedelta(days=2),
                     lines=coffee(1))  # fmt: skip
    (new_code,) = third.result["vouchers"]
    rewards.consume_voucher(uow, shop, new_code, order_id="C4", now=T0 + timedelta(days=2))
    send(uow, shop, T0 + timedelta(days=3), idempotency_key="r2", type="refund", order_id="C3")
    (card,) = members.show(uow, shop, "ana@example.com")["punch_cards"]
    assert (card["punches"], card["completed"]) == (-1, 1)
    assert ledger.verify(uow, shop).ok


def test_verte_plus_from_trial_to_paid_to_cancelled_and_lapsed(
    uow: UnitOfWork, shop: ProgramId
) -> None:
    ana = enroll(uow, shop, "ana@example.com", T0)
    joined = memberships.join(uow, shop, ana, "verte-plus", None, now=T0)["membership"]
    assert (joined["status"], joined["earn_multiplier"], joined["perks"]) == (
        "trial",
        "2",
        ["free_shipping"],
    )
    till = members.balance(uow, shop, "ana@example.com")
    assert till["perks"] == ["free_shipping"] and till["membership"]["status"] == "trial"
    assert till["pending"] == 200 + 300  # welcome, and the first month's points
    bought = purchase(uow, shop, "ana@example.com", "A1", "10.00", T0 + timedelta(days=1))
    assert bought.result["points"] == 100  # 5 a EUR, doubled

    usd = parse_membership_payment({"amount": "59.00", "currency": "USD"})
    with pytest.raises(InvalidInput, match="USD"):
        memberships.pay(uow, shop, ana, usd, now=T0 + timedelta(days=20))
    payment = parse_membership_payment({"amount": "59.00", "currency": "EUR", "reference": "ch_1"})
    paid = memberships.pay(uow, shop, ana, payment, now=T0 + timedelta(days=20))
    trial_end = T0 + timedelta(days=30)
    (recorded,) = paid["payments"]
    assert paid["membership"]["status"] == "active"
    assert recorded["period"][0] == trial_end.astimezone(ZoneInfo("Europe/Paris")).isoformat()
    assert (recorded["amount"], recorded["reference"]) == ("59.00", "ch_1")

    cancelled = memberships.cancel(uow, shop, ana, now=T0 + timedelta(days=40))
    assert cancelled["membership"]["cancel_at_period_end"] is True
    period_end = datetime.fromisoformat(cancelled["membership"]["period_ends_at"])
    jobs.run_due(uow, shop, now=period_end)
    shown = members.show(uow, shop, "ana@example.com")
    assert shown["membership"]["status"] == "lapsed" and shown["membership"]["perks"] == []
    monthly = [e for e in shown["history"] if e["rules"] == ["verte-plus"]]
    assert len(monthly) == 13  # at joining, then on each anniversary up to the period's end
    assert all(e["cause"]["actor"] == "scheduler" for e in monthly[1:])
    assert members.balance(uow, shop, "ana@example.com")["perks"] == []
    assert ledger.verify(uow, shop).ok


def test_referrals_reward_both_after_the_return_window_and_a_refund_takes_both_back(
    uow: UnitOfWork, shop: ProgramId
) -> None:
    ana = enroll(uow, shop, "ana@gmail.com", T0)
    code = referrals.of_member(uow, shop, ana)["code"]
    assert len(code) == 8 and referrals.of_member(uow, shop, ana)["code"] == code  # kept

    def join(email: str, **extra: object) -> members.Enrolled:
        form = {"email": email, "enrolled_at": T0, "referral_code": code.lower(), **extra}
        return members.enroll(uow, shop, Enrollment.model_validate(form), now=T0)

    assert join("bob@gmail.com").referral["status"] == "pending"  # type: ignore[index]
    eve = join("eve@gmail.com")
    itself = join("a.n.a+promo@gmail.com").referral
    assert (
        itself is not None and itself["status"] == "refused" and "self-referral" in itself["reason"]
    )
    with pytest.raises(InvalidInput, match="no member has the code"):
        members.enroll(
            uow,
            shop,
            Enrollment.model_validate(
                {"email": "x@gmail.com", "enrolled_at": T0, "referral_code": "NOPE"}
            ),
            now=T0,
        )

    purchase(uow, shop, "bob@gmail.com", "B1", "20.00", T0 + timedelta(days=1))  # under 30.00
    purchase(uow, shop, "eve@gmail.com", "E1", "50.00", T0 + timedelta(days=1))
    window_end = T0 + timedelta(days=31)
    assert (
        jobs.run_due(uow, shop, now=window_end - timedelta(seconds=1)).get("referrals_settled")
        is None
    )
    assert jobs.run_due(uow, shop, now=window_end)["referrals_settled"] == 1
    mine = referrals.of_member(uow, shop, ana)["referrals"]
    assert [(r["status"], r["referee_id"]) for r in mine] == [
        ("failed", mine[0]["referee_id"]),
        ("rewarded", eve.member_id),
        ("refused", mine[2]["referee_id"]),
    ]
    history = members.show(uow, shop, "ana@gmail.com")["history"]
    (reward,) = [e for e in history if e["rules"] == ["referral"]]
    assert (
        reward["points"] == 500
        and reward["cause"]["reason"] == f"referral of member {eve.member_id}"
    )
    assert members.balance(uow, shop, "eve@gmail.com")["available"] >= 300

    before = members.balance(uow, shop, "ana@gmail.com")["available"]
    send(
        uow,
        shop,
        window_end + timedelta(days=1),
        idempotency_key="r-E1",
        type="refund",
        order_id="E1",
    )
    # Settled at once after the refund: both rewards are reversed.
    assert members.balance(uow, shop, "ana@gmail.com")["available"] == before - 500
    (eves,) = referrals.page(uow, shop, status="reversed", after=0, limit=10)["referrals"]
    assert eves["referee_id"] == eve.member_id and eves["reason"] == "the first order was refunded"
    refused = referrals.page(uow, shop, status="refused", after=0, limit=10)["referrals"]
    assert [r["reason"] for r in refused] == [itself["reason"]]
    assert ledger.verify(uow, shop).ok


def test_tiers_by_points_earned_up_at_once_and_down_at_the_yearly_review(
    uow: UnitOfWork, shop: ProgramId
) -> None:
    enroll(uow, shop, "ana@example.com", T0)  # welcome: 200 points earned
    crossing = purchase(uow, shop, "ana@example.com", "A1", "400.00", T0 + timedelta(hours=1))
    assert (crossing.result["points"], crossing.result["tier"]) == (2000, "silver")  # at 1x
    after = purchase(uow, shop, "ana@example.com", "A2", "10.00", T0 + timedelta(hours=2))
    assert after.result["points"] == 62  # 50 x 1.25, rounded down
    assert members.balance(uow, shop, "ana@example.com")["perks"] == []  # silver has none
    jobs.run_due(uow, shop, now=T0 + timedelta(days=366))
    shown = members.show(uow, shop, "ana@example.com")
    assert shown["tier"]["id"] == "insider"  # 62 points earned in the year up to the review
    assert ledger.verify(uow, shop).ok
