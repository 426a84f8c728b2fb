"""Challenges: a member's progress on each, and the badges they hold."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fidela.domain import challenges
from fidela.domain.errors import NotFound
from fidela.domain.ids import MemberId, ProgramId
from fidela.store.unit_of_work import UnitOfWork


def progress(
    uow: UnitOfWork, program_id: ProgramId, member_id: MemberId, *, now: datetime
) -> dict[str, Any]:
    """Where the member stands on every challenge now ("2 of 3 this month"), and badges."""
    with uow.reading() as reader:
        program = reader.programs.current(program_id).program
        state = reader.members.load_states(program, [member_id], now, lock=False).get(member_id)
    if state is None:
        raise NotFound("member_id", f"no member {member_id} in {program_id}")
    shown = []
    for challenge in program.challenges:
        kind = challenge.streak.when if challenge.streak else challenge.when
        assert kind is not None
        times = state.event_times.get(kind, [])
        shown.append(
            {
                "id": challenge.id,
                "name": challenge.name,
                "points": challenge.points,
                "badge": challenge.badge,
                **challenges.progress(challenge, program.zone, now, times),
            }
        )
    return {"member_id": member_id, "badges": sorted(state.badges), "challenges": shown}
