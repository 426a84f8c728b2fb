"""Referrals over HTTP: a code and link to share, a friend enrolling with it, the admin's list."""

from __future__ import annotations

from fastapi.testclient import TestClient

from fidela.services import programs
from fidela.store.unit_of_work import UnitOfWork
from tests.api.conftest import Keys
from tests.api.test_access import CAFE
from tests.conftest import T0, example

REFERRAL = (
    "referral:\n  referrer_points: 50\n  referee_points: 20\n  min_first_order: '10.00'\n"
    "  link: 'https://cafe.example/join?ref={code}'\n"
)


def test_a_friend_enrolls_with_a_code_and_a_bad_code_enrolls_no_one(
    client: TestClient, api_keys: Keys, uow: UnitOfWork
) -> None:
    programs.apply(uow, example("cafe.yaml") + REFERRAL, now=T0)
    headers = api_keys.integration
    client.post(f"{CAFE}/members", json={"email": "ana@gmail.com"}, headers=headers)
    mine = client.get(f"{CAFE}/members/ana@gmail.com/referral", headers=headers).json()
    assert mine["link"] == f"https://cafe.example/join?ref={mine['code']}"

    friend = {"email": "bob@gmail.com", "referral_code": mine["code"]}
    joined = client.post(f"{CAFE}/members", json=friend, headers=headers)
    assert joined.status_code == 201 and joined.json()["referral"]["status"] == "pending"
    bad = {"email": "carl@gmail.com", "referral_code": "NOSUCHCODE"}
    refused = client.post(f"{CAFE}/members", json=bad, headers=headers)
    assert refused.status_code == 422 and refused.json()["field"] == "referral_code"
    assert client.get(f"{CAFE}/members/carl@gmail.com", headers=headers).status_code == 404

    listed = client.get(f"{CAFE}/referrals?status=pending", headers=api_keys.admin).json()
    assert [r["status"] for r in listed["referrals"]] == ["pending"]
    bobs = client.get(f"{CAFE}/members/bob@gmail.com/referral", headers=headers).json()
    assert bobs["referred_by"]["referral_id"] == listed["referrals"][0]["referral_id"]
