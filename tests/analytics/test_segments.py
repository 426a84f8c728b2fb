"""RFM over a snapshot gives the segments the store's recomputation gives."""

from __future__ import annotations

from datetime import UTC, datetime

from fidela.analytics.segments import rfm
from fidela.services import analytics, imports, programs, segments
from fidela.store.unit_of_work import UnitOfWork
from tests.conftest import CDNOW, T0, example

NOW = datetime(2026, 11, 24, tzinfo=UTC)


def test_the_snapshots_rfm_is_the_stores(uow: UnitOfWork) -> None:
    program_id = programs.apply(uow, example("cafe-usd.yaml"), now=T0).program_id
    rows = imports.read(CDNOW / "CDNOW_sample.txt", "cdnow")
    imports.import_purchases(uow, program_id, rows, now=NOW)
    at = datetime(1998, 1, 1, tzinfo=UTC)
    stored = segments.recompute(uow, program_id, now=at)
    with analytics.snapshot(uow, program_id, now=NOW) as taken:
        found = rfm(taken, at)
    assert found["members"] == stored["members"] and found["sizes"] == stored["sizes"]
    assert sum(found["sizes"].values()) == found["members"] > 1000
