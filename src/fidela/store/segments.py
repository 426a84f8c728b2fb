"""Segments: what RFM reads of the orders, and each member's segment over time."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, func, insert, select, update
from sqlalchemy.engine import Connection

from fidela.domain.ids import MemberId, ProgramId
from fidela.domain.segments import Buyer, Score
from fidela.store.batches import IN_CHUNK, BatchWriter, among
from fidela.store.tables import member_segments, orders, segment_runs


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
        for start in range(0, len(ended), IN_CHUNK):
            chunk = ended[start : start + IN_CHUNK]
            self.connection.execute(
                update(member_segments)
                .where(
                    member_segments.c.until.is_(None),
                    among(self.connection, member_segments.c.member_id, chunk),
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
