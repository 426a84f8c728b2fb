"""Exactly once per Idempotency-Key, on both databases: retries, refusals, crashes, races.

The key's claim commits with the work's own transaction, or not at all.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import ExitStack
from datetime import timedelta

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from fidela.domain.errors import Conflict, InsufficientPoints
from fidela.domain.ids import ProgramId
from fidela.services import adjustments, idempotency, jobs
from fidela.services.idempotency import KEPT, Answer
from fidela.store.unit_of_work import UnitOfWork
from tests.conftest import T0
from tests.services.helpers import balance, enroll, impatient, writes_held


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
    with pytest.raises(Conflict, match="another request"):
        idempotency.once(uow, cafe, "k1", "request-b", work, now=T0)


def committed_then_crashed(uow: UnitOfWork) -> Callable[[], Answer]:
    """A work whose transaction commits (claiming the key), then fails before answering."""

    def work() -> Answer:
        with uow:
            uow.commit()
        raise RuntimeError("after commit")

    return work


def test_a_failure_before_the_work_commits_frees_the_key_and_one_after_keeps_it(
    uow: UnitOfWork, cafe: ProgramId
) -> None:
    def refused() -> Answer:
        raise InsufficientPoints(0, 100)

    def crashed_before_commit() -> Answer:
        with uow:
            uow.idempotency.get(cafe, "k2")
            raise RuntimeError("the process died: nothing committed")

    with pytest.raises(InsufficientPoints):
        idempotency.once(uow, cafe, "k2", "r", refused, now=T0)
    with pytest.raises(RuntimeError):
        idempotency.once(uow, cafe, "k2", "r", crashed_before_commit, now=T0)
    assert idempotency.once(uow, cafe, "k2", "r", lambda: Answer(201, {}), now=T0).status == 201

    with pytest.raises(RuntimeError):
        idempotency.once(uow, cafe, "k3", "r", committed_then_crashed(uow), now=T0)
    with pytest.raises(Conflict, match="no answer yet"):
        idempotency.once(uow, cafe, "k3", "r", lambda: Answer(201, {}), now=T0)


def test_the_claim_commits_with_the_work_or_not_at_all(
    uow: UnitOfWork, cafe: ProgramId, monkeypatch: pytest.MonkeyPatch
) -> None:
    member = enroll(uow, cafe, "ana@example.com", T0)

    def work() -> Answer:
        adjustments.adjust(uow, cafe, member, 10, actor="admin", reason="r", now=T0)
        return Answer(201, {})

    def commit_lost(self: UnitOfWork) -> None:  # the claim is written, then the line drops
        assert self.before_commit is not None
        self.before_commit(self)
        raise OperationalError("COMMIT", None, Exception("connection lost"))

    with monkeypatch.context() as patched:
        patched.setattr(UnitOfWork, "commit", commit_lost)
        with pytest.raises(OperationalError):
            idempotency.once(uow, cafe, "k5", "r", work, now=T0)
    assert balance(uow, cafe, "ana@example.com")[0] == 0  # neither the points nor the claim
    assert idempotency.once(uow, cafe, "k5", "r", work, now=T0).status == 201  # runs afresh
    assert balance(uow, cafe, "ana@example.com")[0] == 10


def test_a_work_kept_whose_answer_waits_too_long_for_the_lock_answers_and_keeps_its_key(
    engine: Engine, uow: UnitOfWork, cafe: ProgramId
) -> None:
    """Another write takes the lock between the work's commit and its answer's, and holds
    it past the engine's wait: the caller still gets the work's answer (a 503 would say
    that nothing was kept), and a retry gets a 409, never a second run."""
    member = enroll(uow, cafe, "ana@example.com", T0)
    hurried_engine = impatient(engine, 0.2)
    hurried = UnitOfWork(hurried_engine)
    later = ExitStack()

    def work() -> Answer:
        adjustments.adjust(hurried, cafe, member, 10, actor="admin", reason="r", now=T0)
        later.enter_context(writes_held(engine, "idempotent_requests"))
        return Answer(201, {"points": 10})

    try:
        with later:
            answer = idempotency.once(hurried, cafe, "k6", "r", work, now=T0)
    finally:
        hurried_engine.dispose()
    assert answer == Answer(201, {"points": 10})
    assert balance(uow, cafe, "ana@example.com")[0] == 10
    with pytest.raises(Conflict, match="no answer yet"):
        idempotency.once(uow, cafe, "k6", "r", work, now=T0)
    assert balance(uow, cafe, "ana@example.com")[0] == 10


def test_concurrent_copies_of_a_request_apply_it_once(uow: UnitOfWork, cafe: ProgramId) -> None:
    member = enroll(uow, cafe, "ana@example.com", T0)
    copies = 8
    start = threading.Barrier(copies)
    outcomes: list[Answer | str] = []

    def send() -> None:
        mine = UnitOfWork(uow.engine)

        def work() -> Answer:
            done = adjustments.adjust(mine, cafe, member, 10, actor="admin", reason="r", now=T0)
            return Answer(201, {"available": done["available"]})

        start.wait()
        try:
            outcomes.append(idempotency.once(mine, cafe, "k4", "r", work, now=T0))
        except Conflict:
            outcomes.append("in progress")

    threads = [threading.Thread(target=send) for _ in range(copies)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert balance(uow, cafe, "ana@example.com")[0] == 10
    answered = [outcome for outcome in outcomes if outcome != "in progress"]
    assert len(outcomes) == copies and answered
    assert all(answer == Answer(201, {"available": 10}) for answer in answered)


def test_run_due_forgets_answers_after_a_week_but_keeps_unanswered_keys(
    uow: UnitOfWork, cafe: ProgramId
) -> None:
    idempotency.once(uow, cafe, "old", "r", lambda: Answer(201, {"n": 1}), now=T0)
    idempotency.once(uow, cafe, "recent", "r", lambda: Answer(201, {"n": 2}), now=T0 + KEPT)
    with pytest.raises(RuntimeError):
        idempotency.once(uow, cafe, "unknown", "r", committed_then_crashed(uow), now=T0)
    done = jobs.run_due(uow, cafe, now=T0 + KEPT + timedelta(seconds=1))
    assert done["idempotency_keys_forgotten"] == 1
    fresh = idempotency.once(uow, cafe, "old", "r2", lambda: Answer(201, {"n": 3}), now=T0)
    assert fresh.body == {"n": 3}  # forgotten: the key may be used again
    never = committed_then_crashed(uow)
    assert idempotency.once(uow, cafe, "recent", "r", never, now=T0).body == {"n": 2}
    with pytest.raises(Conflict):
        idempotency.once(uow, cafe, "unknown", "r", never, now=T0)
