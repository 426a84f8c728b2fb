"""Privacy over HTTP: an admin exports a member, then erases them; the ledger verifies."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.api.conftest import Keys
from tests.api.test_access import CAFE
from tests.api.test_me import token_for
from tests.api.test_rewards import ANA, rich_member


def test_an_admin_exports_then_erases_a_member(client: TestClient, api_keys: Keys) -> None:
    rich_member(client, api_keys)
    app = token_for(client, api_keys, "ana@example.com")
    exported = client.get(f"{ANA}/export", headers=api_keys.admin)
    assert exported.status_code == 200
    assert exported.json()["customer"]["email"] == "ana@example.com"

    headers = api_keys.admin | {"Idempotency-Key": "erase-ana"}
    erased = client.post(f"{ANA}/erase", headers=headers)
    assert erased.status_code == 200 and erased.json()["points_forfeited"] == 120
    assert client.post(f"{ANA}/erase", headers=headers).json() == erased.json()  # a retry

    assert client.get(ANA, headers=api_keys.integration).status_code == 404
    assert client.get(f"{CAFE}/me", headers=app).status_code == 401  # its tokens are gone
    member_id = erased.json()["member_id"]
    by_id = client.get(
        f"{CAFE}/members/{member_id}/export?by_member_id=true", headers=api_keys.admin
    )
    assert by_id.json()["customer"]["email"] is None and by_id.json()["erased_at"]
    verified = client.post(f"{CAFE}/ledger/verify", headers=api_keys.admin).json()
    assert verified["ok"] is True
