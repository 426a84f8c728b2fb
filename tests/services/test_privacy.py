"""Export and erasure on both databases: nothing personal is left, the ledger still verifies."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from fidela.domain.errors import Conflict, NotFound
from fidela.domain.ids import ProgramId
from fidela.services import ledger, members, privacy, rewards
from fidela.store.tables import metadata
from fidela.store.unit_of_work import UnitOfWork
from tests.conftest import T0
from tests.services.helpers import enroll, purchase, send

ANA = "ana.lopez@example.com"


def ana_with_history(uow: UnitOfWork, cafe: ProgramId) -> int:
    member_id = enroll(
        uow, cafe, ANA, T0, name="Ana López", birthday="1990-04-02", customer_id="shop-77"
    )
    purchase(uow, cafe, ANA, "A1", "150.00", T0)
    send(
        uow,
        cafe,
        T0,
        type="review",
        idempotency_key="rev-1",
        customer={"email": ANA},
        attributes={"text": "Ana López loved the flat white"},
    )
    rewards.redeem(uow, cafe, member_id, "voucher-10", now=T0)
    return member_id


def everything_stored(uow: UnitOfWork) -> str:
    with uow.reading() as reader:
        return "\n".join(
            str(row)
            for table in metadata.sorted_tables
            for row in reader.connection.execute(select(table))
        )


def test_an_export_holds_everything_on_the_member(uow: UnitOfWork, cafe: ProgramId) -> None:
    member_id = ana_with_history(uow, cafe)
    exported = privacy.export(uow, cafe, member_id)
    assert exported["customer"] | {"first_seen_at": None} == {
        "customer_id": "shop-77",
        "email": ANA,
        "first_seen_at": None,
    }
    assert exported["account"]["name"] == "Ana López"
    assert exported["account"]["available"] == 150 + 20 - 100
    assert [event["type"] for event in exported["events"]] == ["purchase", "review"]
    assert exported["events"][0]["sent"]["customer"]["email"] == ANA
    assert [order["order_id"] for order in exported["orders"]] == ["A1"]
    assert exported["account"]["redemptions"][0]["reward"] == "voucher-10"


def test_erasure_leaves_nothing_personal_and_the_ledger_verifies(
    uow: UnitOfWork, cafe: ProgramId
) -> None:
    member_id = ana_with_history(uow, cafe)
    before = ledger.summary(uow, cafe)
    assert "Ana López" in everything_stored(uow)

    erased = privacy.erase(uow, cafe, member_id, actor="admin", now=T0 + timedelta(days=1))
    assert erased["points_forfeited"] == 70 and erased["events_scrubbed"] == 2

    stored = everything_stored(uow)
    for personal in ("ana.lopez", "Ana López", "shop-77", "1990-04-02", "flat white"):
        assert personal not in stored, personal
    after = ledger.summary(uow, cafe)
    assert after["issued"] == before["issued"] and after["outstanding"] == 0
    assert after["adjusted"] == before["adjusted"] - 70
    assert ledger.verify(uow, cafe).ok

    with pytest.raises(NotFound):
        members.show(uow, cafe, ANA)
    account = members.show(uow, cafe, str(member_id), by_member_id=True)
    assert account["email"] is None and account["name"] is None and account["erased_at"]
    assert account["history"][-1]["cause"]["reason"] == privacy.FORFEIT_REASON
    till = members.balance(uow, cafe, str(member_id), by_member_id=True)
    assert (till["member_id"], till["available"], till["next_expiry"]) == (member_id, 0, None)
    with pytest.raises(NotFound):
        members.balance(uow, cafe, ANA)
    with pytest.raises(Conflict, match="erased"):
        privacy.erase(uow, cafe, member_id, actor="admin", now=T0 + timedelta(days=2))
    with pytest.raises(Conflict, match="erased"):
        send(
            uow,
            cafe,
            T0 + timedelta(days=2),
            type="review",
            idempotency_key="rev-2",
            customer={"member_id": member_id},
        )


def test_the_same_person_coming_back_is_a_new_customer(uow: UnitOfWork, cafe: ProgramId) -> None:
    member_id = ana_with_history(uow, cafe)
    privacy.erase(uow, cafe, member_id, actor="admin", now=T0)
    again = enroll(uow, cafe, ANA, T0 + timedelta(days=3))
    assert again != member_id
    assert members.show(uow, cafe, ANA)["history"] == []
