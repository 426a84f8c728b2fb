"""An API client on each database, with the café program and a key of each role."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from fidela.api.app import create_app
from fidela.domain.ids import ProgramId
from fidela.services import keys, programs
from fidela.store.unit_of_work import UnitOfWork
from tests.conftest import T0, example
from tests.services.helpers import enroll


@dataclass(frozen=True)
class Keys:
    """Authorization headers: the café's admin and integration keys, and others that fail."""

    admin: dict[str, str]
    integration: dict[str, str]
    other_program: dict[str, str]  # an admin key of another program
    revoked: dict[str, str]


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def client(engine: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(engine, clock=lambda: T0, cache_keys=True)) as client:
        yield client


@pytest.fixture
def api_keys(uow: UnitOfWork, cafe: ProgramId) -> Keys:
    shop = programs.apply(uow, example("shop.yaml"), now=T0).program_id

    def new(program_id: ProgramId, role: str) -> str:
        created = keys.create(uow, program_id, role=role, name=f"{role} key", now=T0)
        return str(created["key"])

    revoked = keys.create(uow, cafe, role="admin", name="old till", now=T0)
    keys.revoke(uow, cafe, revoked["key_id"], now=T0)
    return Keys(
        admin=bearer(new(cafe, "admin")),
        integration=bearer(new(cafe, "integration")),
        other_program=bearer(new(shop, "admin")),
        revoked=bearer(str(revoked["key"])),
    )


@dataclass(frozen=True)
class MemberTokens:
    """Authorization headers of token@example.com's app: a live token and an expired one."""

    live: dict[str, str]
    expired: dict[str, str]


@pytest.fixture
def member_tokens(uow: UnitOfWork, cafe: ProgramId) -> MemberTokens:
    member_id = enroll(uow, cafe, "token@example.com", T0)
    hour = timedelta(hours=1)
    expired = keys.member_token(uow, cafe, member_id, ttl=hour, now=T0 - hour)
    live = keys.member_token(uow, cafe, member_id, now=T0)
    return MemberTokens(live=bearer(live["token"]), expired=bearer(expired["token"]))
