"""Backtests: the replay in a store of its own holds what the real ledger would."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from fidela.domain.errors import InvalidInput
from fidela.domain.rules import local_midnight
from fidela.services import backtest, imports, jobs, ledger, programs
from fidela.services.backtest import Redemptions
from fidela.store.unit_of_work import UnitOfWork
from tests.conftest import CDNOW, T0, example

NOW = datetime(2026, 11, 24, tzinfo=UTC)
LAST = date(1998, 3, 31)


@pytest.fixture(scope="module")
def sample() -> list[imports.PurchaseRow]:
    return imports.read(CDNOW / "CDNOW_sample.txt", "cdnow")


def test_a_backtest_holds_the_totals_of_an_import_and_run_due_to_the_same_date(
    uow: UnitOfWork, sample: list[imports.PurchaseRow]
) -> None:
    # cafe-usd.yaml is cafe.yaml in dollars, the currency of CDNOW's history.
    replayed = backtest.backtest(example("cafe-usd.yaml"), sample, last=LAST, now=NOW)
    assert replayed["ledger_verified"] is True and replayed["redemptions"]["made"] == 0

    applied = programs.apply(uow, example("cafe-usd.yaml"), now=T0)
    kept = [row for row in sample if row.day is not None and row.day <= LAST]
    imports.import_purchases(uow, applied.program_id, kept, now=NOW)
    zone = ZoneInfo("America/New_York")  # cafe-usd.yaml's
    end_of_last = local_midnight(LAST + timedelta(days=1), zone) - timedelta(microseconds=1)
    jobs.run_due(uow, applied.program_id, now=end_of_last)
    summary = ledger.summary(uow, applied.program_id)
    totals = replayed["totals"]
    assert (totals["issued"], totals["expired"], totals["outstanding"]) == (
        summary["issued"],
        summary["expired"],
        summary["outstanding"],
    )
    assert totals["issued"] == sum(month["issued"] for month in replayed["months"])
    assert [m["month"] for m in replayed["months"]][:2] == ["1997-01", "1997-02"]


def test_members_redeem_by_the_model_reproducibly_and_two_programs_compare(
    sample: list[imports.PurchaseRow],
) -> None:
    model = Redemptions("cheapest", share=0.5, seed=7)
    quarter = {"first": date(1997, 1, 1), "last": date(1997, 3, 31), "now": NOW}
    once = backtest.backtest(example("cafe-usd.yaml"), sample, redemptions=model, **quarter)
    again = backtest.backtest(example("cafe-usd.yaml"), sample, redemptions=model, **quarter)
    assert once == again and once["redemptions"]["made"] > 0
    assert once["totals"]["redeemed"] > 0 and once["ledger_verified"] is True
    richer = example("cafe-usd.yaml").replace("points_per_unit: 1 ", "points_per_unit: 2 ")
    side = backtest.compare(example("cafe-usd.yaml"), richer, sample, **quarter)
    first, second = side["programs"]
    assert second["totals"]["issued"] > first["totals"]["issued"]


def test_a_period_without_purchases_or_a_share_out_of_range_is_refused(
    sample: list[imports.PurchaseRow],
) -> None:
    with pytest.raises(InvalidInput, match="no purchase in the period"):
        backtest.backtest(example("cafe-usd.yaml"), sample, first=date(2020, 1, 1), now=NOW)
    with pytest.raises(InvalidInput, match="share"):
        Redemptions("cheapest", share=0)


@pytest.mark.slow
def test_the_backtest_of_cdnows_whole_history_holds_the_import_totals(uow: UnitOfWork) -> None:
    history = imports.read(CDNOW / "CDNOW_master.txt", "cdnow")
    last = date(1998, 6, 30)
    replayed = backtest.backtest(example("cafe-usd.yaml"), history, last=last, now=NOW)
    applied = programs.apply(uow, example("cafe-usd.yaml"), now=T0)
    imports.import_purchases(uow, applied.program_id, history, now=NOW)
    end = local_midnight(last + timedelta(days=1), ZoneInfo("America/New_York"))
    jobs.run_due(uow, applied.program_id, now=end - timedelta(microseconds=1))
    summary = ledger.summary(uow, applied.program_id)
    totals = replayed["totals"]
    assert replayed["purchases"] == len(history) == 69_659
    assert (totals["issued"], totals["expired"], totals["outstanding"]) == (
        summary["issued"],
        summary["expired"],
        summary["outstanding"],
    )
