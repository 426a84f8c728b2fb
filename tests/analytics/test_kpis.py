"""KPIs and cohorts against a hand computation on a small history, and against an
independent computation on CDNOW's sample (both databases)."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from fidela.domain.errors import InvalidInput
from fidela.domain.ids import ProgramId
from fidela.services import analytics, imports, ledger, programs
from fidela.store.unit_of_work import UnitOfWork
from tests.conftest import CDNOW, T0, example

NOW = datetime(2026, 11, 24, tzinfo=UTC)


def test_the_kpis_of_a_month_by_hand(uow: UnitOfWork, february: ProgramId) -> None:
    report = analytics.kpi(uow, february, date(2026, 2, 1), date(2026, 2, 28), now=NOW)
    expected = {
        "customers": 5,
        "members": 3,
        "new_members": 1,
        "adoption_rate": 60.0,
        "active_members": 2,
        "active_members_share": 66.67,
        # The 28 days before: Ana and Bob bought. Ana again; Carl and Dora are new.
        "retention": {"start": 2, "end": 3, "new": 2},
        "retention_rate": 50.0,
        "churn_rate": 50.0,
        "revenue_churn_rate": 66.67,  # Bob's 40.00 of 60.00
        "buyers": 3,
        "orders": 4,  # Eve's refunded order is none
        "revenue": "95.00",  # 30 + 10 + (50 - 20) + 25
        "repeat_purchase_rate": 33.33,
        "average_order_value": "23.75",
        "purchase_frequency": 1.3333,
        "customer_value": "31.67",
        "average_lifetime_periods": 2.0,
        "clv": "63.33",
        "points": {"issued": 65, "redeemed": 40, "expired": 0, "reversed": 0, "adjusted": 0},
        "redemption_rate": 61.54,
        "breakage_rate": 0.0,
        "outstanding_points": 85,  # Ana 20, Bob 40, Dora 25
        "liability": "8.50",
        "reward_cost_share": 6.15,  # 4.00 of the members' 65.00
    }
    assert {key: report[key] for key in expected} == expected
    assert report["members_vs_non_members"] == {
        "members": {"buyers": 2, "orders": 3, "revenue": "65.00",
                    "average_order_value": "21.67", "purchase_frequency": 1.5},
        "non_members": {"buyers": 1, "orders": 1, "revenue": "30.00",
                        "average_order_value": "30.00", "purchase_frequency": 1.0},
    }  # fmt: skip
    (month,) = report["series"]
    assert month == {"period": "2026-02-01", "orders": 4, "revenue": "95.00", "buyers": 3,
                     "new_members": 1, "points_issued": 65, "points_redeemed": 40}  # fmt: skip
    weeks = analytics.kpi(uow, february, date(2026, 2, 1), date(2026, 2, 28), "week", now=NOW)
    assert [w["period"] for w in weeks["series"]][:2] == ["2026-01-26", "2026-02-02"]
    assert sum(w["orders"] for w in weeks["series"]) == 4


def test_cohorts_by_hand(uow: UnitOfWork, february: ProgramId) -> None:
    by_enrollment = analytics.cohort_retention(uow, february, "enrollment", now=NOW)
    assert by_enrollment["cohorts"] == [
        {"cohort": "2026-01", "size": 2, "retention": [100.0, 50.0]},
        {"cohort": "2026-02", "size": 1, "retention": [100.0]},
    ]
    by_purchase = analytics.cohort_retention(uow, february, "first_purchase", now=NOW)
    assert by_purchase["cohorts"] == [
        {"cohort": "2026-01", "size": 2, "retention": [100.0, 50.0]},
        {"cohort": "2026-02", "size": 2, "retention": [100.0]},  # Carl and Dora; not Eve
    ]


def test_a_period_ending_before_it_starts_is_refused(uow: UnitOfWork, cafe: ProgramId) -> None:
    with pytest.raises(InvalidInput, match="is before from"):
        analytics.kpi(uow, cafe, date(2026, 2, 1), date(2026, 1, 31), now=NOW)


def test_a_report_takes_the_years_an_import_takes(uow: UnitOfWork, cafe: ProgramId) -> None:
    analytics.kpi(uow, cafe, date(1900, 1, 1), date(1900, 1, 31), now=NOW)
    analytics.kpi(uow, cafe, date(2199, 12, 1), date(2199, 12, 31), now=NOW)
    with pytest.raises(InvalidInput) as caught:
        analytics.kpi(uow, cafe, date(2026, 1, 1), date(2200, 1, 1), now=NOW)
    assert (caught.value.field, caught.value.reason) == (
        "to",
        "2200-01-01 is not between 1900 and 2199",
    )


def test_the_kpis_of_cdnow_match_an_independent_count(uow: UnitOfWork) -> None:
    program_id = programs.apply(uow, example("cafe-usd.yaml"), now=T0).program_id
    rows = imports.read(CDNOW / "CDNOW_sample.txt", "cdnow")
    imports.import_purchases(uow, program_id, rows, now=NOW)
    report = analytics.kpi(uow, program_id, date(1998, 1, 1), date(1998, 3, 31), now=NOW)

    # The same figures, straight from the file: every row is an order.
    orders: list[tuple[str, date, Decimal]] = []
    for line in (CDNOW / "CDNOW_sample.txt").read_text().splitlines():
        customer, _sample, day, _cds, dollars = line.split()
        orders.append((customer, date(int(day[:4]), int(day[4:6]), int(day[6:])), Decimal(dollars)))
    start, end = date(1998, 1, 1), date(1998, 3, 31)
    before = start - (end - start + timedelta(days=1))
    now_ = [(c, v) for c, d, v in orders if start <= d <= end]
    then_ = {c for c, d, _ in orders if before <= d < start}
    buyers = {c for c, _ in now_}
    count: dict[str, int] = defaultdict(int)
    for customer, _ in now_:
        count[customer] += 1
    revenue = sum((v for _, v in now_), Decimal(0))
    assert report["orders"] == len(now_)
    assert report["buyers"] == len(buyers)
    assert report["revenue"] == str(revenue)
    assert report["retention"] == {
        "start": len(then_),
        "end": len(buyers),
        "new": len(buyers - then_),
    }
    repeat = sum(1 for n in count.values() if n >= 2)
    assert report["repeat_purchase_rate"] == round(100 * repeat / len(buyers), 2)
    assert report["average_order_value"] == str((revenue / len(now_)).quantize(Decimal("0.01")))
    # Points against the ledger's own totals: the whole history, and what is left now.
    everything = analytics.kpi(uow, program_id, date(1997, 1, 1), date(2026, 11, 23), now=NOW)
    summary = ledger.summary(uow, program_id)
    assert everything["points"]["issued"] == summary["issued"]
    assert everything["points"]["expired"] == summary["expired"]
    assert everything["outstanding_points"] == summary["outstanding"]
