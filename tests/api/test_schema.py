"""Schemathesis against the app on each database: no 5xx, every answer as described."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import Engine, create_engine

from fidela.api.app import create_app
from fidela.domain.ids import ProgramId
from tests.api.conftest import Keys
from tests.api.test_access import CAFE, PURCHASE
from tests.conftest import T0

MEMBERS = ["ana@example.com", "ben@example.com", "C-1001"]
VOUCHER = "the-seeded-voucher"  # stands for the seeded voucher's code, known once it is issued
# Path parameters' values that name something in the seeded database, and how often the
# fuzzing phase takes one: so that requests get past 403 and 404 to the endpoints' own work.
KNOWN: dict[str, tuple[list[Any], float]] = {
    "program_id": (["cafe-lumiere"], 0.9),
    "ref": (MEMBERS, 0.7),
    "code": ([VOUCHER], 0.5),
    "redemption_id": ([1], 0.5),
}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def described() -> dict[str, Any]:
    """The app's OpenAPI description, with the known values as the path parameters' examples.

    The coverage phase builds its cases around an example: without one, each of them
    names a program that isn't there, and stops at 403.
    """
    description = create_app(create_engine("sqlite://")).openapi()  # never connects
    for operations in description["paths"].values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path" and parameter["name"] in KNOWN:
                    parameter["example"] = KNOWN[parameter["name"]][0][0]
    return description


CONFIG = schemathesis.Config.from_dict(
    {
        "generation": {"max-examples": 20, "deterministic": True, "database": "none"},
        "phases": {"coverage": {"unexpected-methods": []}},  # 405s: not what this test checks
        "dictionaries": {name: {"values": values} for name, (values, _) in KNOWN.items()},
        "parameters": {
            f"path.{name}": {"dictionary": name, "probability": probability}
            for name, (_, probability) in KNOWN.items()
        },
    }
)
schema = schemathesis.openapi.from_dict(described(), config=CONFIG)


@dataclass(frozen=True)
class Seeded:
    app: FastAPI
    admin: dict[str, str]
    voucher_code: str


@pytest.fixture
def seeded(engine: Engine, api_keys: Keys, cafe: ProgramId) -> Seeded:
    """The café with three members, and Ana with points left after redeeming a voucher."""
    app = create_app(engine, clock=lambda: T0)
    with TestClient(app, headers=api_keys.admin) as client:
        for ref in MEMBERS:
            form = {"email": ref} if "@" in ref else {"customer_id": ref}
            assert client.post(f"{CAFE}/members", json=form).status_code == 201
        big = PURCHASE | {"amount": "300.00"}
        assert client.post(f"{CAFE}/events", json=big).status_code == 201
        redeemed = client.post(
            f"{CAFE}/members/{MEMBERS[0]}/redemptions", json={"reward_id": "voucher-10"}
        )
        assert redeemed.json()["redemption_id"] == 1, redeemed.text
    return Seeded(app, api_keys.admin, redeemed.json()["voucher_code"])


@schema.parametrize()
# The seeded database is shared by an operation's examples, on purpose: they change it as they go.
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_every_answer_is_as_the_openapi_description_says(
    case: schemathesis.Case, seeded: Seeded
) -> None:
    if case.path_parameters.get("code") == VOUCHER:
        case.path_parameters["code"] = seeded.voucher_code
    case.call_and_validate(app=seeded.app, headers=seeded.admin, checks=CHECKS)
