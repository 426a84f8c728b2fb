"""Pilots and the group of each of their customers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Row, and_, insert, select
from sqlalchemy.engine import Connection

from fidela.domain.ids import ProgramId
from fidela.store.batches import BatchWriter
from fidela.store.tables import customers, member_segments, members, pilot_groups, pilots


class PilotRepository:
    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def get(self, program_id: ProgramId, name: str) -> Row[Any] | None:
        return self.connection.execute(
            select(pilots).where(pilots.c.program_id == program_id, pilots.c.name == name)
        ).one_or_none()

    def customers(self, program_id: ProgramId, strata: str) -> list[tuple[int, str]]:
        """Every customer of the program, with their stratum: their member's current RFM
        segment or tier ("none" for a customer who is no member, or without one)."""
        if strata == "segment":
            stratum = member_segments.c.segment
        elif strata == "tier":
            stratum = members.c.tier
        else:
            stratum = None
        columns = [customers.c.id] + ([stratum] if stratum is not None else [])
        current = and_(
            member_segments.c.member_id == members.c.id, member_segments.c.until.is_(None)
        )
        query = (
            select(*columns)
            .select_from(
                customers.outerjoin(members, members.c.customer_id == customers.c.id).outerjoin(
                    member_segments, current
                )
            )
            .where(customers.c.program_id == program_id)
        )
        return [
            (int(row[0]), (row[1] if stratum is not None else None) or "none")
            for row in self.connection.execute(query)
        ]

    def add(
        self,
        program_id: ProgramId,
        name: str,
        *,
        share: float,
        seed: int,
        strata: str,
        groups: dict[int, tuple[str, bool]],
        at: datetime,
    ) -> None:
        """A new pilot and every customer's group: (stratum, in the pilot)."""
        self.connection.execute(
            insert(pilots).values(
                program_id=program_id,
                name=name,
                share=share,
                seed=seed,
                strata=strata,
                created_at=at,
            )
        )
        write = BatchWriter(self.connection)
        write.insert(
            pilot_groups,
            ("program_id", "pilot", "customer_id", "stratum", "in_pilot"),
            [
                (program_id, name, customer, stratum, in_pilot)
                for customer, (stratum, in_pilot) in groups.items()
            ],
        )
        write.run()
