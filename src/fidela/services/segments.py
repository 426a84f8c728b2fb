"""RFM segments: recomputed on demand and once a day by run-due, with every member's history."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row

from fidela.domain.ids import ProgramId
from fidela.domain.segments import SEGMENTS, Score, scores
from fidela.store.unit_of_work import UnitOfWork

EVERY = timedelta(days=1)  # how often run-due recomputes a program's segments


def recompute(uow: UnitOfWork, program_id: ProgramId, *, now: datetime) -> dict[str, Any]:
    """Score every buyer against the others as of `now`; a member whose segment changes
    ends the old one and starts the new one at `now`; one who no longer buys (every
    order refunded) leaves their segment."""
    with uow:
        uow.programs.current(program_id)  # the program must exist
        new = scores(uow.segments.buyers(program_id, now))
        current = uow.segments.current(program_id)
        ended = [m for m, row in current.items() if m not in new or new[m].segment != row.segment]
        moving = set(ended)
        started = {m: score for m, score in new.items() if m not in current or m in moving}
        rescored = {
            row.id: new[m]
            for m, row in current.items()
            if m not in moving and new[m] != (row.recency, row.frequency, row.monetary)
        }
        uow.segments.move(program_id, ended, started, now)
        uow.segments.rescore(rescored)
        uow.segments.computed(program_id, now)
        sizes = uow.segments.sizes(program_id)
        uow.commit()
    return {"members": len(new), "moved": len(started), "sizes": _all(sizes)}


def recompute_if_due(uow: UnitOfWork, program_id: ProgramId, *, now: datetime) -> bool:
    """Recompute if the last computation is a day old or more (run-due calls it)."""
    with uow.reading() as reader:
        last = reader.segments.computed_at(program_id)
    if last is not None and now < last + EVERY:
        return False
    recompute(uow, program_id, now=now)
    return True


def sizes(uow: UnitOfWork, program_id: ProgramId) -> dict[str, Any]:
    """How many members each segment holds now, and when they were computed."""
    with uow.reading() as reader:
        reader.programs.current(program_id)
        counted = reader.segments.sizes(program_id)
        computed_at = reader.segments.computed_at(program_id)
    return {
        "computed_at": computed_at.isoformat() if computed_at else None,
        "sizes": _all(counted),
    }


def described(rows: Sequence[Row[Any]]) -> list[dict[str, Any]]:
    """A member's segment rows as callers see them, oldest first (`until` None: now)."""
    return [
        {
            "segment": row.segment,
            "scores": Score(row.recency, row.frequency, row.monetary)._asdict(),
            "since": row.since.isoformat(),
            "until": row.until.isoformat() if row.until else None,
        }
        for row in rows
    ]


def _all(sizes: dict[str, int]) -> dict[str, int]:
    return {segment: sizes.get(segment, 0) for segment in SEGMENTS}
