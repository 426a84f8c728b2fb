"""Campaigns on both databases: a budget ends exactly at its limit under concurrent
events, and a campaign reaches the members of its segment only."""

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine, func, select

from fidela.domain.ids import ProgramId
from fidela.services import campaigns, imports, ledger, members, pilots, programs, segments
from fidela.store.tables import customers, lines, orders, pilot_groups
from fidela.store.unit_of_work import UnitOfWork
from tests.conftest import T0, example
from tests.services.helpers import enroll, purchase

SHOP_CAMPAIGN = """    starts: 2027-03-20T00:00:00+01:00
    ends: 2027-03-22T23:59:59+01:00
    when: purchase
    multiplier: "2"
    segment: at_risk         # only members of this segment
    budget_points: 200000    # the campaign stops granting once this is spent"""


def shop_with(campaign: str) -> str:
    text = example("shop.yaml")
    assert SHOP_CAMPAIGN in text
    return text.replace(SHOP_CAMPAIGN, campaign)


def test_twenty_members_buying_at_once_spend_the_budget_exactly(
    engine: Engine, uow: UnitOfWork
) -> None:
    running = """    starts: 2026-01-01T00:00:00+01:00
    ends: 2026-01-31T23:59:59+01:00
    when: purchase
    multiplier: "2"
    budget_points: 1000"""
    shop = programs.apply(uow, shop_with(running), now=T0).program_id
    emails = [f"m{n}@example.com" for n in range(20)]
    for email in emails:
        enroll(uow, shop, email, T0)

    def buy(n: int) -> int:  # 30 EUR: 150 points, and 150 more from the campaign
        recorded = purchase(UnitOfWork(engine), shop, emails[n], f"O{n}", "30.00", T0)
        return recorded.result["points"]

    with ThreadPoolExecutor(max_workers=20) as pool:
        earned = list(pool.map(buy, range(20)))
    assert sum(earned) == 20 * 150 + 1000 and max(earned) == 300
    with uow:
        granted = uow.connection.execute(
            select(func.sum(lines.c.amount)).where(lines.c.rule_id == "spring-double")
        ).scalar_one()
    assert granted == -1000  # issued: the program's side
    (listed,) = campaigns.listed(uow, shop, now=T0)
    assert (listed["granted"], listed["left"], listed["running"]) == (1000, 0, True)
    assert ledger.verify(uow, shop).ok


def test_a_campaign_reaches_the_members_of_its_segment_only(uow: UnitOfWork) -> None:
    for_the_lost = """    starts: 2026-02-01T00:00:00+01:00
    ends: 2026-02-28T23:59:59+01:00
    when: purchase
    bonus_points: 77
    segment: lost"""
    shop = programs.apply(uow, shop_with(for_the_lost), now=T0).program_id
    enroll(uow, shop, "ana@example.com", T0)
    enroll(uow, shop, "bob@example.com", T0)
    purchase(uow, shop, "ana@example.com", "A1", "10.00", T0)
    segments.recompute(uow, shop, now=T0 + timedelta(days=1))  # the only buyer: 1, 1, 1
    assert members.show(uow, shop, "ana@example.com")["segment"] == "lost"
    february = T0 + timedelta(days=30)
    ana = purchase(uow, shop, "ana@example.com", "A2", "10.00", february)
    bob = purchase(uow, shop, "bob@example.com", "B1", "10.00", february)  # no segment yet
    assert (ana.result["points"], ana.result["rules"]) == (50 + 77, ["base", "spring-double"])
    assert (bob.result["points"], bob.result["rules"]) == (50, ["base"])


FOR_THE_PILOT = """    starts: 2026-02-01T00:00:00+01:00
    ends: 2026-02-28T23:59:59+01:00
    when: purchase
    bonus_points: 77
    pilot: spring"""


def in_pilot(uow: UnitOfWork, program_id: ProgramId, name: str) -> dict[str, bool]:
    """Each customer's group in the pilot, by shop id or e-mail."""
    with uow:
        rows = uow.connection.execute(
            select(customers.c.external_id, customers.c.email, pilot_groups.c.in_pilot)
            .join(pilot_groups, pilot_groups.c.customer_id == customers.c.id)
            .where(pilot_groups.c.program_id == program_id, pilot_groups.c.pilot == name)
        ).all()
    return {external_id or email: group for external_id, email, group in rows}


def test_a_pilots_campaign_reaches_its_pilot_group_only(uow: UnitOfWork) -> None:
    shop = programs.apply(uow, shop_with(FOR_THE_PILOT), now=T0).program_id
    emails = [f"m{n}@example.com" for n in range(10)]
    for email in emails:
        enroll(uow, shop, email, T0)
    pilots.assign(uow, shop, "spring", share=0.5, seed=1, strata="none", now=T0)
    groups = in_pilot(uow, shop, "spring")
    assert sorted(groups.values()) == [False] * 5 + [True] * 5
    (listed,) = campaigns.listed(uow, shop, now=T0)
    assert (listed["pilot"], listed["segment"]) == ("spring", None)
    february = T0 + timedelta(days=30)
    for n, email in enumerate(emails):
        bought = purchase(uow, shop, email, f"O{n}", "10.00", february)
        expected = (50 + 77, ["base", "spring-double"]) if groups[email] else (50, ["base"])
        assert (bought.result["points"], bought.result["rules"]) == expected, email
    assert ledger.verify(uow, shop).ok


def test_a_customer_in_a_pilot_group_who_enrolls_in_an_import_gets_its_campaign(
    uow: UnitOfWork, tmp_path: Path
) -> None:
    """Pilots split customers, members or not: one who enrolls later is treated too."""
    shop = programs.apply(uow, shop_with(FOR_THE_PILOT), now=T0).program_id
    header = "customer_id,order_id,occurred_at,amount,currency,enroll\n"
    january = (T0 - timedelta(days=3)).isoformat()
    guests = [f"c{n},G{n},{january},10.00,EUR,no\n" for n in range(10)]
    path = tmp_path / "guests.csv"
    path.write_text(header + "".join(guests))
    imports.import_purchases(uow, shop, imports.read(path, "csv"), now=T0)
    pilots.assign(uow, shop, "spring", share=0.5, seed=1, strata="none", now=T0)
    groups = in_pilot(uow, shop, "spring")
    february = (T0 + timedelta(days=30)).isoformat()
    path.write_text(header + "".join(f"c{n},M{n},{february},10.00,EUR,yes\n" for n in range(10)))
    now = T0 + timedelta(days=31)
    imports.import_purchases(uow, shop, imports.read(path, "csv"), now=now)
    with uow:
        earned = dict(
            uow.connection.execute(
                select(orders.c.order_ref, orders.c.points).where(orders.c.program_id == shop)
            ).all()
        )
    for n in range(10):
        assert earned[f"G{n}"] == 0  # a guest's purchase earns nothing
        assert earned[f"M{n}"] == (50 + 77 if groups[f"c{n}"] else 50), n
    assert ledger.verify(uow, shop).ok
