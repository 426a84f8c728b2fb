"""Segments: what RFM and rule segments read of members and orders, and each member's
segments over time."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, func, insert, select, update
from sqlalchemy.engine import Connection

from fidela.domain.ids import MemberId, ProgramId
from fidela.domain.segments import Buyer, Facts, Score
from fidela.store.batches import BatchWriter, among
from fidela.store.tables import (
    member_rule_segments,
    member_segments,
    members,
    orders,
    segment_runs,
)


class SegmentRepository:
    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def buyers(self, program_id: ProgramId, at: datetime) -> list[Buyer]:
        """Every member with an order up to `at` not wholly refunded: its last purchase,
        its orders and its spend net of refunds."""
        kept = orders.c.amount_minor - orders.c.refunded_minor
        rows = self.connection.execute(
            select(
                orders.c.member_id,
                func.max(orders.c.occurred_at),
                func.count(),
                func.sum(kept),
            )
            .where(
                orders.c.program_id == program_id,
                orders.c.member_id.is_not(None),
                orders.c.occurred_at <= at,
                kept > 0,
            )
            .group_by(orders.c.member_id)
            .order_by(orders.c.member_id)
        )
        return [Buyer(MemberId(m), last, int(n), int(spend)) for m, last, n, spend in rows]

    def facts(self, program_id: ProgramId) -> list[Facts]:
        """What rule segments ask of every member not erased: enrollment, orders not wholly
        refunded and their net spend, tier, running membership."""
        kept = orders.c.amount_minor - orders.c.refunded_minor
        bought = (
            select(
                orders.c.member_id,
                func.count().label("orders"),
                func.sum(kept).label("spend"),
            )
            .where(orders.c.program_id == program_id, orders.c.member_id.is_not(None), kept > 0)
            .group_by(orders.c.member_id)
            .subquery()
        )
        rows = self.connection.execute(
            select(
                members.c.id,
                members.c.enrolled_at,
                bought.c.orders,
                bought.c.spend,
                members.c.tier,
                members.c.membership,
                members.c.membership_status,
            )
            .select_from(members.outerjoin(bought, bought.c.member_id == members.c.id))
            .where(members.c.program_id == program_id, members.c.erased_at.is_(None))
            .order_by(members.c.id)
        )
        return [
            Facts(
                MemberId(row.id),
                row.enrolled_at,
                int(row.orders or 0),
                int(row.spend or 0),
                row.tier,
                row.membership if row.membership_status not in (None, "lapsed") else None,
            )
            for row in rows
        ]

    def current_rules(self, program_id: ProgramId) -> dict[tuple[MemberId, str], int]:
        """The rule segments members are in now: (member, segment) to its row's id."""
        rows = self.connection.execute(
            select(
                member_rule_segments.c.member_id,
                member_rule_segments.c.segment,
                member_rule_segments.c.id,
            ).where(
                member_rule_segments.c.program_id == program_id,
                member_rule_segments.c.until.is_(None),
            )
        )
        return {(MemberId(m), segment): row_id for m, segment, row_id in rows}

    def move_rules(
        self,
        program_id: ProgramId,
        ended: Sequence[int],
        started: Sequence[tuple[MemberId, str]],
        at: datetime,
    ) -> None:
        """End the rule segment rows `ended` (ids) at `at`; start `started` from `at`."""
        if ended:
            self.connection.execute(
                update(member_rule_segments)
                .where(among(self.connection, member_rule_segments.c.id, ended))
                .values(until=at)
            )
        if started:
            write = BatchWriter(self.connection)
            since = write.time(at)
            write.insert(
                member_rule_segments,
                ("program_id", "member_id", "segment", "since"),
                [(program_id, member_id, segment, since) for member_id, segment in started],
            )
            write.run()

    def rule_sizes(self, program_id: ProgramId) -> dict[str, int]:
        rows = self.connection.execute(
            select(member_rule_segments.c.segment, func.count())
            .where(
                member_rule_segments.c.program_id == program_id,
                member_rule_segments.c.until.is_(None),
            )
            .group_by(member_rule_segments.c.segment)
        )
        return {row[0]: int(row[1]) for row in rows}

    def rules_of_member(self, member_id: MemberId) -> list[Row[Any]]:
        """A member's rule segments, oldest first; those without `until` hold now."""
        return list(
            self.connection.execute(
                select(member_rule_segments)
                .where(member_rule_segments.c.member_id == member_id)
                .order_by(member_rule_segments.c.since, member_rule_segments.c.id)
            )
        )

    def current(self, program_id: ProgramId) -> dict[MemberId, Row[Any]]:
        """Each member's current segment row."""
        rows = self.connection.execute(
            select(member_segments).where(
                member_segments.c.program_id == program_id, member_segments.c.until.is_(None)
            )
        )
        return {MemberId(row.member_id): row for row in rows}

    def move(
        self,
        program_id: ProgramId,
        ended: Sequence[MemberId],
        started: dict[MemberId, Score],
        at: datetime,
    ) -> None:
        """End the current segment of `ended` at `at`; start `started`'s from `at`."""
        if ended:
            self.connection.execute(
                update(member_segments)
                .where(
                    member_segments.c.until.is_(None),
                    among(self.connection, member_segments.c.member_id, ended),
                )
                .values(until=at)
            )
        if started:
            write = BatchWriter(self.connection)
            since = write.time(at)
            write.insert(
                member_segments,
                ("program_id", "member_id", "segment", "recency", "frequency", "monetary", "since"),
                [
                    (program_id, member_id, score.segment, *score, since)
                    for member_id, score in started.items()
                ],
            )
            write.run()

    def rescore(self, rescored: dict[int, Score]) -> None:
        """New scores for current segment rows (by id) whose segment stays the same."""
        write = BatchWriter(self.connection)
        write.update(
            member_segments,
            ("recency", "frequency", "monetary"),
            ("id",),
            [(*score, row_id) for row_id, score in rescored.items()],
        )
        write.run()

    def sizes(self, program_id: ProgramId) -> dict[str, int]:
        rows = self.connection.execute(
            select(member_segments.c.segment, func.count())
            .where(member_segments.c.program_id == program_id, member_segments.c.until.is_(None))
            .group_by(member_segments.c.segment)
        )
        return {row[0]: int(row[1]) for row in rows}

    def of_member(self, member_id: MemberId) -> list[Row[Any]]:
        """A member's segments, oldest first; the last has no `until` if they have one now."""
        return list(
            self.connection.execute(
                select(member_segments)
                .where(member_segments.c.member_id == member_id)
                .order_by(member_segments.c.since, member_segments.c.id)
            )
        )

    def computed_at(self, program_id: ProgramId) -> datetime | None:
        return self.connection.execute(
            select(segment_runs.c.computed_at).where(segment_runs.c.program_id == program_id)
        ).scalar()

    def computed(self, program_id: ProgramId, at: datetime) -> None:
        done = self.connection.execute(
            update(segment_runs)
            .where(segment_runs.c.program_id == program_id)
            .values(computed_at=at)
        )
        if done.rowcount == 0:
            self.connection.execute(
                insert(segment_runs).values(program_id=program_id, computed_at=at)
            )
