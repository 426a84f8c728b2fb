"""Who may call what: every endpoint against every kind of caller, on both databases."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event

from fidela.api.app import create_app
from fidela.domain.ids import ProgramId
from fidela.domain.keys import parse_token
from fidela.services import keys, ledger
from fidela.store.database import make_engine
from fidela.store.unit_of_work import UnitOfWork
from tests.api.conftest import Keys, MemberTokens
from tests.conftest import ROOT, T0

CAFE_ID = ProgramId("cafe-lumiere")
CAFE = f"/v1/programs/{CAFE_ID}"
PURCHASE = {
    "type": "purchase",
    "idempotency_key": "order-1",
    "customer": {"email": "ana@example.com"},
    "order_id": "1",
    "amount": "12.50",
    "currency": "EUR",
    "occurred_at": "2026-01-05T13:02:00+01:00",  # just after T0, when members enroll
}
ADMIN = {"admin"}
INTEGRATION = {"admin", "integration"}
ANYONE = {"admin", "integration", "member"}
MEMBER = {"member"}  # a member token, for its own member only
# (method, path, body, the roles allowed)
ENDPOINTS: list[tuple[str, str, Any, set[str]]] = [
    ("GET", CAFE, None, ANYONE),
    ("GET", f"{CAFE}/rewards", None, ANYONE),
    ("GET", f"{CAFE}/versions", None, ADMIN),
    ("POST", f"{CAFE}/versions", "program: cafe-lumiere", ADMIN),
    ("POST", f"{CAFE}/events", PURCHASE, INTEGRATION),
    ("POST", f"{CAFE}/events/batch", {"events": [PURCHASE]}, INTEGRATION),
    ("GET", f"{CAFE}/members", None, ADMIN),
    ("POST", f"{CAFE}/members", {"email": "ana@example.com"}, INTEGRATION),
    ("GET", f"{CAFE}/members/nobody@example.com", None, INTEGRATION),
    ("PATCH", f"{CAFE}/members/nobody@example.com", {"name": "N"}, INTEGRATION),
    ("POST", f"{CAFE}/members/nobody@example.com/redemptions", {"reward_id": "x"}, INTEGRATION),
    (
        "GET",
        f"{CAFE}/members/nobody@example.com/rewards/x/quote?order_amount=80",
        None,
        INTEGRATION,
    ),
    ("POST", f"{CAFE}/redemptions/1/cancel", None, INTEGRATION),
    (
        "POST",
        f"{CAFE}/members/nobody@example.com/credit/payments",
        {"amount": "1.00", "currency": "EUR"},
        INTEGRATION,
    ),
    ("POST", f"{CAFE}/credit-payments/1/cancel", None, INTEGRATION),
    ("GET", f"{CAFE}/members/nobody@example.com/membership", None, INTEGRATION),
    (
        "POST",
        f"{CAFE}/members/nobody@example.com/membership",
        {"membership_id": "plus"},
        INTEGRATION,
    ),
    (
        "POST",
        f"{CAFE}/members/nobody@example.com/membership/payments",
        {"amount": "1.00", "currency": "EUR"},
        INTEGRATION,
    ),
    ("POST", f"{CAFE}/members/nobody@example.com/membership/cancel", None, INTEGRATION),
    ("GET", f"{CAFE}/members/nobody@example.com/referral", None, INTEGRATION),
    ("GET", f"{CAFE}/referrals", None, ADMIN),
    ("GET", f"{CAFE}/kpis?from=2026-01-01&to=2026-01-31", None, ADMIN),
    ("GET", f"{CAFE}/cohorts", None, ADMIN),
    ("GET", f"{CAFE}/clv?until=2026-01-31", None, ADMIN),
    ("GET", f"{CAFE}/clv/members?until=2026-01-31", None, ADMIN),
    ("GET", f"{CAFE}/roi?from=2026-01-01&to=2026-01-31&margin=0.4", None, ADMIN),
    ("POST", f"{CAFE}/pilots", {"name": "p", "share": 0.2}, ADMIN),
    ("GET", f"{CAFE}/pilots/p/report?from=2026-01-01&to=2026-01-31", None, ADMIN),
    ("POST", f"{CAFE}/backtests", {"program": "x", "history": "x"}, ADMIN),
    ("GET", f"{CAFE}/held", None, ADMIN),
    ("GET", f"{CAFE}/flags", None, ADMIN),
    ("POST", f"{CAFE}/flags/1/release", {"reason": "ok"}, ADMIN),
    ("POST", f"{CAFE}/flags/1/reject", {"reason": "no"}, ADMIN),
    ("GET", f"{CAFE}/segments", None, ADMIN),
    ("GET", f"{CAFE}/campaigns", None, ADMIN),
    ("GET", f"{CAFE}/leaderboard", None, ANYONE),
    ("GET", f"{CAFE}/members/nobody@example.com/challenges", None, INTEGRATION),
    ("POST", f"{CAFE}/segments/recompute", None, ADMIN),
    ("POST", f"{CAFE}/held/1/release", {"reason": "ok"}, ADMIN),
    ("POST", f"{CAFE}/held/1/reject", {"reason": "no"}, ADMIN),
    ("GET", f"{CAFE}/vouchers/FID-AAAA-AAAA", None, INTEGRATION),
    ("POST", f"{CAFE}/vouchers/FID-AAAA-AAAA/consume", {}, INTEGRATION),
    (
        "POST",
        f"{CAFE}/members/nobody@example.com/adjustments",
        {"points": 5, "reason": "x"},
        ADMIN,
    ),
    ("GET", f"{CAFE}/ledger/summary", None, ADMIN),
    ("POST", f"{CAFE}/ledger/verify", None, ADMIN),
    ("POST", f"{CAFE}/run-due", None, ADMIN),
    ("POST", f"{CAFE}/webhooks", {"url": "http://127.0.0.1:9/hooks"}, ADMIN),
    ("GET", f"{CAFE}/webhooks", None, ADMIN),
    ("DELETE", f"{CAFE}/webhooks/1", None, ADMIN),
    ("GET", f"{CAFE}/webhooks/deliveries", None, ADMIN),
    ("POST", f"{CAFE}/webhooks/deliveries/1/replay", None, ADMIN),
    ("GET", f"{CAFE}/members/nobody@example.com/history", None, INTEGRATION),
    ("GET", f"{CAFE}/members/nobody@example.com/balance", None, INTEGRATION),
    ("GET", f"{CAFE}/members/nobody@example.com/lots", None, INTEGRATION),
    ("POST", f"{CAFE}/members/nobody@example.com/tokens", {}, INTEGRATION),
    ("GET", f"{CAFE}/members/nobody@example.com/export", None, ADMIN),
    ("POST", f"{CAFE}/members/nobody@example.com/erase", None, ADMIN),
    ("GET", f"{CAFE}/me", None, MEMBER),
    ("GET", f"{CAFE}/me/history", None, MEMBER),
    ("GET", f"{CAFE}/me/balance", None, MEMBER),
    ("POST", f"{CAFE}/me/redemptions", {"reward_id": "free-coffee"}, MEMBER),
]


def call(client: TestClient, method: str, path: str, body: Any, headers: dict[str, str]) -> Any:
    return client.request(method, path, json=body, headers=headers)


@pytest.mark.parametrize(("method", "path", "body", "roles"), ENDPOINTS)
def test_each_endpoint_admits_only_its_roles_of_its_own_program(
    client: TestClient,
    api_keys: Keys,
    member_tokens: MemberTokens,
    method: str,
    path: str,
    body: Any,
    roles: set[str],
) -> None:
    by_role = {
        "admin": api_keys.admin,
        "integration": api_keys.integration,
        "member": member_tokens.live,
    }
    refused = {
        "no key": ({}, 401),
        "not a key": ({"Authorization": "Bearer hello"}, 401),
        "another scheme": ({"Authorization": "Basic YWRtaW46YWRtaW4="}, 401),
        "revoked key": (api_keys.revoked, 401),
        "expired member token": (member_tokens.expired, 401),
        "another program's admin key": (api_keys.other_program, 403),
    }
    refused |= {f"{role} key": (by_role[role], 403) for role in by_role.keys() - roles}
    for case, (headers, status) in refused.items():
        response = call(client, method, path, body, headers)
        assert response.status_code == status, case
        assert response.headers["content-type"] == "application/problem+json", case
        assert set(response.json()) & {"history", "issued", "available"} == set(), case
    for role in roles:
        response = call(client, method, path, body, by_role[role])
        assert response.status_code not in (401, 403), response.text
        assert response.status_code < 500, response.text


def test_a_401_says_how_to_authenticate(client: TestClient) -> None:
    response = client.get(f"{CAFE}/ledger/summary")
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["field"] == "authorization"


def test_health_and_readiness_need_no_key(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/ready").json() == {"status": "ready"}


def test_an_unexpected_error_is_a_500_problem_that_hides_its_cause(
    engine: Engine, api_keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the secret inner detail")

    monkeypatch.setattr(ledger, "summary", broken)
    app = create_app(engine, clock=lambda: T0)
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get(
            f"{CAFE}/ledger/summary", headers=api_keys.admin | {"X-Request-Id": "req-42"}
        )
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert "secret inner detail" not in response.text
    assert response.json()["request_id"] == "req-42"
    assert response.headers["x-request-id"] == "req-42"


def test_readiness_fails_without_saying_where_the_database_is() -> None:
    unreachable = make_engine("postgresql+psycopg://secret_user@127.0.0.1:9/test")
    with TestClient(create_app(unreachable)) as client:
        response = client.get("/ready")
    assert response.status_code == 503
    assert response.json()["reason"] == "does not answer"
    assert "secret_user" not in response.text and "127.0.0.1" not in response.text
    unreachable.dispose()


def test_readiness_fails_on_a_database_without_the_schema(tmp_path: Path) -> None:
    bare = make_engine(f"sqlite:///{tmp_path / 'bare.db'}")
    with TestClient(create_app(bare)) as client:
        response = client.get("/ready")
    assert response.status_code == 503
    assert response.json()["field"] == "database"
    bare.dispose()


def test_the_served_openapi_description_is_the_one_kept_in_docs(client: TestClient) -> None:
    kept = json.loads((ROOT / "docs" / "openapi.json").read_text(encoding="utf-8"))
    assert client.get("/openapi.json").json() == kept, "run: fidela openapi > docs/openapi.json"


def test_a_key_is_read_once_then_remembered_until_it_is_revoked(
    engine: Engine, uow: UnitOfWork, api_keys: Keys
) -> None:
    """On PostgreSQL a worker remembers the keys it checked, and forgets one when told of
    its change; on SQLite, which cannot tell, every request reads its key."""
    reads: list[str] = []

    def count(_connection: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if "FROM api_keys" in statement:
            reads.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    with TestClient(create_app(engine, clock=lambda: T0, cache_keys=True)) as client:
        for _ in range(3):
            assert client.get(CAFE, headers=api_keys.integration).status_code == 200
        remembered = engine.dialect.name == "postgresql"
        assert len(reads) == (1 if remembered else 3)
        keys.revoke(uow, CAFE_ID, _key_id(api_keys.integration), now=T0)
        answers = [client.get(CAFE, headers=api_keys.integration).status_code]
        deadline = time.monotonic() + 2.0  # told in milliseconds; remembered 10 s at most
        while answers[-1] == 200 and time.monotonic() < deadline:
            time.sleep(0.01)
            answers.append(client.get(CAFE, headers=api_keys.integration).status_code)
    assert answers[-1] == 401
    assert set(answers[:-1]) <= ({200} if remembered else set())


def _key_id(headers: dict[str, str]) -> str:
    return parse_token(headers["Authorization"].removeprefix("Bearer ")).key_id
