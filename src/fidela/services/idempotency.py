"""Exactly-once writes for callers that retry: the first answer to a key is the answer.

A key is claimed before the work runs, in its own transaction, so that two copies of
one request never both run. If the work fails with one of Fidela's errors, nothing
changed and the claim is dropped: a retry runs afresh. If it fails unexpectedly, the
claim stays without an answer and a retry is refused as a conflict, since whether the
work committed is not known: never run it twice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from fidela.domain.errors import Conflict, FidelaError, InvalidInput
from fidela.domain.ids import ProgramId
from fidela.store.unit_of_work import UnitOfWork, run

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
    """Run `work` once per key; a retry of the same request gets the first answer."""

    def claim(uow: UnitOfWork) -> Answer | None:
        previous = uow.idempotency.get(program_id, key)
        if previous is None:
            uow.idempotency.claim(program_id, key, fingerprint, now)
            uow.commit()
            return None
        if previous.fingerprint != fingerprint:
            raise InvalidInput(FIELD, "was used for another request: use a new key")
        if previous.status is None:
            raise Conflict(FIELD, "the first request with this key has no answer yet")
        return Answer(previous.status, previous.response)

    first = run(uow, claim)
    if first is not None:
        return first
    try:
        answer = work()
    except FidelaError:
        with uow:
            uow.idempotency.release(program_id, key)
            uow.commit()
        raise
    with uow:
        uow.idempotency.answer(program_id, key, answer.status, answer.body)
        uow.commit()
    return answer


def prune(uow: UnitOfWork, program_id: ProgramId, *, now: datetime) -> int:
    """Forget the answers older than KEPT; return how many keys were forgotten."""
    with uow:
        pruned = uow.idempotency.prune(program_id, now - KEPT)
        uow.commit()
    return pruned
