"""Small builders for service tests: events as a shop would send them."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from fidela.domain.events import Enrollment, parse_event
from fidela.domain.ids import MemberId, ProgramId
from fidela.services import events, members, webhooks
from fidela.services.events import Recorded
from fidela.store.database import make_engine
from fidela.store.unit_of_work import UnitOfWork


def listen(uow: UnitOfWork, program_id: ProgramId, now: datetime) -> None:
    """Subscribe a receiver that nothing calls: the outbox then keeps what is announced
    (run-due drops what no subscription receives)."""
    webhooks.subscribe(uow, program_id, "http://127.0.0.1:9/never-called", None, now=now)


def enroll(
    uow: UnitOfWork, program_id: ProgramId, email: str, at: datetime, **extra: Any
) -> MemberId:
    enrollment = Enrollment.model_validate({"email": email, "enrolled_at": at, **extra})
    return members.enroll(uow, program_id, enrollment, now=at).member_id


def send(uow: UnitOfWork, program_id: ProgramId, now: datetime, **data: Any) -> Recorded:
    data.setdefault("occurred_at", now.isoformat())
    return events.record(uow, program_id, parse_event(data), now=now)


def purchase(
    uow: UnitOfWork,
    program_id: ProgramId,
    email: str,
    order_id: str,
    amount: str,
    at: datetime,
    currency: str = "EUR",
    **extra: Any,
) -> Recorded:
    return send(
        uow,
        program_id,
        at,
        type="purchase",
        idempotency_key=f"purchase-{order_id}",
        customer={"email": email},
        order_id=order_id,
        amount=amount,
        currency=currency,
        **extra,
    )


def balance(uow: UnitOfWork, program_id: ProgramId, email: str) -> tuple[int, int, int]:
    report = members.show(uow, program_id, email)
    return report["available"], report["pending"], report["debt"]


WAIT_SECONDS = 30.0  # for what other threads are doing; never reached when all is well


def impatient(engine: Engine, lock_wait: float) -> Engine:
    """An engine on `engine`'s database whose statements wait `lock_wait` s for a lock."""
    return make_engine(engine.url.render_as_string(hide_password=False), lock_wait=lock_wait)


@contextmanager
def _holder(engine: Engine) -> Iterator[UnitOfWork]:
    """Another transaction (on SQLite, holding the write lock), left without a commit.

    PostgreSQL ends it after 10 s idle, so that a writer that would wait for it forever
    fails its test instead of hanging it."""
    holder = UnitOfWork(engine)
    with holder:
        if engine.dialect.name == "postgresql":
            holder.connection.exec_driver_sql(
                "SET LOCAL idle_in_transaction_session_timeout = '10s'"
            )
        yield holder


@contextmanager
def ledger_held(engine: Engine, program_id: ProgramId) -> Iterator[None]:
    """Another transaction holds the program's ledger (and, on SQLite, the write lock)."""
    with _holder(engine) as holder:
        holder.ledger.lock(program_id)
        yield


@contextmanager
def writes_held(engine: Engine, table: str) -> Iterator[None]:
    """Another transaction keeps every write out of `table` (on SQLite, out of all)."""
    with _holder(engine) as holder:
        if engine.dialect.name == "postgresql":
            holder.connection.exec_driver_sql(f"LOCK TABLE {table} IN EXCLUSIVE MODE")
        yield


def wait_until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        assert time.monotonic() < deadline, "the other threads did not get there"
        time.sleep(0.005)
