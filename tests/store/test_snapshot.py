"""The snapshot's export: every table analytics reads, column by column, equal to the
rows a plain query reads, however the store slices it (on PostgreSQL, many slices read
by several connections in one snapshot)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest

from fidela.domain.ids import MemberId, ProgramId
from fidela.services import imports, pilots, privacy, programs
from fidela.store import snapshot
from fidela.store.unit_of_work import UnitOfWork
from tests.conftest import CDNOW, T0, example

NOW = datetime(2026, 11, 24, tzinfo=UTC)


def as_rows(columns: dict[str, Any]) -> list[tuple[Any, ...]]:
    """An exported table as rows (masked values as None), sorted."""
    lists = [np.ma.masked_array(values).tolist() for values in columns.values()]
    return sorted(zip(*lists, strict=True), key=repr)


def plainly(value: Any) -> Any:
    """A value as the export carries it: times in UTC (numpy's have no zone), booleans
    as 0 or 1."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None)
    return int(value) if isinstance(value, bool) else value


def test_the_export_holds_every_row_of_every_table_as_read(
    uow: UnitOfWork, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(snapshot, "PAGES_AT_ONCE", 3)  # dozens of slices per table
    program_id = ProgramId(programs.apply(uow, example("cafe-usd.yaml"), now=T0).program_id)
    rows = imports.read(CDNOW / "CDNOW_sample.txt", "cdnow")
    imports.import_purchases(uow, program_id, rows, now=NOW)
    privacy.erase(uow, program_id, MemberId(1), actor="dpo", now=NOW)  # erased_at, NULLs
    pilots.assign(uow, program_id, "spring", share=0.3, seed=1, strata="none", now=NOW)
    with uow.reading() as reader:
        exported = snapshot.export(reader.connection, program_id)
        for table, query in snapshot.queries(program_id).items():
            expected = sorted(
                (
                    tuple(plainly(value) for value in row)
                    for row in reader.connection.execute(query)
                ),
                key=repr,
            )
            assert as_rows(exported[table]) == expected, table
    assert len(exported["orders"]["amount"]) == len(rows)
    assert np.count_nonzero(~np.isnat(exported["members"]["erased_at"])) == 1  # the one erased
    assert all(len(next(iter(columns.values()))) for columns in exported.values())


def test_a_program_without_history_exports_empty_columns(uow: UnitOfWork) -> None:
    program_id = ProgramId(programs.apply(uow, example("cafe-usd.yaml"), now=T0).program_id)
    with uow.reading() as reader:
        exported = snapshot.export(reader.connection, program_id)
    assert set(exported) == set(snapshot.queries(program_id))
    for table, columns in exported.items():
        assert all(len(values) == 0 for values in columns.values()), table
    assert exported["orders"]["occurred_at"].dtype == np.dtype("datetime64[us]")


def test_an_export_outside_a_repeatable_read_transaction_is_refused(uow: UnitOfWork) -> None:
    """On PostgreSQL each statement of a READ COMMITTED transaction sees a newer state:
    what the caller reads beside the export would not be the export's state."""
    program_id = ProgramId(programs.apply(uow, example("cafe-usd.yaml"), now=T0).program_id)
    with uow:  # a writer's transaction: READ COMMITTED on PostgreSQL
        if uow.connection.dialect.name == "sqlite":
            exported = snapshot.export(uow.connection, program_id)  # one snapshot anyway
            assert len(exported["orders"]["amount"]) == 0
        else:
            with pytest.raises(ValueError, match="REPEATABLE READ"):
                snapshot.export(uow.connection, program_id)
