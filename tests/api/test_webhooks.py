"""Webhooks over HTTP: subscribing, deliveries and replays, and the app's own worker."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from standardwebhooks.webhooks import Webhook

from fidela.api.app import create_app
from tests.api.conftest import Keys
from tests.api.test_access import CAFE, PURCHASE
from tests.receiver import eventually, receiver

HOOKS = f"{CAFE}/webhooks"


def test_an_admin_subscribes_lists_and_stops_a_webhook(client: TestClient, api_keys: Keys) -> None:
    body = {"url": "https://shop.example.com/hooks", "events": ["points.earned"]}
    created = client.post(HOOKS, json=body, headers=api_keys.admin)
    assert created.status_code == 201, created.text
    subscription = created.json()
    assert subscription["secret"].startswith("whsec_")
    listed = client.get(HOOKS, headers=api_keys.admin).json()
    assert listed[0]["events"] == ["points.earned"] and "secret" not in listed[0]
    path = f"{HOOKS}/{subscription['subscription_id']}"
    assert client.delete(path, headers=api_keys.admin).status_code == 200
    assert client.get(HOOKS, headers=api_keys.admin).json()[0]["disabled_at"] is not None
    again = client.delete(path, headers=api_keys.admin)
    assert again.status_code == 404 and again.json()["field"] == "subscription_id"


def test_a_bad_subscription_names_its_field(client: TestClient, api_keys: Keys) -> None:
    unknown = client.post(
        HOOKS, json={"url": "https://a.example/h", "events": ["points.won"]}, headers=api_keys.admin
    )
    assert unknown.status_code == 422 and unknown.json()["field"] == "events"
    relative = client.post(HOOKS, json={"url": "/hooks"}, headers=api_keys.admin)
    assert relative.status_code == 422 and relative.json()["field"] == "url"
    assert client.get(HOOKS, headers=api_keys.admin).json() == []
    status = client.get(f"{HOOKS}/deliveries?status=lost", headers=api_keys.admin)
    assert status.status_code == 422 and status.json()["field"] == "status"


def test_the_running_app_delivers_after_each_write_and_replays_on_demand(
    engine: Engine, api_keys: Keys
) -> None:
    app = create_app(engine, clock=lambda: datetime.now(UTC), deliver_webhooks=True)
    with receiver() as hooks, TestClient(app) as client:
        subscribed = client.post(
            HOOKS, json={"url": hooks.url, "events": ["points.earned"]}, headers=api_keys.admin
        ).json()
        enrolled = client.post(
            f"{CAFE}/members", json={"email": "ana@example.com"}, headers=api_keys.integration
        )
        assert enrolled.status_code == 201
        event = PURCHASE | {"occurred_at": datetime.now(UTC).isoformat()}
        assert client.post(f"{CAFE}/events", json=event, headers=api_keys.integration).is_success
        (accepted,) = hooks.wait_for(1)
        message = Webhook(subscribed["secret"]).verify(accepted.body, accepted.headers)
        assert message["type"] == "points.earned" and message["data"]["points"] == 12

        def delivered() -> list[dict[str, Any]]:
            page = client.get(f"{HOOKS}/deliveries?status=delivered", headers=api_keys.admin)
            found: list[dict[str, Any]] = page.json()["deliveries"]
            return found

        (delivery,) = eventually(delivered)  # the worker logs the attempt after the answer
        replay = f"{HOOKS}/deliveries/{delivery['delivery_id']}/replay"
        assert client.post(replay, headers=api_keys.admin).status_code == 200
        first, again = hooks.wait_for(2)
        assert again.headers["webhook-id"] == first.headers["webhook-id"]

        def answers() -> list[int]:
            # pending, not delivered, until the worker logs the replay's attempt
            return [tried["status_code"] for found in delivered() for tried in found["attempts"]]

        assert eventually(lambda: answers() == [200, 200])

        counted = "fidela_webhooks_delivered_total 2.0"
        assert eventually(lambda: counted in client.get("/metrics").text)
