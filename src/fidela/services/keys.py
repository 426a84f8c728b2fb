"""API keys: creating, listing and revoking them, and knowing who presents one."""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from fidela.domain.errors import InvalidInput, NotFound, Unauthorized
from fidela.domain.ids import MemberId, ProgramId
from fidela.domain.keys import (
    KEY_ROLES,
    TOKEN_TTL,
    TOKEN_TTL_MAX,
    Role,
    digest,
    matches,
    new_token,
    parse_token,
)
from fidela.store.keys import KeyListener
from fidela.store.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class Caller:
    """Who is calling: the program a key belongs to and the role it grants."""

    program_id: ProgramId
    role: Role
    key_id: str
    member_id: MemberId | None = None  # a member token's member


def create(
    uow: UnitOfWork, program_id: ProgramId, *, role: str, name: str, now: datetime
) -> dict[str, Any]:
    """A new key; its full text is in the result and is never shown again."""
    if role not in KEY_ROLES:
        raise InvalidInput("role", f"{role!r} is not one of {', '.join(KEY_ROLES)}")
    if not name.strip():
        raise InvalidInput("name", "is empty: say who or what will use the key")
    token = new_token()
    with uow:
        uow.programs.current(program_id)  # the program must exist
        uow.keys.add(
            program_id,
            token.key_id,
            name=name.strip(),
            role=Role(role),
            secret_digest=digest(token.secret),
            at=now,
        )
        uow.commit()
    return {"key_id": token.key_id, "program": program_id, "role": role, "key": str(token)}


def listed(uow: UnitOfWork, program_id: ProgramId) -> list[dict[str, Any]]:
    """The program's keys, revoked ones too, without any secret."""
    with uow.reading() as reader:
        rows = reader.keys.of_program(program_id)
    return [
        {
            "key_id": row.id,
            "name": row.name,
            "role": row.role,
            "created_at": row.created_at.isoformat(),
            "revoked_at": row.revoked_at.isoformat() if row.revoked_at else None,
        }
        for row in rows
    ]


def revoke(uow: UnitOfWork, program_id: ProgramId, key_id: str, *, now: datetime) -> None:
    """Revoke a key: refused from the next request on (on PostgreSQL, by a worker that
    remembered it, once told of the change: within milliseconds)."""
    with uow:
        if not uow.keys.revoke(program_id, key_id, now):
            raise NotFound("key_id", f"no live key {key_id} in {program_id}")
        uow.commit()


def member_token(
    uow: UnitOfWork,
    program_id: ProgramId,
    member_id: MemberId,
    *,
    ttl: timedelta = TOKEN_TTL,
    now: datetime,
) -> dict[str, Any]:
    """A short-lived token for one member's app or portal: their own account only."""
    if not timedelta(seconds=1) <= ttl <= TOKEN_TTL_MAX:
        raise InvalidInput(
            "ttl_seconds", f"must be 1 to {TOKEN_TTL_MAX.total_seconds():.0f} seconds"
        )
    token = new_token()
    expires_at = now + ttl
    with uow:
        uow.keys.add(
            program_id,
            token.key_id,
            name=f"member {member_id}",
            role=Role.MEMBER,
            secret_digest=digest(token.secret),
            at=now,
            member_id=member_id,
            expires_at=expires_at,
        )
        uow.commit()
    return {"token": str(token), "member_id": member_id, "expires_at": expires_at.isoformat()}


def authenticate(
    uow: UnitOfWork, presented: str, *, now: datetime, cache: KeyCache | None = None
) -> Caller:
    """The caller a key stands for; Unauthorized, saying nothing more, if it is not valid.
    A valid key is remembered in `cache`, if given."""
    token = parse_token(presented)
    since = cache.generation if cache is not None else 0  # before the row is read
    with uow.reading(single=True) as reader:
        row = reader.keys.get(token.key_id)
    if row is None or row.revoked_at is not None or not matches(token.secret, row.secret_digest):
        raise Unauthorized("authorization", "the key is unknown or revoked")
    if _expired(row.expires_at, now):
        raise Unauthorized("authorization", "the token has expired")
    caller = Caller(ProgramId(row.program_id), Role(row.role), row.id, row.member_id)
    if cache is not None:
        cache.remember(presented, caller, row.expires_at, since=since)
    return caller


def forget_expired(uow: UnitOfWork, program_id: ProgramId, *, now: datetime) -> int:
    """Delete the program's member tokens that expired; how many."""
    with uow:
        forgotten = uow.keys.delete_expired(program_id, now)
        uow.commit()
    return forgotten


def _expired(expires_at: datetime | None, now: datetime) -> bool:
    return expires_at is not None and expires_at <= now


@dataclass(frozen=True)
class _Remembered:
    fingerprint: bytes  # of the key's whole text, which holds its secret
    caller: Caller
    expires_at: datetime | None  # a member token's end
    until: float  # the monotonic time after which the database is asked again


class KeyCache:
    """The keys a worker checked lately, so that a request with one needs no query.

    It may serve a key only while told of every change to the keys table: `listening()`
    once that holds, `forget(key_id)` on each change (a revocation, a deletion), `deaf()`
    as soon as it may no longer hold, which forgets everything and remembers nothing until
    `listening()` again. Even then an entry is asked again after `fresh_for` seconds.
    A check that read a key before a change was told must not store it after: each
    change moves `generation`, and `remember` stores only if it has not moved `since`.
    """

    def __init__(self, *, fresh_for: float = 10.0, most: int = 10_000) -> None:
        self.fresh_for = fresh_for
        self.most = most  # entries kept at most: beyond, it starts anew
        self.generation = 0
        self._listening = False
        self._entries: dict[str, _Remembered] = {}  # by key id
        self._lock = threading.Lock()

    def lookup(self, presented: str, now: datetime) -> Caller | None:
        """The caller of a key remembered and still fresh, else None (ask the database).
        Unauthorized if the text is not shaped like a key, as the database check says."""
        entry = self._entries.get(parse_token(presented).key_id)
        if (
            entry is None
            or entry.until < time.monotonic()
            or _expired(entry.expires_at, now)
            or not hmac.compare_digest(entry.fingerprint, _fingerprint(presented))
        ):
            return None
        return entry.caller

    def remember(
        self, presented: str, caller: Caller, expires_at: datetime | None, *, since: int
    ) -> None:
        with self._lock:
            if not self._listening or self.generation != since:
                return
            if len(self._entries) >= self.most:
                self._entries.clear()
            until = time.monotonic() + self.fresh_for
            entry = _Remembered(_fingerprint(presented), caller, expires_at, until)
            self._entries[caller.key_id] = entry

    def forget(self, key_id: str) -> None:
        with self._lock:
            self.generation += 1
            self._entries.pop(key_id, None)

    def listening(self) -> None:
        with self._lock:
            self._listening = True

    def deaf(self) -> None:
        with self._lock:
            self._listening = False
            self.generation += 1
            self._entries.clear()


def watched(engine: Engine) -> tuple[KeyCache, KeyListener] | None:
    """A cache of checked keys and the listener that keeps it true, to start; None on
    SQLite, which cannot tell one process of another's changes."""
    if engine.dialect.name != "postgresql":
        return None
    cache = KeyCache()
    return cache, KeyListener(engine, cache)


def _fingerprint(presented: str) -> bytes:
    """What a key is remembered by: not its text, which holds the secret."""
    return hashlib.sha256(presented.encode()).digest()
