"""Memberships over HTTP: join a trial, a payment counted once per key, cancel, read."""

from __future__ import annotations

from fastapi.testclient import TestClient

from fidela.services import programs
from fidela.store.unit_of_work import UnitOfWork
from tests.api.conftest import Keys
from tests.api.test_access import CAFE
from tests.conftest import T0, example

ANA = f"{CAFE}/members/ana@example.com"
PLUS = (
    "memberships:\n  - {id: plus, name: Plus, fee: '5.00', period: month, trial_days: 7,"
    " earn_multiplier: '2', monthly_points: 10, perks: [free_delivery]}\n"
)


def test_a_trial_then_a_payment_sent_twice_pays_one_month_and_cancel_keeps_it_running(
    client: TestClient, api_keys: Keys, uow: UnitOfWork
) -> None:
    programs.apply(uow, example("cafe.yaml") + PLUS, now=T0)
    headers = api_keys.integration
    client.post(f"{CAFE}/members", json={"email": "ana@example.com"}, headers=headers)
    assert client.get(f"{ANA}/membership", headers=headers).json()["membership"] is None

    joined = client.post(f"{ANA}/membership", json={"membership_id": "plus"}, headers=headers)
    assert joined.status_code == 201, joined.text
    assert joined.json()["membership"]["status"] == "trial"
    again = client.post(f"{ANA}/membership", json={"membership_id": "plus"}, headers=headers)
    assert again.status_code == 409 and again.json()["field"] == "membership_id"
    balance = client.get(f"{ANA}/balance", headers=headers).json()
    assert balance["perks"] == ["free_delivery"] and balance["available"] == 10

    payment = {"amount": "5.00", "currency": "EUR", "reference": "pay-1"}
    once = headers | {"Idempotency-Key": "membership-pay-1"}
    paid = client.post(f"{ANA}/membership/payments", json=payment, headers=once)
    assert paid.status_code == 201, paid.text
    retried = client.post(f"{ANA}/membership/payments", json=payment, headers=once)
    assert retried.json() == paid.json() and len(paid.json()["payments"]) == 1
    assert paid.json()["membership"]["status"] == "active"

    cancelled = client.post(f"{ANA}/membership/cancel", headers=headers)
    assert cancelled.status_code == 200 and cancelled.json()["membership"]["cancel_at_period_end"]
    assert client.post(f"{ANA}/membership/cancel", headers=headers).status_code == 409
    unknown = client.post(f"{ANA}/membership/payments", json=payment | {"currency": "usd"},
                          headers=headers)  # fmt: skip
    assert unknown.status_code == 422 and unknown.json()["field"] == "body.currency"
