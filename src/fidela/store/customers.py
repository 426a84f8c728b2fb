"""Customers: everyone who bought, enrolled or not, known by shop id and/or e-mail."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Row, and_, bindparam, insert, or_, select, update
from sqlalchemy.engine import Connection

from fidela.domain.ids import CustomerId, MemberId, ProgramId
from fidela.store.batches import BatchWriter, among
from fidela.store.reads import Query, Read, any_of
from fidela.store.tables import customers, members

# A customer of the program named by shop id or e-mail; one left out is bound as NULL,
# which equals nothing. The program too: the unique indexes begin with it, and without it
# the database reads every customer.
NAMED = and_(
    customers.c.program_id == bindparam("program_id"),
    or_(
        customers.c.external_id == bindparam("external_id"),
        customers.c.email == bindparam("email"),
    ),
)
# Every event's and every member read's look-up, built once.
_FIND = (
    select(customers, members.c.id.label("member_id"))
    .outerjoin(members, members.c.customer_id == customers.c.id)
    .where(NAMED)
    .order_by(customers.c.id)
)


def _with_members_by(column: ColumnElement[str | None]) -> Query:
    """Customers by shop id or by e-mail (`column`), as `ref`, with their member: an
    event's look-up, read with the others."""
    return Query(
        lambda dialect: (
            select(column.label("ref"), customers.c.id, members.c.id.label("member_id"))
            .outerjoin(members, members.c.customer_id == customers.c.id)
            .where(
                customers.c.program_id == bindparam("program_id"),
                any_of(column, "refs", dialect),
            )
        ),
    )


_BY_SHOP_ID = _with_members_by(customers.c.external_id)
_BY_EMAIL = _with_members_by(customers.c.email)


def _with_members(rows: list[Row[Any]]) -> dict[str, tuple[CustomerId, MemberId | None]]:
    return {
        row.ref: (CustomerId(row.id), MemberId(row.member_id) if row.member_id else None)
        for row in rows
    }


class CustomerRepository:
    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def find(
        self, program_id: ProgramId, *, external_id: str | None, email: str | None
    ) -> list[Row[Any]]:
        """Customers matching the shop id or the e-mail (two rows if they disagree), each
        with its `member_id` (None for a customer who never enrolled)."""
        if external_id is None and email is None:
            return []
        found = self.connection.execute(
            _FIND, {"program_id": program_id, "external_id": external_id, "email": email}
        )
        return list(found)

    def add(
        self, program_id: ProgramId, *, external_id: str | None, email: str | None, at: datetime
    ) -> CustomerId:
        result = self.connection.execute(
            insert(customers)
            .values(program_id=program_id, external_id=external_id, email=email, first_seen_at=at)
            .returning(customers.c.id)
        )
        return CustomerId(result.scalar_one())

    def complete(
        self, customer_id: CustomerId, *, external_id: str | None, email: str | None
    ) -> None:
        """Record a shop id or e-mail the customer was not known by yet; never replace one."""
        for column, value in ((customers.c.external_id, external_id), (customers.c.email, email)):
            if value is not None:
                self.connection.execute(
                    update(customers)
                    .where(customers.c.id == customer_id, column.is_(None))
                    .values({column: value})
                )

    def set_email(self, customer_id: CustomerId, email: str) -> None:
        self.connection.execute(
            update(customers).where(customers.c.id == customer_id).values(email=email)
        )

    def ids_by_external(
        self, program_id: ProgramId, external_ids: Iterable[str]
    ) -> dict[str, CustomerId]:
        rows = self.connection.execute(
            select(customers.c.external_id, customers.c.id).where(
                customers.c.program_id == program_id,
                among(self.connection, customers.c.external_id, external_ids),
            )
        )
        return {row.external_id: CustomerId(row.id) for row in rows}

    def with_members_by_shop_id_read(
        self, program_id: ProgramId, external_ids: Iterable[str]
    ) -> Read[dict[str, tuple[CustomerId, MemberId | None]]]:
        """The customer of each of these shop ids, with their member (None if not enrolled)."""
        ids = list(external_ids)
        return Read(_BY_SHOP_ID, _with_members, program_id=program_id, refs=ids)

    def with_members_by_email_read(
        self, program_id: ProgramId, emails: Iterable[str]
    ) -> Read[dict[str, tuple[CustomerId, MemberId | None]]]:
        """The customer of each of these e-mails (normalized), with their member."""
        return Read(_BY_EMAIL, _with_members, program_id=program_id, refs=list(emails))

    def external_ids_by_email(
        self, program_id: ProgramId, emails: Iterable[str]
    ) -> dict[str, str | None]:
        """The shop id of the customer holding each of these e-mails (None if it has none)."""
        rows = self.connection.execute(
            select(customers.c.email, customers.c.external_id).where(
                customers.c.program_id == program_id,
                among(self.connection, customers.c.email, emails),
            )
        )
        return {row.email: row.external_id for row in rows}

    def add_many(
        self, program_id: ProgramId, first_seen: dict[str, tuple[datetime, str | None]]
    ) -> dict[str, CustomerId]:
        """Insert customers by shop id (and e-mail, if known); return their ids."""
        if not first_seen:
            return {}
        write = BatchWriter(self.connection)
        rows = write.insert_returning(
            customers,
            ("program_id", "external_id", "email", "first_seen_at"),
            [
                (program_id, external_id, email, write.time(at))
                for external_id, (at, email) in first_seen.items()
            ],
            returning=("external_id", "id"),
        )
        return {row.external_id: CustomerId(row.id) for row in rows}
