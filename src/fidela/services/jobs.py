"""Scheduled work: everything due up to an instant (expiry, releases, birthdays, reviews,
memberships' months and lapses, referrals past their first order's return window)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from fidela.domain.ids import ProgramId
from fidela.domain.ledger import Account
from fidela.domain.members import advance, reached_by
from fidela.services import idempotency, keys, referrals, webhooks
from fidela.store.ledger import Changes
from fidela.store.unit_of_work import UnitOfWork

# Members per transaction, by database. On PostgreSQL a batch holds the program's ledger
# head from its first post to its COMMIT, and the events of the API wait for it that long:
# 500 members hold it a quarter as long as 2,000, for 0-25 % of a lone worker's speed
# (docs/benchmarks.md, section 2). On SQLite every writer waits for a whole batch whatever
# its size, and 500 were about 5 % slower.
BATCH = {"postgresql": 500, "sqlite": 2000}
# Seconds the write lock is left free after a full batch, by database. SQLite keeps no
# queue of writers: one that finds the lock taken tries again later, so without a pause
# run_due took the lock back first and an event from the API waited seconds. Fidela's
# writers try every few milliseconds (store.database.SQLITE_TRY_EVERY); 20 ms leaves
# room for one to be scheduled. PostgreSQL queues its waiting writers.
PAUSE = {"postgresql": 0.0, "sqlite": 0.02}
# Transactions posted at a time by a lone worker: the next members are computed while
# they are written. A batch's last step is written with nothing beside it, so steps are small.
STEP = 1000


def run_due(
    uow: UnitOfWork,
    program_id: ProgramId,
    *,
    now: datetime,
    progress: Callable[[int], None] | None = None,
    workers: int = 1,
) -> dict[str, int]:
    """Bring every member with something due up to `now`; running it twice does nothing more.

    Members are taken in batches, each its own transaction, locked with SKIP LOCKED on
    PostgreSQL so that several workers can share the work. With `workers` above 1 (on
    PostgreSQL; SQLite writes one transaction at a time), that many threads do, each on
    a connection of its own: a batch writes its lots and members first and takes the
    ledger head only for its numbered rows, so that one batch's reads, rules and updates
    run while another's transactions are written.
    """
    if workers < 1:
        raise ValueError(f"workers: must be 1 or more, not {workers}")
    counts: Counter[str] = Counter()
    counts["idempotency_keys_forgotten"] = idempotency.prune(uow, program_id, now=now)
    counts["member_tokens_forgotten"] = keys.forget_expired(uow, program_id, now=now)
    if workers == 1 or uow.engine.dialect.name == "sqlite":
        counts.update(_run_batches(uow, program_id, now, progress, shared=False))
    else:
        lock = threading.Lock()

        def report(members: int) -> None:
            if progress:
                with lock:
                    progress(members)

        with ThreadPoolExecutor(workers, thread_name_prefix="fidela-run-due") as pool:
            running = [
                pool.submit(_run_batches, UnitOfWork(uow.engine), program_id, now, report, True)
                for _ in range(workers)
            ]
            for done in running:
                counts.update(done.result())
    counts["referrals_settled"] = referrals.settle_due(uow, program_id, now=now)
    counts.update(webhooks.tidy(uow, program_id, now=now))  # last: the outbox rows of ours too
    return {name: count for name, count in counts.items() if count}


def _run_batches(
    uow: UnitOfWork,
    program_id: ProgramId,
    now: datetime,
    progress: Callable[[int], None] | None,
    shared: bool,
) -> Counter[str]:
    """Take batches of due members until none is left; `shared`: other workers take some."""
    after = 0  # members are taken in id order, each batch after the last one done
    batch, pause = BATCH[uow.engine.dialect.name], PAUSE[uow.engine.dialect.name]
    counts: Counter[str] = Counter()
    while True:
        with uow:
            program = uow.programs.current(program_id).program
            due = uow.members.due(program_id, now, after=after, limit=batch)
            if not due:
                break
            # `due` locked them; the rules bring them to `now`, no further, and grant
            # nothing on the way but birthdays.
            states = uow.members.load_states(
                program, due, now, lock=False, until=now, meeting=reached_by([])
            )
            changes = Changes(program)
            for member_id, state in states.items():
                outcome = advance(program, state, now)
                changes.record(member_id, state, outcome)
                for transaction in outcome.transactions:
                    counts[transaction.kind.value] += 1
                counts["points_expired"] += sum(
                    t.points(Account.EXPIRED) for t in outcome.transactions
                )
                counts.update(effect.kind for effect in outcome.effects)
                if not shared and len(changes.transactions) >= STEP:
                    uow.ledger.post(program_id, changes, now, in_background=True)
                    changes = Changes(program)
            if shared:  # the ledger head, which the other workers wait for, comes last
                uow.ledger.write_members(program_id, changes)
            uow.ledger.post(program_id, changes, now, commit=shared)
            uow.commit()
        after = due[-1]
        counts["members"] += len(due)
        if progress:
            progress(len(due))
        if pause and len(due) == batch:  # more may follow: a waiting writer goes first
            time.sleep(pause)
    return counts
