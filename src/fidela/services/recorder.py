"""Events sent at the same moment by concurrent callers, recorded in one transaction.

Every event takes its program's ledger head until its transaction commits, so the
events of one program are written one after the other. A `Recorder` lets the callers
that arrive while a transaction is being written wait, and records them together in
the next one (group commit): one lock, one look-up of each kind, one write and one
commit for all of them. A caller that finds no one writing goes at once, in a group
of one, in its own thread; the first caller of a group writes it, the others sleep.

Each caller still gets its own outcome, as if alone: a refused event refuses no other
(`events.record_all`); a group that fails unexpectedly is recorded again event by
event, so that only the event at fault fails. A group that waited too long for a lock
(DatabaseBusy) is not: every caller of it gets that error.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from fidela.domain.events import Event
from fidela.domain.ids import ProgramId
from fidela.services import events
from fidela.services.events import Hints, Recorded
from fidela.store.database import DatabaseBusy
from fidela.store.unit_of_work import UnitOfWork

GROUP_MAX = 100  # events in one transaction: the first of a long queue waits for no more


@dataclass(eq=False)
class _Caller:
    """A caller's event, waiting for its outcome or to be told to write the next group."""

    event: Event
    now: datetime
    woken: threading.Event = field(default_factory=threading.Event)
    writes: bool = False  # this caller writes a group: its own event and those queued behind
    outcome: Recorded | BaseException | None = None


class Unfinished(RuntimeError):
    """The caller writing a group stopped before this event's outcome was known."""


class Recorder:
    """Records events from many threads of one process, grouping those that queue.

    `on_group` hears the size of every group written (for /metrics).
    """

    def __init__(self, on_group: Callable[[int], None] | None = None) -> None:
        self._on_group = on_group
        self._hints = Hints()  # what the groups saw: the next ones read their members sooner
        self._lock = threading.Lock()
        # Per program, while one of its groups is being written: the callers queued behind.
        self._queues: dict[ProgramId, list[_Caller]] = {}

    def record(
        self, uow: UnitOfWork, program_id: ProgramId, event: Event, *, now: datetime
    ) -> Recorded:
        """Apply an event once, as `events.record` does, with whoever else is waiting."""
        caller = _Caller(event, now)
        with self._lock:
            queue = self._queues.get(program_id)
            if queue is None:
                self._queues[program_id] = []
                caller.writes = True
            else:
                queue.append(caller)
        if not caller.writes:
            caller.woken.wait()  # for its outcome, or to write the next group
        if caller.writes:
            self._write_next(uow, program_id, caller)
        outcome = caller.outcome
        if isinstance(outcome, BaseException):
            raise outcome
        assert outcome is not None
        return outcome

    def writing(self, program_id: ProgramId) -> bool:
        """Whether a group of the program is being written."""
        with self._lock:
            return program_id in self._queues

    def waiting(self, program_id: ProgramId) -> int:
        """Callers of the program queued behind the group being written."""
        with self._lock:
            return len(self._queues.get(program_id, []))

    def _write_next(self, uow: UnitOfWork, program_id: ProgramId, first: _Caller) -> None:
        """Write the group `first` heads, then hand the writing to the next caller queued."""
        with self._lock:
            queue = self._queues[program_id]
            if first in queue:
                queue.remove(first)
            group = [first, *queue[: GROUP_MAX - 1]]
            del queue[: GROUP_MAX - 1]
        try:
            self._write(uow, program_id, group)
        finally:
            for caller in group:
                if caller.outcome is None:
                    caller.outcome = Unfinished("the event's group stopped before it was written")
                if caller is not first:
                    caller.woken.set()
            with self._lock:
                if queue:
                    queue[0].writes = True
                    queue[0].woken.set()
                else:
                    del self._queues[program_id]

    def _write(self, uow: UnitOfWork, program_id: ProgramId, group: list[_Caller]) -> None:
        """Record a group's events in one transaction; if that fails, each in one of its own,
        unless a lock was busy: each of them would wait for it again."""
        now = max(caller.now for caller in group)
        try:
            outcomes = events.record_all(
                uow, program_id, [c.event for c in group], now=now, hints=self._hints
            )
        except DatabaseBusy as busy:
            for caller in group:  # one error each: each is raised in its caller's thread
                caller.outcome = DatabaseBusy(busy.field, busy.reason)
            return
        except Exception as error:  # given to the callers: raised in each one's thread
            if len(group) == 1:
                group[0].outcome = error
                return
            for caller in group:
                self._write(uow, program_id, [caller])
            return
        for caller, outcome in zip(group, outcomes, strict=True):
            caller.outcome = outcome
        if self._on_group is not None:
            self._on_group(len(group))
