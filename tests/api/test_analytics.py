"""Backtests over the API: the replay `fidela backtest` runs, from a history sent as text."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from fastapi.encoders import jsonable_encoder
from fastapi.testclient import TestClient

from fidela.api import analytics
from fidela.services import backtest, imports
from fidela.services.backtest import Redemptions
from tests.api.conftest import Keys
from tests.conftest import CDNOW, T0, example

BACKTESTS = "/v1/programs/cafe-lumiere/backtests"
SAMPLE = (CDNOW / "CDNOW_sample.txt").read_text(encoding="utf-8")
QUARTER = {"from": "1997-01-01", "to": "1997-03-31"}


def test_a_backtest_answers_what_the_replay_computes(client: TestClient, api_keys: Keys) -> None:
    body = {"program": example("cafe-usd.yaml"), "history": SAMPLE, "format": "cdnow"}
    body |= QUARTER | {"redeem": "cheapest", "share": 0.5, "seed": 7}
    answered = client.post(BACKTESTS, json=body, headers=api_keys.admin)
    assert answered.status_code == 200, answered.text
    replayed = backtest.backtest(
        example("cafe-usd.yaml"),
        imports.read(CDNOW / "CDNOW_sample.txt", "cdnow"),
        first=date(1997, 1, 1),
        last=date(1997, 3, 31),
        redemptions=Redemptions("cheapest", share=0.5, seed=7),
        now=T0,  # the app's clock
    )
    assert answered.json() == jsonable_encoder(replayed)
    assert replayed["redemptions"]["made"] > 0 and replayed["ledger_verified"] is True
    assert [month["month"] for month in replayed["months"]] == ["1997-01", "1997-02", "1997-03"]


def test_a_backtest_compares_two_programs_and_reads_a_csv_history(
    client: TestClient, api_keys: Keys
) -> None:
    history = "customer_id,order_id,occurred_at,amount,currency\n" + "".join(
        f"c{n % 3},o{n},{datetime(2025, 6, 1 + n, 12, tzinfo=UTC).isoformat()},20.00,USD\n"
        for n in range(9)
    )
    richer = example("cafe-usd.yaml").replace("points_per_unit: 1 ", "points_per_unit: 2 ")
    body = {"program": example("cafe-usd.yaml"), "vs": richer, "history": history}
    answered = client.post(BACKTESTS, json=body, headers=api_keys.admin)
    assert answered.status_code == 200, answered.text
    first, second = answered.json()["programs"]
    assert first["purchases"] == second["purchases"] == 9
    assert first["totals"]["issued"] == 9 * 20  # one token per dollar, no tier reached
    assert second["totals"]["issued"] == 9 * 40


def test_a_bad_history_is_refused_with_each_bad_row_located(
    client: TestClient, api_keys: Keys
) -> None:
    history = SAMPLE.replace("19970118  2   29.73", "19970118  2   lots", 1)
    body = {"program": example("cafe-usd.yaml"), "history": history, "format": "cdnow"}
    answered = client.post(BACKTESTS, json=body, headers=api_keys.admin)
    assert answered.status_code == 422
    assert answered.headers["content-type"] == "application/problem+json"
    problem = answered.json()
    assert problem["field"] == "history"
    bad_amount = {"field": "line 2.dollar_value", "reason": "'lots' is not a number"}
    assert problem["errors"] == [bad_amount]
    unknown = client.post(BACKTESTS, json=body | {"format": "xml"}, headers=api_keys.admin)
    assert unknown.status_code == 422 and unknown.json()["field"] == "body.format"


def test_a_backtest_refuses_a_period_or_dates_out_of_range_and_checks_both_files_first(
    client: TestClient, api_keys: Keys
) -> None:
    body = {"program": example("cafe-usd.yaml"), "history": SAMPLE, "format": "cdnow"}

    def refused(**changed: str) -> dict[str, Any]:
        answered = client.post(BACKTESTS, json=body | changed, headers=api_keys.admin)
        assert answered.status_code == 422, answered.text
        found: dict[str, Any] = answered.json()
        return found

    assert refused(to="9999-12-31")["reason"] == "9999-12-31 is not between 1900 and 2199"
    assert refused(**{"from": "1997-03-01", "to": "1997-02-01"})["field"] == "to"
    typo = example("cafe-usd.yaml").replace("points_per_unit: 1 ", "points_per_unit: -1 ")
    assert refused(vs=typo)["errors"][0]["field"].startswith("vs.earn")
    far = SAMPLE.replace("19970101", "99991231", 1)
    assert refused(history=far)["errors"] == [
        {"field": "line 1.date", "reason": "9999-12-31 is not between 1900 and 2199"}
    ]


def test_one_backtest_runs_at_a_time_in_a_worker(client: TestClient, api_keys: Keys) -> None:
    body = {"program": example("cafe-usd.yaml"), "history": SAMPLE, "format": "cdnow"}
    with analytics.REPLAYING:  # as if another request were replaying
        busy = client.post(BACKTESTS, json=body | QUARTER, headers=api_keys.admin)
    assert busy.status_code == 429 and busy.json()["field"] == "backtests"
    assert client.post(BACKTESTS, json=body | QUARTER, headers=api_keys.admin).status_code == 200
