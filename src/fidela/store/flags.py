"""Flags: members an admin should look at, and what members bought and refunded."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, func, insert, select, update
from sqlalchemy.engine import Connection

from fidela.domain.fraud import Buying
from fidela.domain.ids import MemberId, ProgramId
from fidela.store.batches import among
from fidela.store.tables import member_flags, orders


class FlagRepository:
    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def buying(self, member_ids: Sequence[MemberId]) -> dict[MemberId, Buying]:
        """Each member's orders so far: how many, what they came to, what was refunded."""
        rows = self.connection.execute(
            select(
                orders.c.member_id,
                func.count(),
                func.sum(orders.c.amount_minor),
                func.sum(orders.c.refunded_minor),
            )
            .where(among(self.connection, orders.c.member_id, member_ids))
            .group_by(orders.c.member_id)
        )
        return {MemberId(m): Buying(int(n), int(bought), int(back)) for m, n, bought, back in rows}

    def open_for(self, member_ids: Sequence[MemberId], kind: str) -> set[MemberId]:
        rows = self.connection.execute(
            select(member_flags.c.member_id).where(
                among(self.connection, member_flags.c.member_id, member_ids),
                member_flags.c.kind == kind,
                member_flags.c.status == "open",
            )
        )
        return {MemberId(member_id) for member_id in rows.scalars()}

    def add(
        self,
        program_id: ProgramId,
        member_id: MemberId,
        kind: str,
        details: dict[str, Any],
        at: datetime,
    ) -> None:
        self.connection.execute(
            insert(member_flags).values(
                program_id=program_id,
                member_id=member_id,
                kind=kind,
                details=details,
                flagged_at=at,
                status="open",
            )
        )

    def listed(self, program_id: ProgramId) -> list[Row[Any]]:
        return list(
            self.connection.execute(
                select(member_flags)
                .where(member_flags.c.program_id == program_id, member_flags.c.status == "open")
                .order_by(member_flags.c.id)
            )
        )

    def decide(
        self,
        program_id: ProgramId,
        flag_id: int,
        status: str,
        actor: str,
        reason: str,
        at: datetime,
    ) -> bool:
        """Close an open flag; False if there is none (decided already, or unknown)."""
        result = self.connection.execute(
            update(member_flags)
            .where(
                member_flags.c.program_id == program_id,
                member_flags.c.id == flag_id,
                member_flags.c.status == "open",
            )
            .values(status=status, decided_at=at, decided_by=actor, reason=reason)
        )
        return result.rowcount == 1
