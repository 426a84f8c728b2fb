"""API keys: creating, listing and revoking them, and knowing who presents one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

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
    """Revoke a key at once: its next request is refused."""
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


def authenticate(uow: UnitOfWork, presented: str, *, now: datetime) -> Caller:
    """The caller a key stands for; Unauthorized, saying nothing more, if it is not valid."""
    token = parse_token(presented)
    with uow.reading(single=True) as reader:
        row = reader.keys.get(token.key_id)
    if row is None or row.revoked_at is not None or not matches(token.secret, row.secret_digest):
        raise Unauthorized("authorization", "the key is unknown or revoked")
    if row.expires_at is not None and row.expires_at <= now:
        raise Unauthorized("authorization", "the token has expired")
    return Caller(ProgramId(row.program_id), Role(row.role), row.id, row.member_id)


def forget_expired(uow: UnitOfWork, program_id: ProgramId, *, now: datetime) -> int:
    """Delete the program's member tokens that expired; how many."""
    with uow:
        forgotten = uow.keys.delete_expired(program_id, now)
        uow.commit()
    return forgotten
