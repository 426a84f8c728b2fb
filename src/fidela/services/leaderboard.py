"""The leaderboard: opted-in members ranked by the points they earned in a period."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fidela.domain.ids import ProgramId
from fidela.domain.rules import period_start
from fidela.store.unit_of_work import UnitOfWork

Board = Literal["day", "week", "month", "year"]


def ranked(
    uow: UnitOfWork, program_id: ProgramId, period: Board, *, limit: int, now: datetime
) -> dict[str, Any]:
    """The top `limit` of the calendar `period` (of the program's zone) that holds `now`:
    rank, the name each member chose, and points earned less reversals; never e-mails."""
    with uow.reading() as reader:
        program = reader.programs.current(program_id).program
        since = period_start(period, now, program.zone)
        assert since is not None  # a calendar period, never lifetime
        rows = reader.members.leaders(program_id, since, now, limit)
    return {
        "period": period,
        "since": since.isoformat(),
        "leaders": [
            {"rank": rank, "name": row.leaderboard_name, "points": int(row.points)}
            for rank, row in enumerate(rows, start=1)
        ],
    }
