"""Pilots: seeded, stratified groups, and Welch's comparison of the pilot with control."""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import pytest
from scipy import stats
from sqlalchemy import select

from fidela.domain.errors import Conflict, InvalidInput, NotFound
from fidela.domain.pilots import assign, compare
from fidela.services import imports, pilots, programs, segments
from fidela.store.tables import pilot_groups
from fidela.store.unit_of_work import UnitOfWork
from tests.conftest import CDNOW, T0, example

NOW = datetime(2026, 11, 24, tzinfo=UTC)


def test_each_stratum_gives_its_share_to_the_pilot_the_same_for_the_same_seed() -> None:
    customers = [(i, "a") for i in range(10)] + [(i, "b") for i in range(10, 30)]
    groups = assign(customers, 0.2, seed=3)
    assert sum(groups[i] for i in range(10)) == 2 and sum(groups[i] for i in range(10, 30)) == 4
    assert assign(list(reversed(customers)), 0.2, seed=3) == groups  # order does not matter
    assert assign(customers, 0.2, seed=4) != groups
    with pytest.raises(InvalidInput, match="share"):
        assign(customers, 1.0, seed=3)


def test_the_comparison_is_welchs() -> None:
    rng = np.random.default_rng(5)
    pilot, control = rng.normal(12, 3, 200), rng.normal(10, 5, 300)
    found = compare(pilot, control)
    expected = stats.ttest_ind(pilot, control, equal_var=False)
    assert found["p_value"] == pytest.approx(expected.pvalue, abs=1e-6) and found["significant"]
    low, high = found["ci95"]
    assert low < found["difference"] < high and low > 0
    interval = expected.confidence_interval(0.95)
    assert (low, high) == pytest.approx((interval.low, interval.high), abs=1e-5)
    same = compare(rng.normal(10, 5, 300), rng.normal(10, 5, 300))
    assert same["ci95"][0] < 0 < same["ci95"][1]
    assert compare([1.0], [1.0, 2.0])["difference"] is None  # too few to say


def test_a_pilot_on_cdnow_is_assigned_once_and_reported(uow: UnitOfWork) -> None:
    program_id = programs.apply(uow, example("cafe-usd.yaml"), now=T0).program_id
    rows = imports.read(CDNOW / "CDNOW_sample.txt", "cdnow")
    imports.import_purchases(uow, program_id, rows, now=NOW)
    segments.recompute(uow, program_id, now=datetime(1997, 12, 31, tzinfo=UTC))
    assigned = pilots.assign(uow, program_id, "double-points", share=0.3, seed=7, now=NOW)
    assert assigned["customers"]["pilot"] + assigned["customers"]["control"] == 2357
    assert assigned["customers"]["pilot"] == pytest.approx(0.3 * 2357, abs=10)  # by strata
    with pytest.raises(Conflict):
        pilots.assign(uow, program_id, "double-points", share=0.3, seed=7, now=NOW)
    again = pilots.assign(uow, program_id, "again", share=0.3, seed=7, now=NOW)
    assert again["customers"] == assigned["customers"]
    with uow.reading() as reader:
        rows_ = reader.connection.execute(
            select(pilot_groups.c.pilot, pilot_groups.c.customer_id, pilot_groups.c.in_pilot)
        ).all()
    by_pilot = {
        name: {(c, p) for n, c, p in rows_ if n == name} for name in ("double-points", "again")
    }
    assert by_pilot["double-points"] == by_pilot["again"]

    report = pilots.report(
        uow, program_id, "double-points", date(1998, 1, 1), date(1998, 6, 30), now=NOW
    )
    assert report["customers"] == assigned["customers"]
    for measure in ("frequency", "spend", "retention"):
        shown = report[measure]
        assert set(shown) >= {"pilot_mean", "control_mean", "difference", "ci95", "p_value"}
    # Nothing was done to the pilot: no difference should look significant at 95 %.
    assert not report["retention"]["significant"]
    with pytest.raises(NotFound):
        pilots.report(uow, program_id, "nope", date(1998, 1, 1), date(1998, 6, 30), now=NOW)
