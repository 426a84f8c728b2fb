"""Referrals and members' referral codes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Select, insert, or_, select, update
from sqlalchemy.engine import Connection

from fidela.domain.ids import MemberId, ProgramId, Seq
from fidela.domain.referrals import UNDECIDED, Referral
from fidela.store.reads import Query, Read, any_of, read_one
from fidela.store.tables import customers, members, referrals

_UNDECIDED = Query(
    lambda dialect: select(referrals).where(
        any_of(referrals.c.referee_id, "ids", dialect),
        any_of(referrals.c.status, "statuses", dialect),
    ),
)


def _referrals(rows: list[Row[Any]]) -> dict[MemberId, Referral]:
    return {
        MemberId(row.referee_id): Referral(
            row.id, row.status, row.first_order_ref, row.qualifies_at, row.reason, row.closed_at
        )
        for row in rows
    }


class ReferralRepository:
    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def add(
        self,
        program_id: ProgramId,
        *,
        referrer_id: MemberId,
        referee_id: MemberId,
        code: str,
        status: str,
        reason: str | None,
        at: datetime,
        points: tuple[int, int],
    ) -> int:
        """A friend enrolled with `code`; `points` are the referrer's and the friend's."""
        result = self.connection.execute(
            insert(referrals)
            .values(
                program_id=program_id,
                referrer_id=referrer_id,
                referee_id=referee_id,
                code=code,
                status=status,
                reason=reason,
                enrolled_at=at,
                referrer_points=points[0],
                referee_points=points[1],
                closed_at=at if status == "refused" else None,
            )
            .returning(referrals.c.id)
        )
        return int(result.scalar_one())

    def undecided(self, member_ids: Sequence[MemberId]) -> dict[MemberId, Referral]:
        """The referrals of these members (as friends) that their orders may still change."""
        return read_one(self.connection, self.undecided_read(member_ids))

    def undecided_read(self, member_ids: Sequence[MemberId]) -> Read[dict[MemberId, Referral]]:
        return Read(_UNDECIDED, _referrals, ids=list(member_ids), statuses=list(UNDECIDED))

    def due(
        self, program_id: ProgramId, now: datetime, *, after: int, limit: int
    ) -> list[Row[Any]]:
        """Referrals after id `after` to settle (domain.referrals.due): waiting past their
        return window, or to take back."""
        return list(
            self.connection.execute(
                select(referrals)
                .where(
                    referrals.c.program_id == program_id,
                    or_(
                        (referrals.c.status == "waiting") & (referrals.c.qualifies_at <= now),
                        referrals.c.status == "reversing",
                    ),
                    referrals.c.id > after,
                )
                .order_by(referrals.c.id)
                .limit(limit)
            )
        )

    def get(self, program_id: ProgramId, referral_id: int, *, lock: bool) -> Row[Any] | None:
        query = select(referrals).where(
            referrals.c.program_id == program_id, referrals.c.id == referral_id
        )
        return self.connection.execute(query.with_for_update() if lock else query).one_or_none()

    def settle(
        self,
        referral_id: int,
        *,
        status: str,
        at: datetime,
        seqs: tuple[Seq | None, Seq | None] | None = None,
    ) -> None:
        """Rewarded (with the referrer's and the friend's transactions), or reversed."""
        values: dict[str, Any] = {"status": status}
        if seqs is not None:
            values |= {"rewarded_at": at, "referrer_seq": seqs[0], "referee_seq": seqs[1]}
        else:
            values["closed_at"] = at
        self.connection.execute(
            update(referrals).where(referrals.c.id == referral_id).values(values)
        )

    def page(
        self, program_id: ProgramId, *, status: str | None, after: int, limit: int
    ) -> list[Row[Any]]:
        query = select(referrals).where(
            referrals.c.program_id == program_id, referrals.c.id > after
        )
        if status is not None:
            query = query.where(referrals.c.status == status)
        return list(self.connection.execute(query.order_by(referrals.c.id).limit(limit)))

    def of_member(self, member_id: MemberId) -> list[Row[Any]]:
        """Referrals the member made (as referrer) or came by (as friend), oldest first."""
        return list(
            self.connection.execute(
                select(referrals)
                .where(
                    or_(referrals.c.referrer_id == member_id, referrals.c.referee_id == member_id)
                )
                .order_by(referrals.c.id)
            )
        )

    def member_by_code(self, program_id: ProgramId, code: str) -> Row[Any] | None:
        """The member whose code this is, with their shop id and e-mail."""
        query: Select[Any] = (
            select(members.c.id, customers.c.external_id, customers.c.email)
            .join(customers, customers.c.id == members.c.customer_id)
            .where(
                members.c.program_id == program_id,
                members.c.referral_code == code,
                members.c.erased_at.is_(None),
            )
        )
        return self.connection.execute(query).one_or_none()

    def give_code(self, member_id: MemberId, code: str) -> str:
        """The member's code: `code` if they had none (two first asks agree: the first
        one's code is kept), else the one they have."""
        self.connection.execute(
            update(members)
            .where(members.c.id == member_id, members.c.referral_code.is_(None))
            .values(referral_code=code)
        )
        kept: str = self.connection.execute(
            select(members.c.referral_code).where(members.c.id == member_id)
        ).scalar_one()
        return kept
