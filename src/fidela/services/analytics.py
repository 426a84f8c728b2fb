"""Reports on a program's history: a snapshot of the store taken in one read, loaded into
DuckDB, where the reports of `analytics/` run."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any

from fidela.analytics import clv
from fidela.analytics.snapshot import Snapshot, load
from fidela.domain.ids import ProgramId
from fidela.store import snapshot as store_snapshot
from fidela.store.unit_of_work import UnitOfWork


@contextmanager
def snapshot(uow: UnitOfWork, program_id: ProgramId, *, now: datetime) -> Iterator[Snapshot]:
    """The program's history as of one consistent read, in DuckDB until the block ends."""
    with tempfile.TemporaryDirectory(prefix="fidela-snapshot-") as directory:
        with uow.reading() as reader:
            program = reader.programs.current(program_id).program
            files = store_snapshot.export(reader.connection, program_id, Path(directory))
        taken = load(files, program, now)
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
    with snapshot(uow, program_id, now=now) as taken:
        return clv.fitted(taken, until, holdout_until=holdout_until)


def clv_members(
    uow: UnitOfWork, program_id: ProgramId, until: date, weeks: float, *, now: datetime
) -> list[dict[str, Any]]:
    """Each member's expected purchases over `weeks`, P(alive) and CLV, fitted up to `until`."""
    with snapshot(uow, program_id, now=now) as taken:
        return clv.members(taken, until, weeks)
