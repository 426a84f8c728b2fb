"""Reports on a program's history: a snapshot of the store taken in one read, loaded into
DuckDB, where the reports of `analytics/` run."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from fidela.analytics import clv, cohorts, kpis, roi
from fidela.analytics.snapshot import Snapshot, load
from fidela.domain.errors import InvalidInput
from fidela.domain.events import YEARS, out_of_range
from fidela.domain.ids import ProgramId
from fidela.store import snapshot as store_snapshot
from fidela.store.unit_of_work import UnitOfWork


@contextmanager
def snapshot(uow: UnitOfWork, program_id: ProgramId, *, now: datetime) -> Iterator[Snapshot]:
    """The program's history as of one consistent read, in DuckDB until the block ends."""
    with tempfile.TemporaryDirectory(prefix="fidela-snapshot-") as directory:
        with uow.reading() as reader:
            program = reader.programs.current(program_id).program
            tables = store_snapshot.export(reader.connection, program_id)
        taken = load(tables, program, now, Path(directory))
        del tables  # DuckDB holds its own copy
        try:
            yield taken
        finally:
            taken.db.close()


def clv_fit(
    uow: UnitOfWork,
    program_id: ProgramId,
    until: date,
    *,
    holdout_until: date | None = None,
    now: datetime,
) -> dict[str, Any]:
    """BG/NBD and Gamma-Gamma fitted on the purchases up to `until` (in the program's zone)."""
    checked_day(until, "until")
    if holdout_until is not None and checked_day(holdout_until, "holdout_until") <= until:
        raise InvalidInput("holdout_until", f"must be after until ({until.isoformat()})")
    with snapshot(uow, program_id, now=now) as taken:
        return clv.fitted(taken, until, holdout_until=holdout_until)


def clv_members(
    uow: UnitOfWork, program_id: ProgramId, until: date, weeks: float, *, now: datetime
) -> list[dict[str, Any]]:
    """Each member's expected purchases over `weeks`, P(alive) and CLV, fitted up to `until`."""
    checked_day(until, "until")
    with snapshot(uow, program_id, now=now) as taken:
        return clv.members(taken, until, weeks)


MOST_BUCKETS = 3700  # a series' buckets at most: ten years by day


def checked_day(day: date, field: str) -> date:
    """`day`, unless outside the years Fidela takes (events.YEARS)."""
    if day.year not in YEARS:
        raise InvalidInput(field, out_of_range(day))
    return day


def checked_period(first: date, last: date) -> None:
    """Refuse a period outside the dates reports accept, or ending before it starts."""
    checked_day(first, "from"), checked_day(last, "to")
    if last < first:
        raise InvalidInput("to", f"{last.isoformat()} is before from ({first.isoformat()})")


def kpi(
    uow: UnitOfWork,
    program_id: ProgramId,
    first: date,
    last: date,
    granularity: kpis.Granularity = "month",
    *,
    now: datetime,
) -> dict[str, Any]:
    """The KPIs of the period from `first` to `last` (dates in the program's zone)."""
    checked_period(first, last)
    per_bucket = {"day": 1, "week": 7, "month": 28}[granularity]
    if ((last - first).days + 1) / per_bucket > MOST_BUCKETS:
        reason = f"more than {MOST_BUCKETS} {granularity}s: choose a longer bucket"
        raise InvalidInput("granularity", reason)
    with snapshot(uow, program_id, now=now) as taken:
        return kpis.kpis(taken, first, last, granularity)


def cohort_retention(
    uow: UnitOfWork, program_id: ProgramId, by: cohorts.By, *, now: datetime
) -> dict[str, Any]:
    """Retention by month of enrollment or of first purchase."""
    with snapshot(uow, program_id, now=now) as taken:
        return cohorts.cohorts(taken, by)


def roi_model(
    uow: UnitOfWork,
    program_id: ProgramId,
    first: date,
    last: date,
    *,
    margin: Decimal,
    frequency_uplift: Decimal = Decimal(0),
    basket_uplift: Decimal = Decimal(0),
    fixed_cost: Decimal = Decimal(0),
    breakage: Decimal | None = None,
    now: datetime,
) -> dict[str, Any]:
    """The liability now, and a year of the program modelled from the members of the
    period from `first` to `last` with the manager's margin, uplifts and fixed cost (and
    breakage: by default, the one seen in the history)."""
    checked_period(first, last)
    with snapshot(uow, program_id, now=now) as taken:
        return roi.report(
            taken,
            first,
            last,
            margin=margin,
            frequency_uplift=frequency_uplift,
            basket_uplift=basket_uplift,
            fixed_cost=fixed_cost,
            breakage=breakage,
        )
