"""Rewards over HTTP: a retried redemption redeems once; vouchers are used once."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.api.conftest import Keys
from tests.api.test_access import CAFE, PURCHASE
from tests.api.test_programs import YAML
from tests.conftest import example

ANA = f"{CAFE}/members/ana@example.com"


def rich_member(client: TestClient, keys: Keys) -> None:
    """Ana, enrolled, with 120 points: enough for one 100-point voucher, not two."""
    client.post(f"{CAFE}/members", json={"email": "ana@example.com"}, headers=keys.integration)
    big = PURCHASE | {"amount": "120.00"}
    assert client.post(f"{CAFE}/events", json=big, headers=keys.integration).json()["points"]


def test_a_retried_redemption_redeems_once_and_answers_the_same(
    client: TestClient, api_keys: Keys
) -> None:
    rich_member(client, api_keys)
    before = client.get(ANA, headers=api_keys.integration).json()["available"]
    headers = api_keys.integration | {"Idempotency-Key": "redeem-1"}
    first = client.post(f"{ANA}/redemptions", json={"reward_id": "voucher-10"}, headers=headers)
    assert first.status_code == 201, first.text
    again = client.post(f"{ANA}/redemptions", json={"reward_id": "voucher-10"}, headers=headers)
    assert again.status_code == 201 and again.json() == first.json()
    assert client.get(ANA, headers=api_keys.integration).json()["available"] == before - 100
    other = client.post(f"{ANA}/redemptions", json={"reward_id": "free-coffee"}, headers=headers)
    assert other.status_code == 409 and other.json()["field"] == "Idempotency-Key"


def test_a_refused_redemption_leaves_its_key_free_for_a_retry(
    client: TestClient, api_keys: Keys
) -> None:
    client.post(f"{CAFE}/members", json={"email": "ana@example.com"}, headers=api_keys.integration)
    headers = api_keys.integration | {"Idempotency-Key": "redeem-2"}
    body = {"reward_id": "voucher-10"}
    poor = client.post(f"{ANA}/redemptions", json=body, headers=headers)
    assert poor.status_code == 409 and poor.json()["field"] == "points"
    big = PURCHASE | {"amount": "120.00"}
    client.post(f"{CAFE}/events", json=big, headers=api_keys.integration)
    assert client.post(f"{ANA}/redemptions", json=body, headers=headers).status_code == 201


def test_a_voucher_is_validated_consumed_once_and_cancellation_then_refused(
    client: TestClient, api_keys: Keys
) -> None:
    rich_member(client, api_keys)
    redeemed = client.post(
        f"{ANA}/redemptions", json={"reward_id": "voucher-10"}, headers=api_keys.integration
    ).json()
    code = redeemed["voucher_code"]
    valid = client.get(f"{CAFE}/vouchers/{code.lower()}", headers=api_keys.integration).json()
    assert valid["usable"] and valid["reward_id"] == "voucher-10"
    consume = f"{CAFE}/vouchers/{code}/consume"
    used = client.post(consume, json={"order_id": "2"}, headers=api_keys.integration)
    assert used.status_code == 200 and used.json()["status"] == "consumed"
    twice = client.post(consume, json={}, headers=api_keys.integration)
    assert twice.status_code == 409 and twice.json()["field"] == "code"
    cancel = f"{CAFE}/redemptions/{redeemed['redemption_id']}/cancel"
    assert client.post(cancel, headers=api_keys.integration).status_code == 409


def test_cancelling_an_unused_redemption_gives_the_points_back(
    client: TestClient, api_keys: Keys
) -> None:
    rich_member(client, api_keys)
    before = client.get(ANA, headers=api_keys.integration).json()["available"]
    redeemed = client.post(
        f"{ANA}/redemptions", json={"reward_id": "free-coffee"}, headers=api_keys.integration
    ).json()
    cancel = f"{CAFE}/redemptions/{redeemed['redemption_id']}/cancel"
    response = client.post(cancel, headers=api_keys.integration)
    assert response.status_code == 200 and response.json()["available"] == before


PAY_WITH_TOKENS = """  - id: pay-with-tokens
    name: "Pay part of an order with tokens"
    kind: points_as_payment
    max_share_of_order: "0.5"
tiers:"""


def test_a_till_asks_how_many_points_can_pay_then_spends_them(
    client: TestClient, api_keys: Keys
) -> None:
    program = example("cafe.yaml").replace("tiers:", PAY_WITH_TOKENS, 1)
    applied = client.post(f"{CAFE}/versions", content=program, headers=api_keys.admin | YAML)
    assert applied.status_code == 201, applied.text
    rich_member(client, api_keys)  # 120 tokens, at 0.10 EUR each
    quote = f"{ANA}/rewards/pay-with-tokens/quote"
    quoted = client.get(quote, params={"order_amount": "20.00"}, headers=api_keys.integration)
    assert quoted.status_code == 200, quoted.text
    assert (quoted.json()["points"], quoted.json()["amount"]) == (100, "10.00")  # half of 20
    bad = client.get(quote, params={"order_amount": "-1"}, headers=api_keys.integration)
    assert bad.status_code == 422 and bad.json()["field"] == "query.order_amount"
    payment = {"order_amount": "20.00", "currency": "EUR", "points": 101}
    body = {"reward_id": "pay-with-tokens", "payment": payment}
    refused = client.post(f"{ANA}/redemptions", json=body, headers=api_keys.integration)
    assert refused.status_code == 422 and refused.json()["field"] == "payment.points"
    body["payment"] = payment | {"points": 100, "order_id": "T-9"}
    paid = client.post(f"{ANA}/redemptions", json=body, headers=api_keys.integration)
    assert paid.status_code == 201, paid.text
    assert paid.json()["voucher"] == {
        "kind": "discount", "amount": "10.00", "currency": "EUR", "order_id": "T-9"
    }  # fmt: skip
    assert client.get(ANA, headers=api_keys.integration).json()["available"] == 20
