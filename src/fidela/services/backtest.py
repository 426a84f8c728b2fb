"""Backtests: a program file replayed over a purchase history in a store of its own.

The replay goes month by month, in a fresh SQLite database in a temporary folder (never
the live store): the month's purchases are imported, everything due by the month's end
is run, then members redeem as the redemption model says. The report is read from that
store, so its figures are those the real ledger would hold after the same replay.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from itertools import groupby
from typing import Any, Literal

from fidela.analytics.monthly import by_month
from fidela.domain.errors import FidelaError, InvalidInput, ProgramInvalid
from fidela.domain.ids import MemberId, ProgramId
from fidela.domain.program import Program, Reward, parse_program
from fidela.domain.rules import local_midnight
from fidela.services import analytics, imports, jobs, ledger, programs, rewards
from fidela.services.imports import PurchaseRow
from fidela.store.database import temporary_sqlite
from fidela.store.unit_of_work import UnitOfWork

PAGE = 1000  # members read at a time when they redeem
INSTANT = timedelta(microseconds=1)


def end_of(program: Program, day: date) -> datetime:
    """The last instant of `day` in the program's zone: a replay to `day` runs to it."""
    return local_midnight(day + timedelta(days=1), program.zone) - INSTANT


Model = Literal["none", "cheapest"]  # how replayed members redeem


@dataclass(frozen=True)
class Redemptions:
    """When replayed members redeem: `none`, or at each month's end the `cheapest` reward
    of the catalog they may redeem and afford (points, tier), by a `share` of those who
    can (drawn with `seed`, so that a backtest is reproducible), once a month each."""

    model: Model = "none"
    share: float = 1.0
    seed: int = 1

    def __post_init__(self) -> None:
        if not 0 < self.share <= 1:
            raise InvalidInput("share", f"{self.share} is not in (0, 1]")


def backtest(
    program_text: str,
    history: list[PurchaseRow],
    *,
    first: date | None = None,
    last: date | None = None,
    redemptions: Redemptions = Redemptions(),
    now: datetime,
) -> dict[str, Any]:
    """Replay `history` (its days from `first` to `last`, in the program's zone) through
    the program; the month-by-month report."""
    program = parse_program(program_text)
    _check_period(first, last)
    rows = _between(program, history, first, last)
    if not rows:
        raise InvalidInput("history", "no purchase in the period")
    start = first or rows[0].occurred_at(program).astimezone(program.zone).date()
    end = last or rows[-1].occurred_at(program).astimezone(program.zone).date()
    final = end_of(program, end)
    with temporary_sqlite("fidela-backtest-") as engine:
        uow = UnitOfWork(engine)
        program_id = programs.apply(uow, program_text, now=now).program_id
        chooser = random.Random(redemptions.seed)
        redeemed = 0
        rows_of = {
            month: list(month_rows)
            for month, month_rows in groupby(rows, key=lambda row: _month_of(program, row))
        }
        for month_start in _months(start, end):
            batch = rows_of.get((month_start.year, month_start.month), [])
            if batch:
                imports.import_purchases(uow, program_id, batch, now=now)
            # Up to the month's last instant (what falls due at midnight is the next month's).
            month_end = _month_end(program, local_midnight(month_start, program.zone)) - INSTANT
            until = min(month_end, final)
            jobs.run_due(uow, program_id, now=until)
            if redemptions.model == "cheapest":
                redeemed += _redeem(uow, program, program_id, until, redemptions, chooser)
        jobs.run_due(uow, program_id, now=final)
        verified = ledger.verify(uow, program_id)
        with analytics.snapshot(uow, program_id, now=now) as taken:
            report = by_month(taken, start, end)
    return {
        "program": program.program,
        "from": start.isoformat(),
        "to": end.isoformat(),
        "purchases": len(rows),
        "redemptions": {
            "model": redemptions.model,
            "share": redemptions.share,
            "seed": redemptions.seed,
            "made": redeemed,
        },
        "point_value": str(program.point_value),
        "currency": program.currency,
        **report,
        "ledger_verified": verified.ok,
    }


def compare(
    program_text: str, other_text: str, history: list[PurchaseRow], **options: Any
) -> dict[str, Any]:
    """Two programs over the same history, side by side; both files are checked before
    either is replayed, the second one's mistakes located under `vs`."""
    parse_program(program_text)
    try:
        parse_program(other_text)
    except ProgramInvalid as invalid:
        located = [replace(p, location=f"vs.{p.location}") for p in invalid.problems]
        raise ProgramInvalid(located) from None
    return {
        "programs": [
            backtest(program_text, history, **options),
            backtest(other_text, history, **options),
        ]
    }


def _check_period(first: date | None, last: date | None) -> None:
    """A period of the years Fidela takes (events.YEARS), not ending before it starts."""
    for field, day in (("from", first), ("to", last)):
        if day is not None:
            analytics.checked_day(day, field)
    if first is not None and last is not None:
        analytics.checked_period(first, last)


def _between(
    program: Program, history: list[PurchaseRow], first: date | None, last: date | None
) -> list[PurchaseRow]:
    """The rows of the period, in time order."""
    zone = program.zone

    def day(row: PurchaseRow) -> date:
        return row.occurred_at(program).astimezone(zone).date()

    kept = [
        row
        for row in history
        if (first is None or day(row) >= first) and (last is None or day(row) <= last)
    ]
    return sorted(kept, key=lambda row: row.occurred_at(program))


def _months(first: date, last: date) -> list[date]:
    """The first day of every month from `first`'s to `last`'s, months without purchases
    too: what falls due in them, and redemptions, happen all the same."""
    months, day = [], first.replace(day=1)
    while day <= last:
        months.append(day)
        day = (day + timedelta(days=32)).replace(day=1)
    return months


def _month_of(program: Program, row: PurchaseRow) -> tuple[int, int]:
    local = row.occurred_at(program).astimezone(program.zone)
    return local.year, local.month


def _month_end(program: Program, at: datetime) -> datetime:
    """The first instant of the month after `at`'s, in the program's zone."""
    local = at.astimezone(program.zone).date().replace(day=1)
    following = (local + timedelta(days=32)).replace(day=1)
    return local_midnight(following, program.zone)


def _redeem(
    uow: UnitOfWork,
    program: Program,
    program_id: ProgramId,
    at: datetime,
    model: Redemptions,
    chooser: random.Random,
) -> int:
    """Members who can afford a reward redeem the cheapest they may, drawn by `share`;
    how many redeemed. A redemption refused (a stock, a limit) is skipped."""
    catalog = sorted(
        (reward for reward in program.rewards if reward.cost is not None),
        key=lambda reward: (reward.cost or 0, reward.id),
    )
    if not catalog:
        return 0
    cheapest = catalog[0].cost or 0
    made, after = 0, 0
    while True:
        page = _members(uow, program_id, after)
        if not page:
            return made
        for member_id, tier, available in page:
            if available < cheapest or chooser.random() >= model.share:
                continue
            reward = _cheapest_for(program, catalog, tier, available)
            if reward is None:
                continue
            try:
                rewards.redeem(uow, program_id, member_id, reward.id, now=at)
            except FidelaError:
                continue
            made += 1
        after = page[-1][0]


def _members(
    uow: UnitOfWork, program_id: ProgramId, after: int
) -> list[tuple[MemberId, str | None, int]]:
    with uow.reading() as reader:
        rows = reader.members.page(program_id, after=after, limit=PAGE, tier=None)
    return [(MemberId(row.id), row.tier, int(row.available)) for row in rows]


def _cheapest_for(
    program: Program, catalog: list[Reward], tier: str | None, available: int
) -> Reward | None:
    for reward in catalog:
        if (reward.cost or 0) > available:
            return None
        if reward.min_tier is None or (
            program.tiers is not None
            and tier is not None
            and program.tiers.rank(tier) >= program.tiers.rank(reward.min_tier)
        ):
            return reward
    return None
