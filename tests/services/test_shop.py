"""examples/shop.yaml, section by section, as a shop would use it (both databases).

The sections of issue 4 not active yet (referral, memberships, punch cards, cashback,
campaigns, challenges) get their stories as they become active.
"""

from datetime import UTC, datetime, timedelta

import pytest

from fidela.domain.ids import ProgramId
from fidela.services import jobs, ledger, members, programs
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
    assert (bought.result["points"], bought.result["rules"]) == (350, ["base", "double-beauty"])
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
