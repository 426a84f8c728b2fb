"""A program's history as CSV files, for analytics to load into DuckDB.

The same few SELECTs on SQLite and PostgreSQL; PostgreSQL streams them with COPY, in
UTC, and SQLite's rows are written by the csv module (its times are stored in UTC).
Empty fields are NULLs.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.engine import Connection

from fidela.domain.ids import ProgramId
from fidela.domain.ledger import Account
from fidela.store.tables import (
    customers,
    line_of_transaction,
    lines,
    members,
    orders,
    pilot_groups,
    transactions,
)

ROWS_AT_ONCE = 50_000
REPORTED = [  # what points KPIs, liability and backtests read: the rest stays out
    account.value
    for account in (
        Account.ISSUED,
        Account.REDEEMED,
        Account.EXPIRED,
        Account.REVERSED,
        Account.ADJUSTED,
        Account.AVAILABLE,
    )
]


def queries(program_id: ProgramId) -> dict[str, Select[Any]]:
    """What analytics reads of a program, table by table (the columns' order is the
    CSV files')."""
    return {
        "customers": select(customers.c.id, customers.c.first_seen_at).where(
            customers.c.program_id == program_id
        ),
        "members": select(
            members.c.id,
            members.c.customer_id,
            members.c.enrolled_at,
            members.c.erased_at,
            members.c.tier,
        ).where(members.c.program_id == program_id),
        "orders": select(
            orders.c.customer_id,
            orders.c.member_id,
            orders.c.occurred_at,
            orders.c.amount_minor,
            orders.c.refunded_minor,
        ).where(orders.c.program_id == program_id),
        "pilot_groups": select(
            pilot_groups.c.pilot, pilot_groups.c.customer_id, pilot_groups.c.in_pilot
        ).where(pilot_groups.c.program_id == program_id),
        # The lines of the accounts reports read, with their transaction's instant.
        "ledger": select(transactions.c.occurred_at, lines.c.account, lines.c.amount)
        .join(transactions, line_of_transaction())
        .where(lines.c.program_id == program_id, lines.c.account.in_(REPORTED)),
    }


def export(connection: Connection, program_id: ProgramId, directory: Path) -> dict[str, Path]:
    """Write each table of `queries` to `directory` as CSV; the files, by table."""
    files = {}
    for table, query in queries(program_id).items():
        path = directory / f"{table}.csv"
        if connection.dialect.name == "postgresql":
            _copy_out(connection, query, path)
        else:
            _write_rows(connection, query, path)
        files[table] = path
    return files


def _copy_out(connection: Connection, query: Select[Any], path: Path) -> None:
    sql = str(query.compile(connection, compile_kwargs={"literal_binds": True}))
    driver = connection.connection.driver_connection
    assert driver is not None
    with driver.cursor() as cursor:
        cursor.execute("SET LOCAL TimeZone = 'UTC'")
        cursor.execute("SET LOCAL DateStyle = 'ISO, YMD'")  # what DuckDB reads
        with (
            cursor.copy(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)") as copy,
            path.open("wb") as out,
        ):
            for chunk in copy:
                out.write(chunk)


def _write_rows(connection: Connection, query: Select[Any], path: Path) -> None:
    """SQLite: its stored text, as is (times are 'YYYY-MM-DD HH:MM:SS.ffffff' in UTC)."""
    raw = connection.exec_driver_sql(
        str(query.compile(connection, compile_kwargs={"literal_binds": True}))
    )
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        while rows := raw.fetchmany(ROWS_AT_ONCE):
            writer.writerows(rows)
