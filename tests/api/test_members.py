"""Members over HTTP: enroll once, read balances and history with their causes."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from fidela.api.app import create_app
from tests.api.conftest import Keys
from tests.api.test_access import CAFE, PURCHASE
from tests.api.test_rewards import ANA, rich_member
from tests.conftest import T0


def test_enrolling_twice_returns_the_same_member(client: TestClient, api_keys: Keys) -> None:
    body = {"email": "Ana@Example.com", "customer_id": "c-1", "birthday": "1990-03-02"}
    first = client.post(f"{CAFE}/members", json=body, headers=api_keys.integration)
    assert first.status_code == 201 and first.json()["created"]
    again = client.post(f"{CAFE}/members", json=body, headers=api_keys.integration)
    assert again.status_code == 200
    assert again.json() == {"member_id": first.json()["member_id"], "created": False}


def test_a_member_reads_by_email_shop_id_or_member_id(client: TestClient, api_keys: Keys) -> None:
    created = client.post(
        f"{CAFE}/members",
        json={"email": "ana@example.com", "customer_id": "c-1"},
        headers=api_keys.integration,
    ).json()
    client.post(f"{CAFE}/events", json=PURCHASE, headers=api_keys.integration)
    paths = [
        f"{CAFE}/members/ana@example.com",
        f"{CAFE}/members/c-1",
        f"{CAFE}/members/{created['member_id']}?by_member_id=true",
    ]
    for path in paths:
        member = client.get(path, headers=api_keys.integration).json()
        assert member["member_id"] == created["member_id"]
        earned = [entry for entry in member["history"] if entry["cause"].get("event")]
        assert earned[0]["cause"]["idempotency_key"] == "order-1"
        assert earned[0]["rules"] == ["base"]


def test_unknown_fields_and_unknown_members_are_problems(
    client: TestClient, api_keys: Keys
) -> None:
    typo = client.post(f"{CAFE}/members", json={"emial": "a@b.c"}, headers=api_keys.integration)
    assert typo.status_code == 422
    assert typo.json()["field"] == "body.emial"
    missing = client.get(f"{CAFE}/members/nobody@example.com", headers=api_keys.integration)
    assert missing.status_code == 404 and missing.json()["field"] == "member"


def test_members_are_listed_a_page_at_a_time(client: TestClient, api_keys: Keys) -> None:
    for n in range(5):
        body = {"email": f"m{n}@example.com"}
        client.post(f"{CAFE}/members", json=body, headers=api_keys.integration)
    admin = api_keys.admin
    seen: list[str] = []
    after = 0
    while True:
        page = client.get(f"{CAFE}/members?limit=2&after={after}", headers=admin).json()
        seen += [member["email"] for member in page["members"]]
        if page["next"] is None:
            break
        after = page["next"]
    assert seen == [f"m{n}@example.com" for n in range(5)]
    # New members hold the first level; nobody has reached gold.
    first = client.get(f"{CAFE}/members?tier=bronze", headers=admin).json()["members"]
    assert len(first) == 5 and {member["tier"] for member in first} == {"bronze"}
    assert client.get(f"{CAFE}/members?tier=gold", headers=admin).json() == {
        "members": [],
        "next": None,
    }
    beyond = client.get(f"{CAFE}/members?after={2**63}", headers=admin)
    assert beyond.status_code == 422 and beyond.json()["field"] == "query.after"


def test_ids_beyond_64_bits_are_refused_as_input_not_stored(
    client: TestClient, api_keys: Keys
) -> None:
    huge = str(2**63)
    by_id = client.get(f"{CAFE}/members/{huge}?by_member_id=true", headers=api_keys.integration)
    assert by_id.status_code == 422
    event = PURCHASE | {"customer": {"member_id": 2**63}}
    sent = client.post(f"{CAFE}/events", json=event, headers=api_keys.integration)
    assert sent.status_code == 422 and sent.json()["field"] == "customer.member_id"
    pricey = PURCHASE | {"amount": "1e15"}
    assert (
        client.post(f"{CAFE}/events", json=pricey, headers=api_keys.integration).json()["field"]
        == "amount"
    )


def test_text_holding_nul_is_refused_as_input_not_stored(
    client: TestClient, api_keys: Keys
) -> None:
    """PostgreSQL can't store NUL (U+0000): found by schemathesis as a 500 on PostgreSQL."""
    sent = {
        "members": {"email": "ana@example.com", "name": "A\x00"},
        "events": PURCHASE | {"order_id": "1\x00"},
    }
    for path, body in sent.items():
        refused = client.post(f"{CAFE}/{path}", json=body, headers=api_keys.integration)
        assert refused.status_code == 422, refused.text
    looked_up = client.get(f"{CAFE}/members/c%00", headers=api_keys.integration)
    assert looked_up.status_code == 422 and looked_up.json()["field"] == "member"


def test_a_member_changes_email_name_and_birthday_and_the_gift_follows_the_new_date(
    engine: Engine, api_keys: Keys
) -> None:
    now = [T0]  # 2026-01-05
    with TestClient(create_app(engine, clock=lambda: now[0])) as client:
        headers = api_keys.integration
        client.post(f"{CAFE}/members", json={"email": "ana@example.com"}, headers=headers)
        client.post(f"{CAFE}/members", json={"email": "bea@example.com"}, headers=headers)
        changes = {"email": "Ana.New@Example.com", "name": "Ana", "birthday": "1990-01-15"}
        member = client.patch(f"{CAFE}/members/ana@example.com", json=changes, headers=headers)
        assert member.status_code == 200, member.text
        assert (member.json()["email"], member.json()["name"]) == ("ana.new@example.com", "Ana")
        assert member.json()["birthday"] == "1990-01-15"
        taken = {"email": "bea@example.com"}
        clash = client.patch(f"{CAFE}/members/ana.new@example.com", json=taken, headers=headers)
        assert clash.status_code == 409 and clash.json()["field"] == "email"
        now[0] = T0 + timedelta(days=11)  # past 15 January in Paris
        client.post(f"{CAFE}/run-due", headers=api_keys.admin)
        after = client.get(f"{CAFE}/members/ana.new@example.com", headers=headers).json()
        assert after["available"] == 100
        assert after["history"][-1]["rules"] == ["birthday"]
        forget = client.patch(
            f"{CAFE}/members/ana.new@example.com", json={"name": None}, headers=headers
        )
        assert forget.json()["name"] is None and forget.json()["birthday"] == "1990-01-15"


def test_an_update_must_change_something_and_keep_an_email(
    client: TestClient, api_keys: Keys
) -> None:
    client.post(f"{CAFE}/members", json={"email": "ana@example.com"}, headers=api_keys.integration)
    url = f"{CAFE}/members/ana@example.com"
    for body in ({}, {"email": None}, {"nickname": "A"}):
        response = client.patch(url, json=body, headers=api_keys.integration)
        assert response.status_code == 422, body


def test_a_balance_read_shows_points_tier_and_the_next_expiry(
    client: TestClient, api_keys: Keys
) -> None:
    rich_member(client, api_keys)  # 120 points, then 12 more the same instant
    more = PURCHASE | {"idempotency_key": "order-2", "order_id": "2"}
    assert client.post(f"{CAFE}/events", json=more, headers=api_keys.integration).is_success
    client.post(
        f"{ANA}/redemptions", json={"reward_id": "voucher-10"}, headers=api_keys.integration
    )
    balance = client.get(f"{ANA}/balance", headers=api_keys.integration).json()
    view = client.get(ANA, headers=api_keys.integration).json()
    assert balance["available"] == view["available"] == 32
    assert (balance["pending"], balance["debt"], balance["tier"]) == (0, 0, view["tier"]["id"])
    soonest = min(lot["expires_at"] for lot in view["lots"])
    assert balance["next_expiry"] == {"at": soonest, "points": 32}
    nobody = client.get(f"{CAFE}/members/nobody@example.com/balance", headers=api_keys.integration)
    assert nobody.status_code == 404
