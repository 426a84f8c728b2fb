"""Challenges on both databases: counted across separate calls, badges stored once."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from fidela.domain.ids import ProgramId
from fidela.services import challenges, ledger, members, programs
from fidela.store.tables import member_badges, outbox
from fidela.store.unit_of_work import UnitOfWork
from tests.conftest import T0, example
from tests.services.helpers import enroll, listen, purchase


@pytest.fixture
def shop(uow: UnitOfWork) -> ProgramId:
    return programs.apply(uow, example("shop.yaml"), now=T0).program_id


def test_three_orders_in_a_month_earn_the_challenge_and_its_badge_once(
    uow: UnitOfWork, shop: ProgramId
) -> None:
    listen(uow, shop, T0)
    ana = enroll(uow, shop, "ana@example.com", T0)
    for day in range(2):
        purchase(uow, shop, "ana@example.com", f"J{day}", "10.00", T0 + timedelta(days=day))
    halfway = challenges.progress(uow, shop, ana, now=T0 + timedelta(days=2))
    three = next(c for c in halfway["challenges"] if c["id"] == "three-in-a-month")
    assert (three["count"], three["of"], halfway["badges"]) == (2, 3, [])
    third = purchase(uow, shop, "ana@example.com", "J2", "10.00", T0 + timedelta(days=2))
    assert third.result["rules"] == ["base", "three-in-a-month"]
    assert third.result["points"] == 50 + 300
    # February: three more orders, 300 more points, but the badge stays one.
    for day in range(3):
        purchase(uow, shop, "ana@example.com", f"F{day}", "10.00", T0 + timedelta(days=30 + day))
    done = challenges.progress(uow, shop, ana, now=T0 + timedelta(days=33))
    assert done["badges"] == ["regular"]
    with uow:
        badges = uow.connection.execute(select(func.count()).select_from(member_badges)).scalar()
        announced = uow.connection.execute(
            select(func.count()).select_from(outbox).where(outbox.c.kind == "badge.awarded")
        ).scalar()
    assert (badges, announced) == (1, 1)
    shown = members.show(uow, shop, "ana@example.com")
    completing = [e["points"] for e in shown["history"] if "three-in-a-month" in e["rules"]]
    assert completing == [350, 350]  # the third order of January, and of February
    assert ledger.verify(uow, shop).ok
