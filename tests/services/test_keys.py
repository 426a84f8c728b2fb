"""API keys: shown once, stored as a digest, refused once revoked or altered."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from fidela.domain.errors import InvalidInput, NotFound, Unauthorized
from fidela.domain.ids import ProgramId
from fidela.domain.keys import Role
from fidela.services import keys
from fidela.store.tables import api_keys
from fidela.store.unit_of_work import UnitOfWork
from tests.conftest import T0


def test_a_key_authenticates_as_its_program_and_role(uow: UnitOfWork, cafe: ProgramId) -> None:
    created = keys.create(uow, cafe, role="integration", name="web shop", now=T0)
    caller = keys.authenticate(uow, created["key"])
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
        keys.authenticate(uow, altered)
    keys.revoke(uow, cafe, created["key_id"], now=T0)
    with pytest.raises(Unauthorized):
        keys.authenticate(uow, created["key"])
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
