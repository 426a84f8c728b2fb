"""The liability and the ROI model: by hand, and from a small history."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from fidela.domain.errors import InvalidInput
from fidela.domain.ids import ProgramId
from fidela.domain.roi import Assumptions, model
from fidela.services import analytics, imports, programs
from fidela.store.unit_of_work import UnitOfWork
from tests.conftest import CDNOW, T0, example

NOW = datetime(2026, 11, 24, tzinfo=UTC)


def test_a_year_modelled_by_hand() -> None:
    assumptions = Assumptions(
        members=1000,
        orders_per_year=Decimal(4),
        average_order=Decimal(50),
        margin=Decimal("0.4"),
        points_per_unit=Decimal(1),
        point_value=Decimal("0.01"),
        breakage=Decimal("0.2"),
        frequency_uplift=Decimal("0.1"),
        basket_uplift=Decimal(0),
        fixed_cost=Decimal(5000),
    )
    year = model(assumptions)
    assert year.baseline_revenue == 200_000  # 1000 x 4 x 50
    assert year.revenue == 220_000
    assert year.incremental_margin == 8_000  # 40 % of the 20,000 more
    assert year.reward_cost == Decimal("1760.000")  # 220,000 x 1 x 0.01 x 0.8
    assert year.net == Decimal("1240.000")  # 8,000 - 1,760 - 5,000
    # At the break-even uplift the margin it adds pays exactly for the program.
    assert year.break_even_uplift is not None
    growth = 1 + year.break_even_uplift
    added = 200_000 * (growth - 1) * Decimal("0.4")
    cost = 200_000 * growth * Decimal("0.008") + 5000
    assert added - cost == pytest.approx(0, abs=1e-9)


def test_rewards_costing_more_than_the_margin_never_break_even() -> None:
    costly = Assumptions(1, Decimal(1), Decimal(1), Decimal("0.01"), Decimal(10), Decimal(1),
                         Decimal(0))  # fmt: skip
    assert model(costly).break_even_uplift is None
    with pytest.raises(InvalidInput, match="margin"):
        Assumptions(1, Decimal(1), Decimal(1), Decimal(2), Decimal(1), Decimal(1), Decimal(0))


def test_the_liability_and_the_baseline_come_from_the_history(
    uow: UnitOfWork,
    february: ProgramId,
) -> None:
    report = analytics.roi_model(
        uow, february, date(2026, 2, 1), date(2026, 2, 28), margin=Decimal("0.3"), now=NOW
    )
    # Ana 20, Bob 40, Dora 25 points at 0.10; 40 redeemed and none expired: no breakage.
    assert report["liability"] == {
        "outstanding_points": 85,
        "liability": "8.50",
        "breakage": 0.0,
        "expected_cost": "8.50",
    }
    assumptions = report["assumptions"]
    assert (assumptions["members"], assumptions["average_order"]) == (3, "21.67")  # 65 / 3
    assert assumptions["orders_per_year"] == round(3 / 3 * 365 / 28, 4)
    assert assumptions["points_per_unit"] == 1.0  # 65 points on 65.00
    assert report["year"]["baseline_revenue"] == report["year"]["revenue"]  # no uplift given


def test_a_breakage_given_as_zero_is_used_not_the_historys(uow: UnitOfWork) -> None:
    program_id = programs.apply(uow, example("cafe-usd.yaml"), now=T0).program_id
    imports.import_purchases(uow, program_id, imports.read(CDNOW / "CDNOW_sample.txt", "cdnow"),
                             now=NOW)  # fmt: skip
    period = (date(1997, 7, 1), date(1998, 6, 30))
    seen = analytics.roi_model(uow, program_id, *period, margin=Decimal("0.4"), now=NOW)
    assert seen["liability"]["breakage"] == 100.0  # nobody redeemed: every point expired
    given = analytics.roi_model(
        uow, program_id, *period, margin=Decimal("0.4"), breakage=Decimal(0), now=NOW
    )
    assert given["assumptions"]["breakage"] == 0.0
    assert Decimal(given["year"]["reward_cost"]) > 0 == Decimal(seen["year"]["reward_cost"])
