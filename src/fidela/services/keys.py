"""API keys: creating, listing and revoking them, and knowing who presents one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fidela.domain.errors import InvalidInput, NotFound, Unauthorized
from fidela.domain.ids import ProgramId
from fidela.domain.keys import Role, digest, matches, new_token, parse_token
from fidela.store.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class Caller:
    """Who is calling: the program a key belongs to and the role it grants."""

    program_id: ProgramId
    role: Role
    key_id: str


def create(
    uow: UnitOfWork, program_id: ProgramId, *, role: str, name: str, now: datetime
) -> dict[str, Any]:
    """A new key; its full text is in the result and is never shown again."""
    if role not in {r.value for r in Role}:
        raise InvalidInput("role", f"{role!r} is not one of {', '.join(Role)}")
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


def authenticate(uow: UnitOfWork, presented: str) -> Caller:
    """The caller a key stands for; Unauthorized, saying nothing more, if it is not valid."""
    token = parse_token(presented)
    with uow.reading() as reader:
        row = reader.keys.get(token.key_id)
    if row is None or row.revoked_at is not None or not matches(token.secret, row.secret_digest):
        raise Unauthorized("authorization", "the key is unknown or revoked")
    return Caller(ProgramId(row.program_id), Role(row.role), row.id)
