"""Store credit over HTTP: cashback shown with the balance, paid at checkout once, cancelled."""

from __future__ import annotations

from fastapi.testclient import TestClient

from fidela.services import programs
from fidela.store.unit_of_work import UnitOfWork
from tests.api.conftest import Keys
from tests.api.test_access import CAFE, PURCHASE
from tests.conftest import T0, example

ANA = f"{CAFE}/members/ana@example.com"
CASHBACK = "cashback:\n  - {id: back, rate: '0.10'}\n"  # 10 % of every order, no waiting


def test_cashback_is_paid_at_checkout_once_per_key_and_a_cancel_gives_it_back(
    client: TestClient, api_keys: Keys, uow: UnitOfWork
) -> None:
    programs.apply(uow, example("cafe.yaml") + CASHBACK, now=T0)
    headers = api_keys.integration
    client.post(f"{CAFE}/members", json={"email": "ana@example.com"}, headers=headers)
    earned = client.post(f"{CAFE}/events", json=PURCHASE, headers=headers).json()
    assert earned["cashback"] == "1.25"
    balance = client.get(f"{ANA}/balance", headers=headers).json()
    assert balance["credit"] == {
        "currency": "EUR",
        "available": "1.25",
        "pending": "0.00",
        "debt": "0.00",
    }

    body = {"amount": "1.00", "currency": "EUR", "order_id": "B1"}
    once = headers | {"Idempotency-Key": "pay-1"}
    paid = client.post(f"{ANA}/credit/payments", json=body, headers=once)
    assert paid.status_code == 201, paid.text
    again = client.post(f"{ANA}/credit/payments", json=body, headers=once)
    assert again.json() == paid.json() and paid.json()["available"] == "0.25"
    too_much = client.post(f"{ANA}/credit/payments", json=body, headers=headers)
    assert too_much.status_code == 409 and too_much.json()["field"] == "amount"
    odd = client.post(f"{ANA}/credit/payments", json=body | {"amount": "0.001"}, headers=headers)
    assert odd.status_code == 422 and odd.json()["field"] == "amount"

    cancel = f"{CAFE}/credit-payments/{paid.json()['payment_id']}/cancel"
    cancelled = client.post(cancel, headers=headers)
    assert cancelled.status_code == 200 and cancelled.json()["available"] == "1.25"
    assert client.post(cancel, headers=headers).status_code == 409
    assert client.post(f"{CAFE}/credit-payments/999/cancel", headers=headers).status_code == 404
    summary = client.get(f"{CAFE}/ledger/summary", headers=api_keys.admin).json()
    assert summary["credit"]["outstanding"] == "1.25" and summary["credit"]["spent"] == "0.00"
