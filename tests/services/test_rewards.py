"""Redemptions, vouchers and adjustments, also under concurrent requests."""

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine

from fidela.domain.errors import Conflict, InsufficientPoints, InvalidInput, NotFound
from fidela.domain.ids import MemberId, ProgramId
from fidela.domain.rewards import parse_payment
from fidela.services import adjustments, ledger, members, programs, rewards
from fidela.store.unit_of_work import UnitOfWork
from tests.conftest import T0, example
from tests.services.helpers import balance, enroll, purchase


@pytest.fixture
def ana(uow: UnitOfWork, cafe: ProgramId) -> MemberId:
    member_id = enroll(uow, cafe, "ana@example.com", T0)
    purchase(uow, cafe, "ana@example.com", "A1", "250.00", T0)
    return member_id


def test_redeeming_debits_points_and_issues_a_voucher_usable_once(
    uow: UnitOfWork, cafe: ProgramId, ana: MemberId
) -> None:
    redemption = rewards.redeem(uow, cafe, ana, "voucher-10", now=T0)
    assert redemption["points"] == 100 and redemption["available"] == 150
    code = redemption["voucher_code"]
    assert code.startswith("FID-") and len(code) == 13
    valid = rewards.validate_voucher(uow, cafe, code.lower())
    assert valid["usable"] and valid["amount"] == "10.00" and valid["currency"] == "EUR"
    rewards.consume_voucher(uow, cafe, code, order_id="A2", now=T0)
    with pytest.raises(Conflict, match="consumed"):
        rewards.consume_voucher(uow, cafe, code, order_id="A3", now=T0)
    assert not rewards.validate_voucher(uow, cafe, code)["usable"]
    with pytest.raises(Conflict):
        rewards.cancel(uow, cafe, redemption["redemption_id"], now=T0)


def test_a_redemption_beyond_the_balance_is_refused_and_changes_nothing(
    uow: UnitOfWork, cafe: ProgramId
) -> None:
    member_id = enroll(uow, cafe, "bob@example.com", T0)
    purchase(uow, cafe, "bob@example.com", "B1", "99.99", T0)
    with pytest.raises(InsufficientPoints):
        rewards.redeem(uow, cafe, member_id, "voucher-10", now=T0)
    assert balance(uow, cafe, "bob@example.com") == (99, 0, 0)
    with pytest.raises(NotFound):
        rewards.redeem(uow, cafe, member_id, "no-such-reward", now=T0)


def test_cancelling_gives_back_the_same_lots(
    uow: UnitOfWork, cafe: ProgramId, ana: MemberId
) -> None:
    lots_before = members.show(uow, cafe, "ana@example.com")["lots"]
    redemption = rewards.redeem(uow, cafe, ana, "voucher-10", now=T0)
    rewards.cancel(uow, cafe, redemption["redemption_id"], now=T0 + timedelta(days=1))
    assert members.show(uow, cafe, "ana@example.com")["lots"] == lots_before
    assert not rewards.validate_voucher(uow, cafe, redemption["voucher_code"])["usable"]
    assert ledger.verify(uow, cafe).ok


def test_points_of_lots_that_expired_meanwhile_expire_when_given_back(
    uow: UnitOfWork, cafe: ProgramId, ana: MemberId
) -> None:
    redemption = rewards.redeem(uow, cafe, ana, "voucher-10", now=T0)
    rewards.cancel(uow, cafe, redemption["redemption_id"], now=T0 + timedelta(days=400))
    summary = ledger.summary(uow, cafe)
    assert summary["expired"] == 250 and summary["redeemed"] == 0 and summary["outstanding"] == 0
    assert ledger.verify(uow, cafe).ok


def test_forty_concurrent_redemptions_with_room_for_ten_succeed_exactly_ten_times(
    engine: Engine, uow: UnitOfWork, cafe: ProgramId
) -> None:
    member_id = enroll(uow, cafe, "ana@example.com", T0)
    purchase(uow, cafe, "ana@example.com", "A1", "400.00", T0)  # 400 tokens = 10 free coffees

    def attempt(_: int) -> bool:
        try:
            rewards.redeem(UnitOfWork(engine), cafe, member_id, "free-coffee", now=T0)
        except InsufficientPoints:
            return False
        return True

    with ThreadPoolExecutor(max_workers=40) as pool:
        outcomes = list(pool.map(attempt, range(40)))
    assert outcomes.count(True) == 10
    assert balance(uow, cafe, "ana@example.com") == (0, 0, 0)
    assert ledger.verify(uow, cafe).ok


def test_adjustments_need_a_reason_and_never_overdraw(
    uow: UnitOfWork, cafe: ProgramId, ana: MemberId
) -> None:
    with pytest.raises(InvalidInput) as caught:
        adjustments.adjust(uow, cafe, ana, 10, actor="sam", reason=" ", now=T0)
    assert caught.value.field == "reason"
    adjustments.adjust(uow, cafe, ana, 30, actor="sam", reason="coffee was cold", now=T0)
    with pytest.raises(InsufficientPoints):
        adjustments.adjust(uow, cafe, ana, -500, actor="sam", reason="fraud", now=T0)
    assert balance(uow, cafe, "ana@example.com") == (280, 0, 0)
    last = members.show(uow, cafe, "ana@example.com")["history"][-1]
    assert last["cause"] == {"kind": "adjust", "actor": "sam", "reason": "coffee was cold"}
    assert ledger.summary(uow, cafe)["adjusted"] == 30


@pytest.fixture
def stocked(uow: UnitOfWork) -> ProgramId:
    """The café with 10 free coffees in stock, at most 2 per member."""
    text = example("cafe.yaml").replace(
        "    sku: COFFEE\n", "    sku: COFFEE\n    stock: 10\n    per_member_limit: 2\n"
    )
    return programs.apply(uow, text, now=T0).program_id


def test_20_members_redeeming_at_once_never_take_more_than_the_stock(
    engine: Engine, uow: UnitOfWork, stocked: ProgramId
) -> None:
    people = []
    for n in range(20):
        email = f"m{n}@example.com"
        people.append(enroll(uow, stocked, email, T0))
        purchase(uow, stocked, email, f"O{n}", "100.00", T0)  # 100 tokens: 2 coffees each

    def attempt(member_id: MemberId) -> str:
        try:
            rewards.redeem(UnitOfWork(engine), stocked, member_id, "free-coffee", now=T0)
        except Conflict as refused:
            return refused.reason
        return "redeemed"

    with ThreadPoolExecutor(max_workers=20) as pool:
        outcomes = list(pool.map(attempt, people))
    assert sorted(set(outcomes)) == ["out of stock: all 10 were redeemed", "redeemed"]
    assert outcomes.count("redeemed") == 10
    catalog = {r["id"]: r for r in programs.described(uow, stocked)["rewards"]}
    assert catalog["free-coffee"]["stock_left"] == 0 and "stock_left" not in catalog["voucher-10"]
    assert ledger.verify(uow, stocked).ok


def test_a_member_redeems_at_most_the_limit_and_a_cancelled_one_counts_no_more(
    uow: UnitOfWork, stocked: ProgramId
) -> None:
    ana = enroll(uow, stocked, "ana@example.com", T0)
    purchase(uow, stocked, "ana@example.com", "A1", "200.00", T0)
    first = rewards.redeem(uow, stocked, ana, "free-coffee", now=T0)
    rewards.redeem(uow, stocked, ana, "free-coffee", now=T0)
    with pytest.raises(Conflict, match="the limit per member"):
        rewards.redeem(uow, stocked, ana, "free-coffee", now=T0)
    assert balance(uow, stocked, "ana@example.com") == (120, 0, 0)  # the refusal took nothing
    rewards.cancel(uow, stocked, first["redemption_id"], now=T0)
    rewards.redeem(uow, stocked, ana, "free-coffee", now=T0)
    catalog = {r["id"]: r for r in programs.described(uow, stocked)["rewards"]}
    assert catalog["free-coffee"]["stock_left"] == 8


@pytest.fixture
def shop(uow: UnitOfWork) -> ProgramId:
    return programs.apply(uow, example("shop.yaml"), now=T0).program_id


def test_points_pay_for_part_of_an_order_up_to_its_share(uow: UnitOfWork, shop: ProgramId) -> None:
    ana = enroll(uow, shop, "ana@example.com", T0)  # the welcome rule: 200, pending 30 days
    adjustments.adjust(uow, shop, ana, 3000, actor="sam", reason="goodwill", now=T0)
    quoted = rewards.quote(uow, shop, ana, "points-and-cash", Decimal("80.00"), now=T0)
    assert (quoted["available"], quoted["points"], quoted["amount"]) == (3000, 3000, "30.00")
    small = rewards.quote(uow, shop, ana, "points-and-cash", Decimal("20.00"), now=T0)
    assert (small["points"], small["amount"]) == (1000, "10.00")  # half of 20 EUR
    payment = parse_payment(
        {"order_amount": "80.00", "currency": "EUR", "points": 1500, "order_id": "W-1"}
    )
    paid = rewards.redeem(uow, shop, ana, "points-and-cash", payment=payment, now=T0)
    assert paid["points"] == 1500 and paid["available"] == 1500
    assert paid["voucher"] == {
        "kind": "discount", "amount": "15.00", "currency": "EUR", "order_id": "W-1"
    }  # fmt: skip
    too_many = parse_payment({"order_amount": "80.00", "currency": "EUR", "points": 2000})
    with pytest.raises(InsufficientPoints):
        rewards.redeem(uow, shop, ana, "points-and-cash", payment=too_many, now=T0)
    rewards.cancel(uow, shop, paid["redemption_id"], now=T0)  # the checkout was abandoned
    assert balance(uow, shop, "ana@example.com") == (3000, 200, 0)
    assert ledger.verify(uow, shop).ok


def test_an_experience_is_a_booking_the_staff_confirm_once_per_member(
    uow: UnitOfWork, shop: ProgramId
) -> None:
    ana = enroll(uow, shop, "ana@example.com", T0)
    purchase(uow, shop, "ana@example.com", "A1", "1500.00", T0)  # 7,500 points: gold at once
    bob = enroll(uow, shop, "bob@example.com", T0)
    adjustments.adjust(uow, shop, bob, 6000, actor="sam", reason="test", now=T0)  # not earned
    later = T0 + timedelta(days=31)  # past the 30 pending days
    with pytest.raises(InvalidInput, match="needs tier gold"):
        rewards.redeem(uow, shop, bob, "masterclass", now=later)
    booked = rewards.redeem(uow, shop, ana, "masterclass", now=later)
    assert booked["voucher"] == {
        "kind": "experience",
        "name": "Invitation to a skincare masterclass",
    }
    with pytest.raises(Conflict, match="limit per member"):
        rewards.redeem(uow, shop, ana, "masterclass", now=later)
    confirmed = rewards.consume_voucher(uow, shop, booked["voucher_code"], order_id=None, now=later)
    assert confirmed["status"] == "consumed"
    catalog = {r["id"]: r for r in programs.described(uow, shop)["rewards"]}
    assert catalog["masterclass"]["stock_left"] == 39
