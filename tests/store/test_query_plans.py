"""The till's read, the most frequent of all, finds a member named by shop id or e-mail
through the customers' unique indexes: it never reads every customer, which costs more
as the shop grows (on PostgreSQL a read took 1.0-1.2 ms that way at 10,000 members,
0.35 ms by the index)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import psycopg
import pytest
from sqlalchemy import event

from fidela.domain.ids import ProgramId
from fidela.services import members
from fidela.store.reads import driver_of
from fidela.store.unit_of_work import UnitOfWork
from tests.conftest import T0
from tests.services.helpers import enroll

OTHERS = 300  # customers besides the member, so that PostgreSQL's estimates tell indexes apart


def plan_of_balance(uow: UnitOfWork, cafe: ProgramId, ref: str) -> str:
    """How the database runs the statement that `members.balance(ref)` sends, as text."""
    sent: list[tuple[str, Any]] = []

    def keep(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        sent.append((statement, parameters))

    # On PostgreSQL the read goes to psycopg past SQLAlchemy's events (store/reads.py).
    execute = psycopg.Cursor.execute

    def spy(cursor: psycopg.Cursor[Any], query: Any, params: Any = None, **options: Any) -> Any:
        sent.append((query, params))
        return execute(cursor, query, params, **options)

    event.listen(uow.engine, "before_cursor_execute", keep)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(psycopg.Cursor, "execute", spy)
            members.balance(uow, cafe, ref)
    finally:
        event.remove(uow.engine, "before_cursor_execute", keep)
    [(statement, parameters)] = [(s, p) for s, p in sent if "FROM members" in s]
    with uow.engine.connect() as connection:
        cursor = driver_of(connection).cursor()
        if connection.dialect.name == "sqlite":
            cursor.execute(f"EXPLAIN QUERY PLAN {statement}", parameters)
            return "\n".join(str(row[-1]) for row in cursor.fetchall())
        cursor.execute("ANALYZE customers")
        cursor.execute("SET LOCAL enable_seqscan = off")  # the tables are small here
        cursor.execute(f"EXPLAIN {statement}", parameters)
        return "\n".join(row[0] for row in cursor.fetchall())


def searched_by(plan: str, column: str) -> bool:
    """Whether the plan looks customers up in an index by program and `column`."""
    return any(
        f"(program_id=? AND {column}=?)" in line  # SQLite
        or ("Index Cond:" in line and f"({column})::text =" in line)  # PostgreSQL
        for line in plan.splitlines()
    )


@pytest.mark.parametrize(
    ("ref", "column"), [("shop-77", "external_id"), ("ana.lopez@example.com", "email")]
)
def test_a_balance_read_by_shop_id_or_email_looks_the_customer_up_by_index(
    uow: UnitOfWork, cafe: ProgramId, ref: str, column: str
) -> None:
    enroll(uow, cafe, "ana.lopez@example.com", T0, customer_id="shop-77")
    with uow:
        others = {f"c{n}": (T0 + timedelta(seconds=n), f"c{n}@example.com") for n in range(OTHERS)}
        uow.customers.add_many(cafe, others)
        uow.commit()
    plan = plan_of_balance(uow, cafe, ref)
    assert searched_by(plan, column), plan
