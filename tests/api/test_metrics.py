"""Observability: Prometheus metrics by route and outcome, and one JSON log line per request."""

from __future__ import annotations

import json
import logging
import sys

import pytest
from fastapi.testclient import TestClient

from fidela.api.logs import JsonFormatter
from tests.api.conftest import Keys
from tests.api.test_access import CAFE, PURCHASE


def test_metrics_count_requests_by_route_and_events_by_outcome(
    client: TestClient, api_keys: Keys
) -> None:
    client.post(f"{CAFE}/events", json=PURCHASE, headers=api_keys.integration)
    client.post(f"{CAFE}/events", json=PURCHASE, headers=api_keys.integration)
    client.post(f"{CAFE}/events", json=PURCHASE | {"amount": "x"}, headers=api_keys.integration)
    client.get(f"{CAFE}/members/ana%40example.com", headers={})
    text = client.get("/metrics").text
    for outcome, count in (("recorded", 1), ("duplicate", 1), ("refused", 1)):
        assert f'fidela_events_total{{outcome="{outcome}"}} {count}.0' in text
    route = "/v1/programs/{program_id}/events"
    assert f'fidela_http_requests_total{{method="POST",route="{route}",status="201"}} 1.0' in text
    members = "/v1/programs/{program_id}/members/{ref}"
    assert f'fidela_http_requests_total{{method="GET",route="{members}",status="401"}} 1.0' in text
    assert "ana@example.com" not in text and "ana%40example.com" not in text
    assert 'fidela_http_request_seconds_count{method="POST",route="' in text
    # The recorded event and its retry, each written alone: two transactions of one event.
    assert "fidela_event_group_size_count 2.0" in text
    assert 'fidela_event_group_size_bucket{le="1.0"} 2.0' in text


def test_each_request_is_logged_as_one_json_line_with_its_request_id(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="fidela.api.requests"):
        client.get("/health", headers={"X-Request-Id": "req-7"})
    [record] = [r for r in caplog.records if r.name == "fidela.api.requests"]
    line = json.loads(JsonFormatter().format(record))
    assert line["request_id"] == "req-7" and line["route"] == "/health"
    assert (line["status"], line["method"], line["message"]) == (200, "GET", "request")
    assert line["ms"] >= 0 and line["at"].endswith("+00:00")


def test_a_logged_error_carries_its_traceback_in_the_json_line() -> None:
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        record = logging.getLogger("fidela").makeRecord(
            "fidela", logging.ERROR, __file__, 1, "failed", (), sys.exc_info(), extra={"x": 1}
        )
    line = json.loads(JsonFormatter().format(record))
    assert line["level"] == "error" and line["x"] == 1
    assert "RuntimeError: boom" in line["error"]
