"""API keys: stored by public id with the digest of their secret, never the secret."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Row, bindparam, delete, insert, select, update
from sqlalchemy.engine import Connection

from fidela.domain.ids import MemberId, ProgramId
from fidela.domain.keys import Role
from fidela.store.tables import api_keys

_KEY = select(api_keys).where(api_keys.c.id == bindparam("key_id"))  # every request's check


class KeyRepository:
    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def add(
        self,
        program_id: ProgramId,
        key_id: str,
        *,
        name: str,
        role: Role,
        secret_digest: str,
        at: datetime,
        member_id: MemberId | None = None,
        expires_at: datetime | None = None,
    ) -> None:
        self.connection.execute(
            insert(api_keys).values(
                id=key_id,
                program_id=program_id,
                name=name,
                role=role.value,
                secret_digest=secret_digest,
                created_at=at,
                member_id=member_id,
                expires_at=expires_at,
            )
        )

    def get(self, key_id: str) -> Row[Any] | None:
        return self.connection.execute(_KEY, {"key_id": key_id}).one_or_none()

    def of_program(self, program_id: ProgramId) -> list[Row[Any]]:
        return list(
            self.connection.execute(
                select(api_keys)
                .where(api_keys.c.program_id == program_id, api_keys.c.member_id.is_(None))
                .order_by(api_keys.c.created_at, api_keys.c.id)
            )
        )

    def revoke(self, program_id: ProgramId, key_id: str, at: datetime) -> bool:
        """Mark a live key revoked; False if the program has no such live key."""
        result = self.connection.execute(
            update(api_keys)
            .where(
                api_keys.c.program_id == program_id,
                api_keys.c.id == key_id,
                api_keys.c.revoked_at.is_(None),
            )
            .values(revoked_at=at)
        )
        return result.rowcount == 1

    def delete_expired(self, program_id: ProgramId, at: datetime) -> int:
        result = self.connection.execute(
            delete(api_keys).where(api_keys.c.program_id == program_id, api_keys.c.expires_at <= at)
        )
        return result.rowcount
