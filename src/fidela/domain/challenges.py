"""Challenges and badges: counts of events within a calendar period, and streaks.

A counting challenge (`when`, `count`, `within`) completes at the event that makes
the member's events of that kind in the period (of the program's time zone) reach
`count`: once per period. A streak (`streak: {when, every, length}`) completes at the
first event of a period that makes `length` consecutive periods with such an event; a
longer run does not complete it again, a new run does. On completion the challenge
grants its `points` (under its own id) and, the first time only, its `badge`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

from fidela.domain.program import Challenge, Period, Program
from fidela.domain.rules import in_period, local_midnight, period_start


class Completed(NamedTuple):
    challenge: Challenge
    badge: str | None  # awarded now: the member did not hold it yet


def completed(
    program: Program, kind: str, at: datetime, times: Sequence[datetime], badges: set[str]
) -> list[Completed]:
    """The challenges the member completes with an event of `kind` at `at`; `times` are
    their events of that kind, this one included. Badges awarded are added to `badges`."""
    done = []
    for challenge in program.challenges:
        if _completes(challenge, program.zone, kind, at, times):
            badge = challenge.badge if challenge.badge not in badges else None
            if badge is not None:
                badges.add(badge)
            done.append(Completed(challenge, badge))
    return done


def since(program: Program, at: datetime) -> datetime | None:
    """How far back a member's events matter to the challenges at `at` and later."""
    starts = []
    for challenge in program.challenges:
        if challenge.streak is not None:
            every, length = challenge.streak.every, challenge.streak.length
            back = {"day": 1, "week": 7, "month": 31}[every] * length
            starts.append(local_midnight((at - timedelta(days=back)).date(), program.zone))
        else:
            assert challenge.within is not None
            start = period_start(challenge.within, at, program.zone)
            assert start is not None  # within is never lifetime
            starts.append(start)
    return min(starts, default=None)


def progress(
    challenge: Challenge, zone: ZoneInfo, at: datetime, times: Sequence[datetime]
) -> dict[str, object]:
    """How far the member is, at `at`: events in this period, or the current run."""
    if challenge.streak is not None:
        streak = challenge.streak
        run = _run(streak.every, zone, at, times)
        return {"streak": run, "of": streak.length, "every": streak.every}
    assert challenge.within is not None
    count = _in_period(challenge.within, zone, at, times)
    return {"count": count, "of": challenge.count, "within": challenge.within}


def _completes(
    challenge: Challenge, zone: ZoneInfo, kind: str, at: datetime, times: Sequence[datetime]
) -> bool:
    if challenge.streak is not None:
        streak = challenge.streak
        if streak.when != kind:
            return False
        period = _index(streak.every, zone, at)
        first_of_period = sum(1 for t in times if _index(streak.every, zone, t) == period) == 1
        return first_of_period and _run(streak.every, zone, at, times) == streak.length
    if challenge.when != kind:
        return False
    assert challenge.within is not None
    return _in_period(challenge.within, zone, at, times) == challenge.count


def _in_period(within: Period, zone: ZoneInfo, at: datetime, times: Sequence[datetime]) -> int:
    return in_period(within, [t for t in times if t <= at], at, zone)


def _run(every: str, zone: ZoneInfo, at: datetime, times: Sequence[datetime]) -> int:
    """Consecutive periods with an event, ending with the period of `at` (0 if it has none)."""
    periods = {_index(every, zone, t) for t in times if t <= at}
    run, period = 0, _index(every, zone, at)
    while period in periods:
        run, period = run + 1, period - 1
    return run


def _index(every: str, zone: ZoneInfo, at: datetime) -> int:
    """A number for the calendar period of `at`, consecutive periods consecutive numbers."""
    day = at.astimezone(zone).date()
    match every:
        case "day":
            return day.toordinal()
        case "week":
            return (day.toordinal() - day.weekday()) // 7
        case _:
            return day.year * 12 + day.month
