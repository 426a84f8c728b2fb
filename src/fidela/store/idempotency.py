"""Idempotent requests: each key's request fingerprint and, once answered, its answer."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Row, delete, insert, select, update
from sqlalchemy.engine import Connection

from fidela.domain.ids import ProgramId
from fidela.store.tables import idempotent_requests as requests


class IdempotencyRepository:
    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def get(self, program_id: ProgramId, key: str) -> Row[Any] | None:
        return self.connection.execute(
            select(requests).where(requests.c.program_id == program_id, requests.c.key == key)
        ).one_or_none()

    def claim(self, program_id: ProgramId, key: str, fingerprint: str, at: datetime) -> None:
        self.connection.execute(
            insert(requests).values(
                program_id=program_id, key=key, fingerprint=fingerprint, created_at=at
            )
        )

    def answer(self, program_id: ProgramId, key: str, status: int, body: Any) -> None:
        self.connection.execute(
            update(requests)
            .where(requests.c.program_id == program_id, requests.c.key == key)
            .values(status=status, response=body)
        )

    def prune(self, program_id: ProgramId, before: datetime) -> int:
        """Forget answered keys claimed before `before`; unanswered ones are kept."""
        result = self.connection.execute(
            delete(requests).where(
                requests.c.program_id == program_id,
                requests.c.created_at < before,
                requests.c.status.is_not(None),
            )
        )
        return result.rowcount
