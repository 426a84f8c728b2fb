"""Checking and applying program files."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fidela.domain import rewards
from fidela.domain.errors import InvalidInput
from fidela.domain.ids import ProgramId
from fidela.domain.program import Program, Reward, inactive_sections, parse_program
from fidela.store.programs import StoredVersion
from fidela.store.unit_of_work import UnitOfWork, run


@dataclass(frozen=True)
class Applied:
    program_id: ProgramId
    version: int
    inactive: list[str]
    unchanged: bool


def check(text: str) -> tuple[Program, list[str]]:
    """Validate a program file; return it and the sections not active yet."""
    program = parse_program(text)
    return program, inactive_sections(program)


def apply(uow: UnitOfWork, text: str, *, now: datetime, only: ProgramId | None = None) -> Applied:
    """Store a new version of the program; applying the same file again adds none.

    With `only`, the file must be that program's (an API key's program applying it).
    """
    program, inactive = check(text)
    digest = hashlib.sha256(text.encode()).hexdigest()
    program_id = ProgramId(program.program)
    if only is not None and program_id != only:
        raise InvalidInput("program", f"the file is for program {program_id}, not {only}")

    def work(uow: UnitOfWork) -> Applied:
        if uow.programs.latest_digest(program_id) == digest:
            current = uow.programs.current(program_id)
            return Applied(program_id, current.version, inactive, unchanged=True)
        version = uow.programs.add_version(
            program, source=text, digest=digest, inactive=inactive, applied_at=now
        )
        # Members are due at once: the new rules may move tiers or add a birthday gift.
        uow.members.make_due(program_id, now)
        uow.commit()
        return Applied(program_id, version, inactive, unchanged=False)

    return run(uow, work)


def ids(uow: UnitOfWork) -> list[ProgramId]:
    with uow.reading() as reader:
        return reader.programs.ids()


def history(uow: UnitOfWork, program_id: ProgramId) -> list[StoredVersion]:
    with uow.reading() as uow:
        versions = uow.programs.versions(program_id)
    return versions


def described(uow: UnitOfWork, program_id: ProgramId) -> dict[str, Any]:
    """The current version as callers see it: identity, units, rewards, what is not active."""
    with uow.reading() as reader:
        stored = reader.programs.current(program_id)
        stocked = any(reward.stock is not None for reward in stored.program.rewards)
        redeemed = reader.redemptions.redeemed(program_id) if stocked else {}
    program = stored.program
    return {
        "program": program_id,
        "name": program.name,
        "version": stored.version,
        "applied_at": stored.applied_at.isoformat(),
        "currency": program.currency,
        "timezone": program.timezone,
        "point_name": program.point_name,
        "inactive": stored.inactive,
        "rewards": [
            reward.model_dump(mode="json", exclude_none=True, by_alias=True)
            | _stock_left(reward, redeemed.get(reward.id, 0))
            for reward in program.rewards
        ],
    }


def _stock_left(reward: Reward, by_everyone: int) -> dict[str, int]:
    left = rewards.stock_left(reward, by_everyone)
    return {} if left is None else {"stock_left": left}
