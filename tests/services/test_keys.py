"""API keys: shown once, stored as a digest, refused once revoked or altered."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from fidela.domain.errors import InvalidInput, NotFound, Unauthorized
from fidela.domain.ids import ProgramId
from fidela.domain.keys import Role
from fidela.services import jobs, keys
from fidela.store.tables import api_keys
from fidela.store.unit_of_work import UnitOfWork
from tests.conftest import T0
from tests.services.helpers import enroll


def test_a_key_authenticates_as_its_program_and_role(uow: UnitOfWork, cafe: ProgramId) -> None:
    created = keys.create(uow, cafe, role="integration", name="web shop", now=T0)
    caller = keys.authenticate(uow, created["key"], now=T0)
    assert (caller.program_id, caller.role, caller.key_id) == (
        cafe,
        Role.INTEGRATION,
        created["key_id"],
    )


def test_only_the_digest_of_the_secret_is_stored(uow: UnitOfWork, cafe: ProgramId) -> None:
    created = keys.create(uow, cafe, role="admin", name="ops", now=T0)
    secret = created["key"].split("_", 2)[2]
    with uow:
        row = uow.connection.execute(select(api_keys)).one()
    assert secret not in "".join(str(value) for value in row)
    assert "key" not in keys.listed(uow, cafe)[0]


def test_a_revoked_or_altered_key_is_refused(uow: UnitOfWork, cafe: ProgramId) -> None:
    created = keys.create(uow, cafe, role="admin", name="ops", now=T0)
    altered = created["key"][:-1] + ("A" if created["key"][-1] != "A" else "B")
    with pytest.raises(Unauthorized):
        keys.authenticate(uow, altered, now=T0)
    keys.revoke(uow, cafe, created["key_id"], now=T0)
    with pytest.raises(Unauthorized):
        keys.authenticate(uow, created["key"], now=T0)
    assert keys.listed(uow, cafe)[0]["revoked_at"] == T0.isoformat()
    with pytest.raises(NotFound):
        keys.revoke(uow, cafe, created["key_id"], now=T0)


def test_a_key_needs_a_known_role_a_name_and_program(uow: UnitOfWork, cafe: ProgramId) -> None:
    with pytest.raises(InvalidInput, match="role"):
        keys.create(uow, cafe, role="root", name="x", now=T0)
    with pytest.raises(InvalidInput, match="name"):
        keys.create(uow, cafe, role="admin", name="  ", now=T0)
    with pytest.raises(NotFound):
        keys.create(uow, ProgramId("nope"), role="admin", name="x", now=T0)
    assert keys.listed(uow, cafe) == []


def test_a_member_token_expires_and_run_due_forgets_it(uow: UnitOfWork, cafe: ProgramId) -> None:
    member_id = enroll(uow, cafe, "ana@example.com", T0)
    made = keys.member_token(uow, cafe, member_id, ttl=timedelta(minutes=5), now=T0)
    caller = keys.authenticate(uow, made["token"], now=T0 + timedelta(minutes=4))
    assert (caller.role, caller.member_id) == (Role.MEMBER, member_id)
    with pytest.raises(Unauthorized, match="expired"):
        keys.authenticate(uow, made["token"], now=T0 + timedelta(minutes=5))
    assert keys.listed(uow, cafe) == []  # tokens are not keys an operator manages
    done = jobs.run_due(uow, cafe, now=T0 + timedelta(minutes=5))
    assert done["member_tokens_forgotten"] == 1
    with pytest.raises(InvalidInput, match="role"):
        keys.create(uow, cafe, role="member", name="app", now=T0)
