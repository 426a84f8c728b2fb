"""Group commit on SQLite and PostgreSQL: events that queue while a group is written go
together in the next transaction, and each caller still gets its own outcome."""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import Engine

from fidela.domain.errors import FidelaError, InvalidInput
from fidela.domain.events import Event, parse_event
from fidela.domain.ids import ProgramId
from fidela.services import events, ledger, members
from fidela.services.events import Recorded
from fidela.services.recorder import Recorder
from fidela.store.database import DatabaseBusy
from fidela.store.unit_of_work import UnitOfWork
from tests.conftest import T0
from tests.services.helpers import enroll, impatient, ledger_held, wait_until


def purchase(email: str, order_id: str, amount: str, **changes: Any) -> Event:
    return parse_event(
        {
            "type": "purchase",
            "idempotency_key": f"purchase-{order_id}",
            "customer": {"email": email},
            "order_id": order_id,
            "amount": amount,
            "currency": "EUR",
            "occurred_at": T0.isoformat(),
        }
        | changes
    )


class Callers:
    """Threads sending events through one Recorder: the first writes its group while the
    ledger is held, so that the others queue behind it."""

    def __init__(self, engine: Engine, program_id: ProgramId, recorder: Recorder) -> None:
        self.engine = engine
        self.program_id = program_id
        self.recorder = recorder
        self.pool = ThreadPoolExecutor(max_workers=8)

    def send(self, event: Event) -> Future[Recorded]:
        uow = UnitOfWork(self.engine)
        return self.pool.submit(self.recorder.record, uow, self.program_id, event, now=T0)

    def first_then_queued(self, first: Event, queued: list[Event]) -> list[Future[Recorded]]:
        with ledger_held(self.engine, self.program_id):
            sent = [self.send(first)]
            wait_until(lambda: self.recorder.writing(self.program_id))
            sent += [self.send(event) for event in queued]
            wait_until(lambda: self.recorder.waiting(self.program_id) == len(queued))
        wait_until(lambda: all(future.done() for future in sent))
        self.pool.shutdown()
        return sent


def test_events_that_queue_behind_a_group_are_written_together_in_the_next(
    engine: Engine, uow: UnitOfWork, cafe: ProgramId
) -> None:
    emails = [f"m{n}@example.com" for n in range(6)]
    for email in emails:
        enroll(uow, cafe, email, T0)
    groups: list[int] = []
    callers = Callers(engine, cafe, Recorder(on_group=groups.append))
    sent = callers.first_then_queued(
        purchase(emails[0], "A0", "10.00"),
        [purchase(email, f"A{n}", f"{10 + n}.00") for n, email in enumerate(emails[1:], 1)],
    )
    recorded = [future.result() for future in sent]
    earned = [10 + n for n in range(6)]
    assert groups == [1, 5]
    assert sorted(r.event_no for r in recorded) == [1, 2, 3, 4, 5, 6]
    assert [r.result["points"] for r in recorded] == earned
    assert [members.show(uow, cafe, email)["available"] for email in emails] == earned
    assert ledger.verify(uow, cafe).ok


def ana_sends_a1_then_queues(
    engine: Engine, uow: UnitOfWork, cafe: ProgramId, third: Event
) -> tuple[list[Future[Recorded]], list[int]]:
    """Ana's A1 of 10.00 is written while A2 (20.00), `third` and A4 (40.00) queue behind
    it; the callers' futures, and the sizes of the groups written."""
    enroll(uow, cafe, "ana@example.com", T0)
    groups: list[int] = []
    callers = Callers(engine, cafe, Recorder(on_group=groups.append))
    queued = [purchase("ana@example.com", "A2", "20.00"), third]
    queued.append(purchase("ana@example.com", "A4", "40.00"))
    return callers.first_then_queued(purchase("ana@example.com", "A1", "10.00"), queued), groups


def assert_only_the_third_failed(
    uow: UnitOfWork, cafe: ProgramId, sent: list[Future[Recorded]]
) -> None:
    assert [sent[i].result().result["points"] for i in (0, 1, 3)] == [10, 20, 40]
    assert members.show(uow, cafe, "ana@example.com")["available"] == 70
    assert ledger.verify(uow, cafe).ok


def test_a_refused_event_refuses_no_other_of_its_group(
    engine: Engine, uow: UnitOfWork, cafe: ProgramId
) -> None:
    usd = purchase("ana@example.com", "A3", "30.00", currency="USD")
    sent, groups = ana_sends_a1_then_queues(engine, uow, cafe, usd)
    with pytest.raises(InvalidInput) as refused:
        sent[2].result()
    assert refused.value.field == "currency"
    assert_only_the_third_failed(uow, cafe, sent)
    assert groups == [1, 3]


def test_copies_of_an_event_in_one_group_record_it_once(
    engine: Engine, uow: UnitOfWork, cafe: ProgramId
) -> None:
    enroll(uow, cafe, "ana@example.com", T0)
    callers = Callers(engine, cafe, Recorder())
    copy = purchase("ana@example.com", "A2", "20.00")
    sent = callers.first_then_queued(purchase("ana@example.com", "A1", "10.00"), [copy, copy])
    first, again = sent[1].result(), sent[2].result()
    assert (first.duplicate, again.duplicate) == (False, True)
    assert again.event_no == first.event_no and again.result == first.result
    assert members.show(uow, cafe, "ana@example.com")["available"] == 30


def test_a_group_that_fails_unexpectedly_is_written_again_event_by_event(
    engine: Engine, uow: UnitOfWork, cafe: ProgramId, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only the event at fault fails; the others of its group are recorded on their own."""
    record_all = events.record_all

    def failing_on_a_poisoned_event(
        uow: UnitOfWork, program_id: ProgramId, sent: list[Event], **options: Any
    ) -> list[Any]:
        if any(event.idempotency_key == "purchase-POISON" for event in sent):
            raise RuntimeError("an unexpected failure")
        return record_all(uow, program_id, sent, **options)

    monkeypatch.setattr(events, "record_all", failing_on_a_poisoned_event)
    poisoned = purchase("ana@example.com", "POISON", "30.00")
    sent, groups = ana_sends_a1_then_queues(engine, uow, cafe, poisoned)
    with pytest.raises(RuntimeError, match="unexpected"):
        sent[2].result()
    assert_only_the_third_failed(uow, cafe, sent)
    assert groups == [1, 1, 1]  # the first alone, then A2 and A4 each alone


def test_a_caller_alone_writes_at_once_in_a_group_of_one(
    engine: Engine, uow: UnitOfWork, cafe: ProgramId
) -> None:
    enroll(uow, cafe, "ana@example.com", T0)
    groups: list[int] = []
    recorder = Recorder(on_group=groups.append)
    for n in range(3):
        event = purchase("ana@example.com", f"A{n}", "10.00")
        recorder.record(UnitOfWork(engine), cafe, event, now=T0)
    assert groups == [1, 1, 1]
    assert not recorder.writing(cafe) and recorder.waiting(cafe) == 0


def test_a_group_kept_waiting_for_a_lock_too_long_is_busy_for_each_caller_at_once(
    engine: Engine, uow: UnitOfWork, cafe: ProgramId
) -> None:
    """A busy lock is no one event's fault: the group is not tried again one event at a
    time (each would wait for the lock again); every caller gets DatabaseBusy."""
    emails = [f"m{n}@example.com" for n in range(4)]
    for email in emails:
        enroll(uow, cafe, email, T0)
    hurried = impatient(engine, 0.2)
    callers = Callers(hurried, cafe, Recorder())
    tried: list[int] = []  # events in each transaction tried
    record_all = events.record_all

    def counted(*args: Any, **kwargs: Any) -> list[Recorded | FidelaError]:
        if not tried:  # the first group waits for the lock once the three queue behind it
            wait_until(lambda: callers.recorder.waiting(cafe) == 3)
        tried.append(len(args[2]))
        return record_all(*args, **kwargs)

    try:
        with pytest.MonkeyPatch.context() as patch, ledger_held(engine, cafe):
            patch.setattr(events, "record_all", counted)
            sent = [callers.send(purchase(emails[0], "B0", "10.00"))]
            wait_until(lambda: callers.recorder.writing(cafe))
            sent += [
                callers.send(purchase(e, f"B{n}", "10.00")) for n, e in enumerate(emails[1:], 1)
            ]
            wait_until(lambda: callers.recorder.waiting(cafe) == 3)
            wait_until(lambda: all(future.done() for future in sent))
    finally:
        callers.pool.shutdown()
        hurried.dispose()
    for future in sent:
        assert isinstance(future.exception(), DatabaseBusy)
    assert tried == [1, 3]  # the first alone, then the three queued behind it, together
    assert ledger.summary(uow, cafe)["issued"] == 0
