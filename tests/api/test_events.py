"""Events over HTTP: recorded once per idempotency key, errors as problem documents."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from fidela.api.app import create_app
from fidela.domain.ids import ProgramId
from tests.api.conftest import Keys
from tests.api.test_access import CAFE, PURCHASE
from tests.conftest import T0
from tests.services.helpers import impatient, ledger_held


def test_a_purchase_earns_and_a_retry_returns_the_first_result(
    client: TestClient, api_keys: Keys
) -> None:
    client.post(f"{CAFE}/members", json={"email": "ana@example.com"}, headers=api_keys.integration)
    first = client.post(f"{CAFE}/events", json=PURCHASE, headers=api_keys.integration)
    assert first.status_code == 201
    assert first.json()["points"] == 12 and first.json()["rules"] == ["base"]
    again = client.post(f"{CAFE}/events", json=PURCHASE, headers=api_keys.integration)
    assert again.status_code == 200
    assert again.json() == first.json() | {"duplicate": True}
    member = client.get(f"{CAFE}/members/ana@example.com", headers=api_keys.integration).json()
    assert member["available"] == 12


def test_an_event_kept_waiting_for_a_lock_too_long_is_a_503_to_retry_and_counts_once(
    engine: Engine, cafe: ProgramId, api_keys: Keys
) -> None:
    """While another transaction holds what an event must lock (SQLite's write lock, the
    program's ledger head on PostgreSQL) longer than the server waits, the event is
    answered 503 with Retry-After and nothing of it is kept; its retry is recorded once."""
    hurried = impatient(engine, 0.2)
    try:
        with TestClient(create_app(hurried, clock=lambda: T0)) as client:
            headers = api_keys.integration
            client.post(f"{CAFE}/members", json={"email": "ana@example.com"}, headers=headers)
            batch = {"events": [PURCHASE | {"idempotency_key": "b", "order_id": "b"}]}
            with ledger_held(engine, cafe):
                busy = client.post(f"{CAFE}/events", json=PURCHASE, headers=headers)
                busy_batch = client.post(f"{CAFE}/events/batch", json=batch, headers=headers)
            assert busy_batch.status_code == 503
            assert 'fidela_events_total{outcome="busy"} 2.0' in client.get("/metrics").text
            assert busy.status_code == 503
            assert busy.headers["content-type"] == "application/problem+json"
            assert int(busy.headers["Retry-After"]) > 0
            assert busy.json()["field"] == "database" and "busy" in busy.json()["reason"]
            summary = client.get(f"{CAFE}/ledger/summary", headers=api_keys.admin).json()
            assert summary["issued"] == 0
            retried = client.post(f"{CAFE}/events", json=PURCHASE, headers=headers)
            assert retried.status_code == 201 and retried.json()["points"] == 12
            again = client.post(f"{CAFE}/events", json=PURCHASE, headers=headers)
            assert again.json()["duplicate"]
            summary = client.get(f"{CAFE}/ledger/summary", headers=api_keys.admin).json()
            assert summary["issued"] == 12
    finally:
        hurried.dispose()


def test_the_same_key_with_other_content_is_a_conflict(client: TestClient, api_keys: Keys) -> None:
    client.post(f"{CAFE}/events", json=PURCHASE, headers=api_keys.integration)
    changed = PURCHASE | {"amount": "99.00"}
    response = client.post(f"{CAFE}/events", json=changed, headers=api_keys.integration)
    assert response.status_code == 409
    problem = response.json()
    assert response.headers["content-type"] == "application/problem+json"
    assert problem["status"] == 409 and problem["field"] == "idempotency_key"


def test_the_idempotency_key_may_come_as_a_header(client: TestClient, api_keys: Keys) -> None:
    body = {k: v for k, v in PURCHASE.items() if k != "idempotency_key"}
    headers = api_keys.integration | {"Idempotency-Key": "order-1"}
    first = client.post(f"{CAFE}/events", json=body, headers=headers)
    assert first.status_code == 201
    assert client.post(f"{CAFE}/events", json=PURCHASE, headers=api_keys.integration).json()[
        "duplicate"
    ]
    clash = client.post(
        f"{CAFE}/events", json=PURCHASE, headers=api_keys.integration | {"Idempotency-Key": "x"}
    )
    assert clash.status_code == 422 and clash.json()["field"] == "idempotency_key"


def test_a_bad_event_names_its_field_and_changes_nothing(
    client: TestClient, api_keys: Keys
) -> None:
    bad = PURCHASE | {"amount": "-3"}
    response = client.post(f"{CAFE}/events", json=bad, headers=api_keys.integration)
    assert response.status_code == 422
    assert response.json()["field"] == "amount"
    summary = client.get(f"{CAFE}/ledger/summary", headers=api_keys.admin).json()
    assert summary["issued"] == 0


def test_a_body_that_is_not_an_object_is_a_located_problem(
    client: TestClient, api_keys: Keys
) -> None:
    response = client.post(f"{CAFE}/events", json=[1, 2], headers=api_keys.integration)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "body"


def test_a_batch_answers_each_event_and_a_bad_one_stops_no_other(
    client: TestClient, api_keys: Keys
) -> None:
    client.post(f"{CAFE}/members", json={"email": "ana@example.com"}, headers=api_keys.integration)
    second = PURCHASE | {"idempotency_key": "order-2", "order_id": "2", "amount": "5.00"}
    bad = PURCHASE | {"idempotency_key": "order-3", "order_id": "3", "currency": "USD"}
    batch = {"events": [PURCHASE, bad, second]}
    answer = client.post(f"{CAFE}/events/batch", json=batch, headers=api_keys.integration).json()
    assert (answer["recorded"], answer["failed"]) == (2, 1)
    assert [result["status"] for result in answer["results"]] == [201, 422, 201]
    assert answer["results"][1]["field"] == "currency"
    assert [answer["results"][i]["points"] for i in (0, 2)] == [12, 5]
    again = client.post(f"{CAFE}/events/batch", json=batch, headers=api_keys.integration).json()
    assert [result["status"] for result in again["results"]] == [200, 422, 200]
    member = client.get(f"{CAFE}/members/ana@example.com", headers=api_keys.integration).json()
    assert member["available"] == 17


def test_a_batch_holds_one_to_a_thousand_events(client: TestClient, api_keys: Keys) -> None:
    for events in ([], [PURCHASE] * 1001):
        response = client.post(
            f"{CAFE}/events/batch", json={"events": events}, headers=api_keys.integration
        )
        assert response.status_code == 422 and response.json()["field"] == "body.events"
