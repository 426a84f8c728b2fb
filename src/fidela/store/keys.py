"""API keys: stored by public id with the digest of their secret, never the secret."""

from __future__ import annotations

import logging
import os
import threading
from datetime import datetime
from select import select as readable
from typing import Any, Protocol

from sqlalchemy import Engine, Row, bindparam, delete, insert, select, update
from sqlalchemy.engine import Connection

from fidela.domain.ids import MemberId, ProgramId
from fidela.domain.keys import Role
from fidela.store.tables import api_keys

_KEY = select(api_keys).where(api_keys.c.id == bindparam("key_id"))  # every request's check
CHANGES = "fidela_keys"  # the channel migration 0018's trigger tells of each changed key
_TOLD = (  # whether that trigger is there
    "SELECT 1 FROM pg_trigger WHERE tgrelid = 'api_keys'::regclass AND tgname = 'api_keys_changed'"
)
log = logging.getLogger(__name__)


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


class Told(Protocol):
    """What a KeyListener tells: whether it listens, and which key changed."""

    def listening(self) -> None: ...
    def forget(self, key_id: str) -> None: ...
    def deaf(self) -> None: ...


class KeyListener:
    """A thread that LISTENs on PostgreSQL for changes to the keys table, whoever makes
    them (any process, the command line, plain SQL), and tells `told` of each.

    It says `listening` once LISTEN holds, and `deaf` whenever it may have missed a
    change (its connection lost, or stopped); it then connects again every `retry` s.
    """

    def __init__(self, engine: Engine, told: Told, *, retry: float = 1.0) -> None:
        self.engine = engine
        self.told = told
        self.retry = retry
        self.backend: int | None = None  # the PostgreSQL process it listens through
        self._stopping = False
        self._waker, self._wake = os.pipe()  # a byte written wakes the thread to stop
        self._thread = threading.Thread(target=self._run, name="fidela-keys", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping = True
        os.write(self._wake, b"!")
        self._thread.join()
        os.close(self._waker)
        os.close(self._wake)

    def _run(self) -> None:
        while not self._stopping:
            try:
                self._listen()
            except Exception as error:  # the connection's end, whatever the driver calls it
                log.warning("key changes: not listening (%s); every key is checked", error)
            finally:
                self.told.deaf()
            readable([self._waker], [], [], self.retry)

    def _listen(self) -> None:
        pooled = self.engine.raw_connection()
        connection: Any = pooled.driver_connection  # psycopg's
        pooled.detach()  # it stays busy listening, and closes with the listener
        try:
            connection.rollback()  # the pool's check may have opened a transaction
            connection.autocommit = True
            connection.execute(f"LISTEN {CHANGES}")
            if connection.execute(_TOLD).fetchone() is None:  # a schema before 0018's
                raise LookupError("no trigger tells of changed keys: run `fidela init`")
            self.backend = connection.info.backend_pid
            log.info("key changes: listening (PostgreSQL process %s)", self.backend)
            self.told.listening()
            while not self._stopping:
                readable([connection.fileno(), self._waker], [], [])
                # What came, if anything; a connection that ended raises here (or on
                # the next pass: psycopg may first read the server's last words).
                for change in connection.notifies(timeout=0):
                    self.told.forget(change.payload)
        finally:
            pooled.close()
