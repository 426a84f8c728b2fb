"""`fidela leaderboard`: opted-in members by the points they earned this period."""

from __future__ import annotations

from typing import Annotated

import typer

from fidela.cli.common import NowOption, ProgramOption, _errors, _now, _print_json, _program, _uow
from fidela.domain.errors import InvalidInput
from fidela.services import leaderboard
from fidela.services.leaderboard import Board

PERIODS: tuple[Board, ...] = ("day", "week", "month", "year")


def show(
    period: Annotated[str, typer.Option(help="day, week, month or year")] = "month",
    limit: Annotated[int, typer.Option(min=1, max=100)] = 10,
    program: ProgramOption = None,
    now: NowOption = None,
) -> None:
    """The members who opted in, by points earned in the period that holds --now."""
    with _errors():
        board = next((p for p in PERIODS if p == period), None)
        if board is None:
            raise InvalidInput("--period", f"{period!r} is not one of {', '.join(PERIODS)}")
        uow = _uow()
        ranked = leaderboard.ranked(uow, _program(uow, program), board, limit=limit, now=_now(now))
        _print_json(ranked)
