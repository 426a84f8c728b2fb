"""Programs over HTTP: the current version, its rewards, its history, applying a file."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.api.conftest import Keys
from tests.api.test_access import CAFE
from tests.conftest import example

YAML = {"Content-Type": "application/yaml"}


def test_the_current_version_and_its_rewards(client: TestClient, api_keys: Keys) -> None:
    program = client.get(CAFE, headers=api_keys.integration).json()
    assert (program["program"], program["version"], program["currency"]) == (
        "cafe-lumiere",
        1,
        "EUR",
    )
    rewards = client.get(f"{CAFE}/rewards", headers=api_keys.integration).json()
    assert {reward["id"]: reward["cost"] for reward in rewards} == {
        "voucher-10": 100,
        "free-coffee": 40,
    }


def test_applying_a_file_adds_a_version_once_and_keeps_the_history(
    client: TestClient, api_keys: Keys
) -> None:
    source = example("cafe.yaml")
    same = client.post(f"{CAFE}/versions", content=source, headers=api_keys.admin | YAML)
    assert same.status_code == 200 and same.json()["unchanged"] is True
    changed = source.replace("name: Café Lumière", "name: Café Lumière (v2)")
    assert changed != source
    applied = client.post(f"{CAFE}/versions", content=changed, headers=api_keys.admin | YAML)
    assert applied.status_code == 201 and applied.json()["version"] == 2
    history = client.get(f"{CAFE}/versions", headers=api_keys.admin).json()
    assert [v["version"] for v in history] == [1, 2]


def test_a_file_with_mistakes_or_for_another_program_is_refused(
    client: TestClient, api_keys: Keys
) -> None:
    broken = example("cafe.yaml").replace("points: 50", "points: lots")
    response = client.post(f"{CAFE}/versions", content=broken, headers=api_keys.admin | YAML)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "earn[1].points"
    shop = example("shop.yaml")
    other = client.post(f"{CAFE}/versions", content=shop, headers=api_keys.admin | YAML)
    assert other.status_code == 422 and other.json()["field"] == "program"
    assert len(client.get(f"{CAFE}/versions", headers=api_keys.admin).json()) == 1
