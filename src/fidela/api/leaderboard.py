"""The leaderboard: opted-in members by the points they earned this period."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from fidela.api.dependencies import Anyone, Now, Uow
from fidela.services import leaderboard
from fidela.services.leaderboard import Board

router = APIRouter(prefix="/v1/programs/{program_id}", tags=["leaderboard"])


@router.get("/leaderboard")
def ranked(
    caller: Anyone,
    uow: Uow,
    now: Now,
    period: Annotated[Board, Query(description="The calendar period that holds now.")] = "month",
    limit: Annotated[int, Query(ge=1, le=100, description="At most this many.")] = 10,
) -> dict[str, Any]:
    """The members who opted in (with `leaderboard_name`), by points earned this period."""
    return leaderboard.ranked(uow, caller.program_id, period, limit=limit, now=now)
