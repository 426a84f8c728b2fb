"""CLV on CDNOW's 1/10 sample: BG/NBD and Gamma-Gamma as Fader, Hardie & Lee fitted
them, through the import and the snapshot, on both databases."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from fidela.services import analytics, imports, programs
from fidela.store.unit_of_work import UnitOfWork
from tests.conftest import CDNOW, T0, example

NOW = datetime(2026, 11, 24, tzinfo=UTC)
UNTIL = date(1997, 9, 30)  # the end of week 39 of 1997: calibration
HOLDOUT = date(1998, 6, 30)  # the end of week 78


@pytest.fixture
def sample(uow: UnitOfWork) -> str:
    program_id = programs.apply(uow, example("cafe-usd.yaml"), now=T0).program_id
    rows = imports.read(CDNOW / "CDNOW_sample.txt", "cdnow")
    imports.import_purchases(uow, program_id, rows, now=NOW)
    return program_id


def test_the_fit_on_cdnows_sample_finds_the_published_parameters(
    uow: UnitOfWork, sample: str
) -> None:
    report = analytics.clv_fit(uow, sample, UNTIL, holdout_until=HOLDOUT, now=NOW)  # type: ignore[arg-type]
    assert (report["customers"], report["repeat_customers"]) == (2357, 946)
    bgnbd, gamma_gamma = report["bgnbd"], report["gamma_gamma"]
    # Fader, Hardie & Lee (2005): r 0.243, alpha 4.414, a 0.793, b 2.426, LL -9582.4;
    # Gamma-Gamma p 6.25, q 3.74, gamma 15.44.
    found = [bgnbd[k] for k in ("r", "alpha", "a", "b", "log_likelihood")]
    assert found == pytest.approx([0.2426, 4.4137, 0.7929, 2.4259, -9582.43], rel=1e-3)
    spend = [gamma_gamma[k] for k in ("p", "q", "gamma")]
    assert spend == pytest.approx([6.2497, 3.7442, 15.4429], rel=1e-3)
    holdout = report["holdout"]
    assert holdout["actual"] == 1882  # repeat purchase days in weeks 40-78
    assert holdout["predicted"] == pytest.approx(1653.4, abs=1)
    buckets = holdout["by_repeat_days"]
    assert [b["customers"] for b in buckets] == [1411, 439, 214, 100, 62, 38, 29, 64]


def test_members_get_their_expected_purchases_p_alive_and_clv(uow: UnitOfWork, sample: str) -> None:
    rows = analytics.clv_members(uow, sample, UNTIL, 39.0, now=NOW)  # type: ignore[arg-type]
    assert len(rows) == 2357  # the import enrolled every customer
    best = max(rows, key=lambda row: float(row["clv"]))
    assert 0 < best["p_alive"] <= 1 and best["expected_purchases"] > 1
    assert float(best["clv"]) == pytest.approx(
        best["expected_purchases"] * float(best["expected_spend"]), rel=1e-3
    )  # of the rounded figures shown
