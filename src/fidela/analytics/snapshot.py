"""A snapshot of one program's history in DuckDB, where every report's SQL runs.

The store writes its tables as CSV (`store/snapshot.py`, the same on SQLite and
PostgreSQL); DuckDB reads them with its built-in CSV reader, so one SQL serves both
databases. Times are TIMESTAMPTZ in UTC; `local(column)` is the program's wall-clock
time, for calendar periods. Money is in minor units of the program's currency.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import duckdb

from fidela.domain.money import exponent, from_minor
from fidela.domain.program import Program

# The orders that count in reports: not wholly refunded (one of no amount counts). RFM
# (segments.py) keeps the store's own rule instead: what is left after refunds, if any.
KEPT = "(refunded = 0 OR refunded < amount)"

COLUMNS = {
    "customers": {"id": "BIGINT", "first_seen_at": "TIMESTAMPTZ"},
    "members": {
        "id": "BIGINT",
        "customer_id": "BIGINT",
        "enrolled_at": "TIMESTAMPTZ",
        "erased_at": "TIMESTAMPTZ",
        "tier": "VARCHAR",
    },
    "orders": {
        "customer_id": "BIGINT",
        "member_id": "BIGINT",
        "occurred_at": "TIMESTAMPTZ",
        "amount": "BIGINT",
        "refunded": "BIGINT",
    },
    "ledger": {"occurred_at": "TIMESTAMPTZ", "account": "VARCHAR", "amount": "BIGINT"},
    "pilot_groups": {"pilot": "VARCHAR", "customer_id": "BIGINT", "in_pilot": "BOOLEAN"},
}


@dataclass
class Snapshot:
    """One program's history in an in-memory DuckDB database."""

    db: duckdb.DuckDBPyConnection
    program: Program
    taken_at: datetime

    @property
    def zone(self) -> str:
        return self.program.timezone

    @property
    def scale(self) -> int:
        """Minor units per unit of the currency (100 for EUR)."""
        return int(10 ** exponent(self.program.currency))

    def money(self, minor: int | float | None) -> Decimal:
        """Minor units as an amount of the program's currency."""
        return from_minor(int(minor or 0), self.program.currency)

    def cents(self, amount: Decimal | int) -> Decimal:
        """An amount rounded to the currency's minor unit."""
        return Decimal(amount).quantize(Decimal(1) / self.scale)

    def local(self, column: str) -> str:
        """SQL for `column`'s wall-clock time in the program's zone."""
        return f"timezone('{self.zone}', {column})"


def load(files: dict[str, Path], program: Program, taken_at: datetime) -> Snapshot:
    """Read the store's CSV files into a fresh DuckDB database (no extension is installed:
    the CSV reader and time zones are built in)."""
    folder = next(iter(files.values())).parent
    # What does not fit in memory spills beside the CSV files, removed with them.
    db = duckdb.connect(":memory:", config={"temp_directory": str(folder / "duckdb")})
    db.execute("SET TimeZone = 'UTC'")
    for table, columns in COLUMNS.items():
        types = ", ".join(f"'{name}': '{kind}'" for name, kind in columns.items())
        db.execute(
            f"CREATE TABLE {table} AS SELECT * FROM read_csv(?, header = false, "
            f"auto_detect = false, delim = ',', quote = '\"', escape = '\"', "
            f"columns = {{{types}}}, nullstr = '')",
            [str(files[table])],
        )
    return Snapshot(db, program, taken_at)
