"""Exactly-once writes for callers that retry: the first answer to a key is the answer.

A key is claimed by the work's own transaction, as its last statement: the claim
commits with the work or not at all. So a work that fails before committing (a
refusal, a crash, a lost connection) leaves the key free, and a retry runs afresh.
Once the work committed, the answer is stored; a retry then gets it. If the work
committed and its answer was not stored (it failed after its commit, another write
held the lock past the engine's wait, or the process died in between), the key stays
claimed without an answer and a retry is refused as a conflict: never run it twice.

Two copies of one request may run at once: the second to commit fails on the key's
unique claim and is rolled back, or is refused by the rules (the first already spent
the points); either way it answers what the first answered (or that the first has
no answer yet).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError

from fidela.domain.errors import Conflict
from fidela.domain.ids import ProgramId
from fidela.store.database import DatabaseBusy
from fidela.store.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)
FIELD = "Idempotency-Key"
KEPT = timedelta(days=7)  # how long a retry still gets the first answer


@dataclass(frozen=True)
class Answer:
    """What a write answered: an HTTP status and a JSON body, replayed to retries."""

    status: int
    body: Any


def once(
    uow: UnitOfWork,
    program_id: ProgramId,
    key: str,
    fingerprint: str,
    work: Callable[[], Answer],
    *,
    now: datetime,
) -> Answer:
    """Run `work` once per key; a retry of the same request gets the first answer.

    `work` runs its transactions on `uow`: the first of them to commit claims the key.
    """
    if (first := _first(uow, program_id, key, fingerprint)) is not None:
        return first

    def claim(uow: UnitOfWork) -> None:
        uow.idempotency.claim(program_id, key, fingerprint, now)

    uow.before_commit = claim
    try:
        answer = work()
    except Exception:
        if not _claimed(uow) and (first := _first(uow, program_id, key, fingerprint)) is not None:
            return first  # a copy of this request committed first
        raise
    committed = _claimed(uow)
    try:
        with uow:
            if not committed:  # the work wrote nothing: the claim comes with the answer
                uow.idempotency.claim(program_id, key, fingerprint, now)
            uow.idempotency.answer(program_id, key, answer.status, answer.body)
            uow.commit()
    except IntegrityError:  # a copy of this request, which wrote nothing either, came first
        if (first := _first(uow, program_id, key, fingerprint)) is None:
            raise
        return first
    except DatabaseBusy:
        if not committed:
            raise  # nothing was kept: a retry runs afresh
        # The work is kept, and its answer is the caller's; a retry gets a 409, as when
        # the process dies between the two (another write held the lock too long).
        log.warning("idempotency key %r: its work committed, its answer was not stored", key)
    return answer


def _claimed(uow: UnitOfWork) -> bool:
    """Whether the work committed, claiming the key; the claim is not offered again."""
    claimed = uow.before_commit is None
    uow.before_commit = None
    return claimed


def _first(uow: UnitOfWork, program_id: ProgramId, key: str, fingerprint: str) -> Answer | None:
    """The first answer to this key and request; None if the key is free."""
    with uow.reading(single=True) as reader:
        previous = reader.idempotency.get(program_id, key)
    if previous is None:
        return None
    if previous.fingerprint != fingerprint:
        raise Conflict(FIELD, "was used for another request: use a new key")
    if previous.status is None:
        raise Conflict(FIELD, "the first request with this key has no answer yet")
    return Answer(previous.status, previous.response)


def prune(uow: UnitOfWork, program_id: ProgramId, *, now: datetime) -> int:
    """Forget the answers older than KEPT; return how many keys were forgotten."""
    with uow:
        pruned = uow.idempotency.prune(program_id, now - KEPT)
        uow.commit()
    return pruned
