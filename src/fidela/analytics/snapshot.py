"""A snapshot of one program's history in DuckDB, where every report's SQL runs.

The store reads its tables as arrays of numbers (`store/snapshot.py`, the same on
SQLite and PostgreSQL); DuckDB takes them in as they are, so one SQL serves both
databases. Times are TIMESTAMPTZ in UTC; `local(column)` is the program's wall-clock
time, for calendar periods. Money is in minor units of the program's currency.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
from numpy.typing import NDArray

from fidela.domain.money import exponent, from_minor
from fidela.domain.program import Program
from fidela.domain.rules import local_midnight

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
    "pilot_groups": {"pilot": "VARCHAR", "customer_id": "BIGINT", "in_pilot": "BOOLEAN"},
    "transactions": {"seq": "BIGINT", "occurred_at": "TIMESTAMPTZ"},
    "lines": {"seq": "BIGINT", "account": "VARCHAR", "amount": "BIGINT"},
}
# The points that moved, with the instant of their transaction.
LEDGER = """
    CREATE TABLE ledger AS
    SELECT transactions.occurred_at, lines.account, lines.amount
    FROM lines JOIN transactions USING (seq)
"""


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

    def end_of(self, day: date) -> datetime:
        """The first instant after `day` in the program's zone."""
        return local_midnight(day + timedelta(days=1), self.program.zone)

    def local(self, column: str) -> str:
        """SQL for `column`'s wall-clock time in the program's zone."""
        return f"timezone('{self.zone}', {column})"


def load(
    tables: dict[str, dict[str, NDArray[Any]]], program: Program, taken_at: datetime, spill: Path
) -> Snapshot:
    """Take the store's arrays into a fresh DuckDB database (no extension is installed:
    time zones are built in); what does not fit in memory spills into `spill`."""
    db = duckdb.connect(":memory:", config={"temp_directory": str(spill)})
    db.execute("SET TimeZone = 'UTC'")
    for table, columns in COLUMNS.items():
        db.register("incoming", tables[table])
        chosen = ", ".join(f"CAST({name} AS {kind}) AS {name}" for name, kind in columns.items())
        db.execute(f"CREATE TABLE {table} AS SELECT {chosen} FROM incoming")
        db.unregister("incoming")
    db.execute(LEDGER)
    db.execute("DROP TABLE lines; DROP TABLE transactions")
    return Snapshot(db, program, taken_at)
