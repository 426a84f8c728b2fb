"""Member tokens and `/me`; a member's history and lots, a page at a time."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.api.conftest import Keys, bearer
from tests.api.test_access import CAFE, PURCHASE
from tests.api.test_rewards import ANA, rich_member


def token_for(client: TestClient, keys: Keys, ref: str, **body: int) -> dict[str, str]:
    response = client.post(f"{CAFE}/members/{ref}/tokens", json=body, headers=keys.integration)
    assert response.status_code == 201, response.text
    return bearer(response.json()["token"])


def test_a_member_token_reaches_its_own_account_and_nothing_else(
    client: TestClient, api_keys: Keys
) -> None:
    rich_member(client, api_keys)
    client.post(f"{CAFE}/members", json={"email": "bo@example.com"}, headers=api_keys.integration)
    ana = token_for(client, api_keys, "ana@example.com")
    me = client.get(f"{CAFE}/me", headers=ana).json()
    assert me["email"] == "ana@example.com" and me["available"] == 120
    assert client.get(f"{CAFE}/me/balance", headers=ana).json()["available"] == 120
    assert client.get(f"{CAFE}/rewards", headers=ana).status_code == 200
    for path in (f"{CAFE}/members/bo@example.com", ANA, f"{CAFE}/members"):
        assert client.get(path, headers=ana).status_code == 403, path
    event = client.post(f"{CAFE}/events", json=PURCHASE, headers=ana)
    assert event.status_code == 403  # a member can't award themselves points

    redeemed = client.post(f"{CAFE}/me/redemptions", json={"reward_id": "voucher-10"}, headers=ana)
    assert redeemed.status_code == 201 and redeemed.json()["available"] == 20
    again = client.post(f"{CAFE}/me/redemptions", json={"reward_id": "voucher-10"}, headers=ana)
    assert again.status_code == 409 and again.json()["field"] == "points"
    bo = client.get(f"{CAFE}/members/bo@example.com", headers=api_keys.integration).json()
    assert bo["redemptions"] == []


def test_a_token_lives_as_long_as_asked_within_a_day(client: TestClient, api_keys: Keys) -> None:
    rich_member(client, api_keys)
    path = f"{CAFE}/members/ana@example.com/tokens"
    too_long = client.post(path, json={"ttl_seconds": 86_401}, headers=api_keys.integration)
    assert too_long.status_code == 422 and too_long.json()["field"] == "body.ttl_seconds"
    made = client.post(path, json={"ttl_seconds": 60}, headers=api_keys.integration).json()
    assert made["expires_at"] == "2026-01-05T12:01:00+00:00"  # the clock stands at T0
    nobody = client.post(
        f"{CAFE}/members/nobody@example.com/tokens", json={}, headers=api_keys.integration
    )
    assert nobody.status_code == 404


def test_history_and_lots_come_a_page_at_a_time(client: TestClient, api_keys: Keys) -> None:
    rich_member(client, api_keys)
    for n in range(2, 6):
        event = PURCHASE | {"idempotency_key": f"order-{n}", "order_id": str(n)}
        client.post(f"{CAFE}/events", json=event, headers=api_keys.integration)
    for reward in ("voucher-10", "free-coffee"):  # 140 points: lots 1 (120), 2 (12), 8 of 3
        body = {"reward_id": reward}
        assert client.post(f"{ANA}/redemptions", json=body, headers=api_keys.integration).is_success

    seen: list[int] = []
    after = 0
    while True:
        page = client.get(f"{ANA}/history?limit=2&after={after}", headers=api_keys.integration)
        body = page.json()
        seen += [entry["seq"] for entry in body["history"]]
        if body["next"] is None:
            break
        after = body["next"]
    full = client.get(ANA, headers=api_keys.integration).json()["history"]
    assert seen == [entry["seq"] for entry in full] and len(seen) == 7

    open_lots = client.get(f"{ANA}/lots", headers=api_keys.integration).json()
    every_lot = client.get(f"{ANA}/lots?spent=true&limit=3", headers=api_keys.integration).json()
    assert [lot["lot"] for lot in open_lots["lots"]] == [3, 4, 5]
    assert [lot["lot"] for lot in every_lot["lots"]] == [1, 2, 3] and every_lot["next"] == 3
    assert every_lot["lots"][0] | {"remaining": 0, "points": 120} == every_lot["lots"][0]
