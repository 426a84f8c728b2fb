"""Redemptions and the vouchers they issue; payments with store credit."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Row, func, insert, select, update
from sqlalchemy.engine import Connection

from fidela.domain.ids import MemberId, ProgramId, Seq
from fidela.store.tables import credit_payments, redemptions


class RedemptionRepository:
    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def add(
        self,
        program_id: ProgramId,
        member_id: MemberId,
        *,
        reward_id: str,
        points: int,
        seq: Seq,
        voucher_code: str,
        voucher: dict[str, Any],
        at: datetime,
    ) -> int:
        result = self.connection.execute(
            insert(redemptions)
            .values(
                program_id=program_id,
                member_id=member_id,
                reward_id=reward_id,
                points=points,
                seq=seq,
                status="issued",
                voucher_code=voucher_code,
                voucher=voucher,
                created_at=at,
            )
            .returning(redemptions.c.id)
        )
        return int(result.scalar_one())

    def redeemed(self, program_id: ProgramId, member_id: MemberId | None = None) -> dict[str, int]:
        """How many of each reward were redeemed and not cancelled, by one member or by all
        (punch cards' vouchers are not redemptions of the catalog)."""
        query = (
            select(redemptions.c.reward_id, func.count())
            .where(
                redemptions.c.program_id == program_id,
                redemptions.c.status != "cancelled",
                redemptions.c.source == "reward",
            )
            .group_by(redemptions.c.reward_id)
        )
        if member_id is not None:
            query = query.where(redemptions.c.member_id == member_id)
        return {row[0]: row[1] for row in self.connection.execute(query)}

    def get(self, program_id: ProgramId, redemption_id: int) -> Row[Any] | None:
        return self.connection.execute(
            select(redemptions).where(
                redemptions.c.program_id == program_id, redemptions.c.id == redemption_id
            )
        ).one_or_none()

    def by_code(self, program_id: ProgramId, code: str) -> Row[Any] | None:
        return self.connection.execute(
            select(redemptions).where(
                redemptions.c.program_id == program_id, redemptions.c.voucher_code == code
            )
        ).one_or_none()

    def close(
        self,
        redemption_id: int,
        *,
        status: str,
        at: datetime,
        seq: Seq | None = None,
        order_ref: str | None = None,
    ) -> bool:
        """Move an issued redemption to `status`; False if it was no longer issued."""
        result = self.connection.execute(
            update(redemptions)
            .where(redemptions.c.id == redemption_id, redemptions.c.status == "issued")
            .values(status=status, closed_at=at, closed_seq=seq, order_ref=order_ref)
        )
        return result.rowcount == 1

    def of_member(self, member_id: MemberId) -> list[Row[Any]]:
        return list(
            self.connection.execute(
                select(redemptions)
                .where(redemptions.c.member_id == member_id)
                .order_by(redemptions.c.id)
            )
        )

    def add_credit_payment(
        self,
        program_id: ProgramId,
        member_id: MemberId,
        *,
        amount_minor: int,
        order_ref: str | None,
        seq: Seq,
        at: datetime,
    ) -> int:
        result = self.connection.execute(
            insert(credit_payments)
            .values(
                program_id=program_id,
                member_id=member_id,
                order_ref=order_ref,
                amount_minor=amount_minor,
                seq=seq,
                status="paid",
                created_at=at,
            )
            .returning(credit_payments.c.id)
        )
        return int(result.scalar_one())

    def credit_payment(self, program_id: ProgramId, payment_id: int) -> Row[Any] | None:
        return self.connection.execute(
            select(credit_payments).where(
                credit_payments.c.program_id == program_id, credit_payments.c.id == payment_id
            )
        ).one_or_none()

    def cancel_credit_payment(self, payment_id: int, *, at: datetime, seq: Seq) -> bool:
        """Mark a payment cancelled; False if it was cancelled already."""
        result = self.connection.execute(
            update(credit_payments)
            .where(credit_payments.c.id == payment_id, credit_payments.c.status == "paid")
            .values(status="cancelled", closed_at=at, closed_seq=seq)
        )
        return result.rowcount == 1

    def credit_payments_of(self, member_id: MemberId) -> list[Row[Any]]:
        return list(
            self.connection.execute(
                select(credit_payments)
                .where(credit_payments.c.member_id == member_id)
                .order_by(credit_payments.c.id)
            )
        )
