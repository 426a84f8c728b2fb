"""Exactly once per Idempotency-Key, on both databases: retries, refusals, crashes, races."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from fidela.domain.errors import Conflict, InsufficientPoints, InvalidInput
from fidela.domain.ids import ProgramId
from fidela.services import idempotency, jobs
from fidela.services.idempotency import KEPT, Answer
from fidela.store.unit_of_work import UnitOfWork
from tests.conftest import T0


def test_a_retry_gets_the_first_answer_without_running_again(
    uow: UnitOfWork, cafe: ProgramId
) -> None:
    runs: list[int] = []

    def work() -> Answer:
        runs.append(1)
        return Answer(201, {"run": len(runs)})

    first = idempotency.once(uow, cafe, "k1", "request-a", work, now=T0)
    again = idempotency.once(uow, cafe, "k1", "request-a", work, now=T0)
    assert first == again == Answer(201, {"run": 1}) and len(runs) == 1
    with pytest.raises(InvalidInput, match="another request"):
        idempotency.once(uow, cafe, "k1", "request-b", work, now=T0)


def test_a_refusal_frees_the_key_and_an_unknown_failure_keeps_it(
    uow: UnitOfWork, cafe: ProgramId
) -> None:
    def refused() -> Answer:
        raise InsufficientPoints(0, 100)

    with pytest.raises(InsufficientPoints):
        idempotency.once(uow, cafe, "k2", "r", refused, now=T0)
    assert idempotency.once(uow, cafe, "k2", "r", lambda: Answer(201, {}), now=T0).status == 201

    def crashed() -> Answer:
        raise RuntimeError("after commit, perhaps")

    with pytest.raises(RuntimeError):
        idempotency.once(uow, cafe, "k3", "r", crashed, now=T0)
    with pytest.raises(Conflict, match="no answer yet"):
        idempotency.once(uow, cafe, "k3", "r", lambda: Answer(201, {}), now=T0)


def test_concurrent_copies_of_a_request_run_it_once(uow: UnitOfWork, cafe: ProgramId) -> None:
    runs: list[int] = []
    lock = threading.Lock()
    outcomes: list[str] = []

    def work() -> Answer:
        with lock:
            runs.append(1)
        return Answer(201, {})

    def send() -> None:
        try:
            idempotency.once(UnitOfWork(uow.engine), cafe, "k4", "r", work, now=T0)
            outcomes.append("answered")
        except Conflict:
            outcomes.append("in progress")

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(runs) == 1
    assert len(outcomes) == 8 and "answered" in outcomes


def test_run_due_forgets_answers_after_a_week_but_keeps_unanswered_keys(
    uow: UnitOfWork, cafe: ProgramId
) -> None:
    idempotency.once(uow, cafe, "old", "r", lambda: Answer(201, {"n": 1}), now=T0)
    idempotency.once(uow, cafe, "recent", "r", lambda: Answer(201, {"n": 2}), now=T0 + KEPT)

    def crashed() -> Answer:
        raise RuntimeError("unknown outcome")

    with pytest.raises(RuntimeError):
        idempotency.once(uow, cafe, "unknown", "r", crashed, now=T0)
    done = jobs.run_due(uow, cafe, now=T0 + KEPT + timedelta(seconds=1))
    assert done["idempotency_keys_forgotten"] == 1
    fresh = idempotency.once(uow, cafe, "old", "r2", lambda: Answer(201, {"n": 3}), now=T0)
    assert fresh.body == {"n": 3}  # forgotten: the key may be used again
    assert idempotency.once(uow, cafe, "recent", "r", crashed, now=T0).body == {"n": 2}
    with pytest.raises(Conflict):
        idempotency.once(uow, cafe, "unknown", "r", crashed, now=T0)
