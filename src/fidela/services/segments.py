"""Segments, RFM and by rules: recomputed on demand and once a day by run-due, with every
member's history."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row

from fidela.domain.ids import ProgramId
from fidela.domain.money import exponent
from fidela.domain.program import Program
from fidela.domain.segments import SEGMENTS, Score, rule_segments, scores
from fidela.services.shown import local_time
from fidela.store.unit_of_work import UnitOfWork

EVERY = timedelta(days=1)  # how often run-due recomputes a program's segments


def recompute(uow: UnitOfWork, program_id: ProgramId, *, now: datetime) -> dict[str, Any]:
    """Score every buyer against the others as of `now`; a member whose segment changes
    ends the old one and starts the new one at `now`; one who no longer buys (every
    order refunded) leaves their segment."""
    with uow:
        program = uow.programs.current(program_id).program
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
        rule_moves = _recompute_rules(uow, program, now)
        uow.segments.computed(program_id, now)
        sizes = uow.segments.sizes(program_id)
        rule_sizes = uow.segments.rule_sizes(program_id)
        uow.commit()
    return {
        "members": len(new),
        "moved": len(started),
        "sizes": _all(sizes),
        "rules": _all_rules(program, rule_sizes),
        "rule_moves": rule_moves,
    }


def _recompute_rules(uow: UnitOfWork, program: Program, now: datetime) -> int:
    """Fit every member's rule segments to the rules as of `now`: a segment a member left
    ends at `now`, one they entered starts then; how many entered or left."""
    program_id = ProgramId(program.program)
    facts = uow.segments.facts(program_id) if program.segments else []
    places = exponent(program.currency)
    now_in = rule_segments(program.segments, facts, now, places)
    current = uow.segments.current_rules(program_id)
    ended = [row for (m, segment), row in current.items() if segment not in now_in.get(m, ())]
    started = [
        (member_id, segment)
        for member_id, segments in now_in.items()
        for segment in sorted(segments)
        if (member_id, segment) not in current
    ]
    uow.segments.move_rules(program_id, ended, started, now)
    return len(ended) + len(started)


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
        program = reader.programs.current(program_id).program
        counted = reader.segments.sizes(program_id)
        by_rules = reader.segments.rule_sizes(program_id)
        computed_at = reader.segments.computed_at(program_id)
    return {
        "computed_at": computed_at.isoformat() if computed_at else None,
        "sizes": _all(counted),
        "rules": _all_rules(program, by_rules),
    }


def described(program: Program, rows: Sequence[Row[Any]]) -> list[dict[str, Any]]:
    """A member's segment rows as callers see them, oldest first (`until` None: now)."""
    return [
        {
            "segment": row.segment,
            "scores": Score(row.recency, row.frequency, row.monetary)._asdict(),
            "since": local_time(program, row.since),
            "until": local_time(program, row.until),
        }
        for row in rows
    ]


def described_rules(program: Program, rows: Sequence[Row[Any]]) -> list[dict[str, Any]]:
    """A member's rule segment rows, oldest first (`until` None: they are in it now)."""
    return [
        {
            "segment": row.segment,
            "since": local_time(program, row.since),
            "until": local_time(program, row.until),
        }
        for row in rows
    ]


def _all(sizes: dict[str, int]) -> dict[str, int]:
    return {segment: sizes.get(segment, 0) for segment in SEGMENTS}


def _all_rules(program: Program, sizes: dict[str, int]) -> dict[str, int]:
    """Each rule segment of the program, and its members now."""
    return {segment.id: sizes.get(segment.id, 0) for segment in program.segments}
