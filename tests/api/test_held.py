"""Held points over HTTP: the admin's queue, release and reject, once per Idempotency-Key."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.api.conftest import Keys
from tests.api.test_access import CAFE, PURCHASE
from tests.api.test_programs import YAML
from tests.conftest import example


def test_an_admin_sees_held_points_and_releases_them_once(
    client: TestClient, api_keys: Keys
) -> None:
    capped = example("cafe.yaml").replace(
        "pending_days: 0 ", "caps: {points_per_member_per_day: 50}\npending_days: 0 "
    )
    assert client.post(f"{CAFE}/versions", content=capped, headers=api_keys.admin | YAML).is_success
    client.post(f"{CAFE}/members", json={"email": "ana@example.com"}, headers=api_keys.integration)
    earned = client.post(f"{CAFE}/events", json=PURCHASE | {"amount": "80.00"},
                         headers=api_keys.integration).json()  # fmt: skip
    assert (earned["points"], earned["held"]) == (50, 30)
    assert client.get(f"{CAFE}/held", headers=api_keys.integration).status_code == 403
    (item,) = client.get(f"{CAFE}/held", headers=api_keys.admin).json()
    assert (item["points"], item["order_id"]) == (30, "1")
    release = f"{CAFE}/held/{item['lot']}/release"
    headers = api_keys.admin | {"Idempotency-Key": "release-1"}
    first = client.post(release, json={"reason": "a real order"}, headers=headers)
    assert first.status_code == 200, first.text
    again = client.post(release, json={"reason": "a real order"}, headers=headers)
    assert again.json() == first.json() and first.json()["available"] == 80
    gone = client.post(f"{CAFE}/held/{item['lot']}/reject", json={"reason": "no"},
                       headers=api_keys.admin)  # fmt: skip
    assert gone.status_code == 404 and gone.json()["field"] == "lot_no"
    member = client.get(f"{CAFE}/members/ana@example.com", headers=api_keys.integration).json()
    assert member["held"] == 0 and member["history"][-1]["cause"]["reason"] == "a real order"
