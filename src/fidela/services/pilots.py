"""Pilots: assign a stratified, seeded share of the program's customers to a pilot, then
report the pilot against the control group."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any, Literal

from fidela.analytics import pilots as pilot_reports
from fidela.domain import pilots
from fidela.domain.errors import Conflict, InvalidInput, NotFound
from fidela.domain.ids import ProgramId
from fidela.services.analytics import checked_period, snapshot
from fidela.store.unit_of_work import UnitOfWork, run

Strata = Literal["segment", "tier", "none"]
NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")  # as program files' ids


def assign(
    uow: UnitOfWork,
    program_id: ProgramId,
    name: str,
    *,
    share: float,
    seed: int,
    strata: Strata = "segment",
    now: datetime,
) -> dict[str, Any]:
    """Split every customer known now between the pilot (`share` of each stratum: RFM
    segment, tier, or none) and the control group; once per name (a second assignment
    racing the first finds it on the retry that follows its unique violation)."""

    if not NAME.fullmatch(name):
        raise InvalidInput("name", "must be a slug: a-z, 0-9, - and _, up to 64 characters")

    def work(uow: UnitOfWork) -> dict[str, Any]:
        uow.programs.current(program_id)
        if uow.pilots.get(program_id, name) is not None:
            raise Conflict("name", f"a pilot {name} exists: choose another name")
        customers = uow.pilots.customers(program_id, strata)
        groups = pilots.assign(customers, share, seed)
        stratum_of = dict(customers)
        uow.pilots.add(
            program_id,
            name,
            share=share,
            seed=seed,
            strata=strata,
            groups={c: (stratum_of[c], in_pilot) for c, in_pilot in groups.items()},
            at=now,
        )
        uow.commit()
        in_pilot = sum(groups.values())
        return {
            "pilot": name,
            "share": share,
            "seed": seed,
            "strata": strata,
            "customers": {"pilot": in_pilot, "control": len(groups) - in_pilot},
        }

    return run(uow, work)


def report(
    uow: UnitOfWork, program_id: ProgramId, name: str, first: date, last: date, *, now: datetime
) -> dict[str, Any]:
    """The pilot against the control group from `first` to `last` (the program's zone)."""
    checked_period(first, last)
    with uow.reading() as reader:
        found = reader.pilots.get(program_id, name)
    if found is None:
        raise NotFound("name", f"no pilot {name} in {program_id}")
    with snapshot(uow, program_id, now=now) as taken:
        return pilot_reports.report(taken, name, first, last)
