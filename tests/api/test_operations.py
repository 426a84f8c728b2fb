"""Admin work over HTTP: adjustments with their actor, run-due, ledger summary and verify."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from fidela.api.app import create_app
from tests.api.conftest import Keys
from tests.api.test_access import CAFE, PURCHASE
from tests.conftest import T0


def test_an_adjustment_is_recorded_with_its_reason_and_the_key_as_actor(
    client: TestClient, api_keys: Keys
) -> None:
    client.post(f"{CAFE}/members", json={"email": "ana@example.com"}, headers=api_keys.integration)
    headers = api_keys.admin | {"Idempotency-Key": "goodwill-1"}
    body = {"points": 30, "reason": "apology for a cold coffee"}
    url = f"{CAFE}/members/ana@example.com/adjustments"
    first = client.post(url, json=body, headers=headers)
    assert first.status_code == 201, first.text
    assert client.post(url, json=body, headers=headers).json() == first.json()
    member = client.get(f"{CAFE}/members/ana@example.com", headers=api_keys.admin).json()
    assert member["available"] == 30
    cause = member["history"][-1]["cause"]
    assert cause["reason"] == "apology for a cold coffee"
    assert cause["actor"].startswith("key:")
    refusals = [
        ({"points": 0, "reason": "x"}, "points"),
        ({"points": 10**20, "reason": "x"}, "body.points"),  # with a key, it once was a 500
        ({"points": -(10**13), "reason": "x"}, "body.points"),
        ({"points": 5, "reason": "x\x00"}, "body.reason"),
    ]
    for number, (body, field) in enumerate(refusals):
        for key in ({}, {"Idempotency-Key": f"refused-{number}"}):
            refused = client.post(url, json=body, headers=api_keys.admin | key)
            assert refused.status_code == 422 and refused.json()["field"] == field, refused.text


def test_run_due_expires_what_is_due_by_the_apps_clock_and_verify_agrees(
    engine: Engine, api_keys: Keys
) -> None:
    now = [T0]
    with TestClient(create_app(engine, clock=lambda: now[0])) as client:
        client.post(f"{CAFE}/members", json={"email": "ana@example.com"}, headers=api_keys.admin)
        client.post(f"{CAFE}/events", json=PURCHASE, headers=api_keys.admin)
        now[0] = T0 + timedelta(days=400)  # past the café's 365-day expiry
        done = client.post(f"{CAFE}/run-due", headers=api_keys.admin)
        assert done.status_code == 200
        assert done.json()["members"] == 1 and done.json()["points_expired"] == 12
        assert done.json()["segments_recomputed"] == 1  # the first time, then once a day
        again = client.post(f"{CAFE}/run-due", headers=api_keys.admin).json()
        assert again == {"segments_recomputed": 0}
        sizes = client.get(f"{CAFE}/segments", headers=api_keys.admin).json()
        assert sum(sizes["sizes"].values()) == 1 and sizes["sizes"]["lost"] == 1  # 1, 1, 1
        recomputed = client.post(f"{CAFE}/segments/recompute", headers=api_keys.admin).json()
        assert (recomputed["members"], recomputed["moved"]) == (1, 0)
        verified = client.post(f"{CAFE}/ledger/verify", headers=api_keys.admin).json()
        assert verified["ok"] is True and verified["problem"] is None
