"""The `fidela` command end to end, as a person runs it, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine, update

from fidela.store.tables import lines
from tests.api.test_access import CAFE_ID, PURCHASE
from tests.conftest import CDNOW, EXAMPLES
from tests.services.helpers import ledger_held

NOW = "2026-11-24T10:00:00+01:00"


@pytest.fixture
def fidela(engine: Engine, tmp_path: Path):  # type: ignore[no-untyped-def]
    """Run `fidela ARGS...` against the test database; return the finished process."""
    env = {**os.environ, "FIDELA_DATABASE_URL": engine.url.render_as_string(hide_password=False)}

    def run(
        *args: str, stdin: str | None = None, settings: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "fidela", *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=env | (settings or {}),
            cwd=tmp_path,
            check=False,
        )

    return run


def test_program_check_lists_every_mistake_with_its_location_and_exits_2(
    fidela, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    assert fidela("program", "check", str(EXAMPLES / "cafe.yaml")).returncode == 0
    broken = (EXAMPLES / "cafe.yaml").read_text()
    broken = broken.replace("program: cafe-lumiere", "program: Café!")
    broken = broken.replace("points: 50", "points: lots").replace("\n  days: 365", "\n  dayz: 365")
    path = tmp_path / "broken.yaml"
    path.write_text(broken)
    checked = fidela("program", "check", str(path))
    assert checked.returncode == 2
    errors = checked.stderr.strip().splitlines()
    assert len(errors) == 4  # the renamed key is unknown, and `days` is then missing
    assert "error program (line 7): must match the pattern '^[a-z0-9][a-z0-9_-]*$'" in errors
    assert errors[1].startswith("error earn[1].points (line 22): must be a valid integer")
    assert "error expiry.days (line 33): is required" in errors
    assert "error expiry.dayz (line 35): unknown key" in errors


def test_a_command_on_a_database_without_the_schema_says_to_run_init(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "fidela", "ledger", "summary"],
        capture_output=True,
        text=True,
        env={**os.environ, "FIDELA_DATABASE_URL": f"sqlite:///{tmp_path / 'fresh.db'}"},
        check=False,
    )
    assert result.returncode == 2
    assert "fidela init" in result.stderr


def test_a_command_kept_waiting_for_a_lock_stops_as_busy_with_exit_2_and_keeps_nothing(
    fidela, engine: Engine
) -> None:  # type: ignore[no-untyped-def]
    assert fidela("program", "apply", str(EXAMPLES / "cafe.yaml"), "--now", NOW).returncode == 0
    record = ("event", "record", "-", "--now", NOW)
    with ledger_held(engine, CAFE_ID):
        waited = fidela(*record, stdin=json.dumps(PURCHASE), settings={"FIDELA_LOCK_WAIT": "0.3"})
    assert waited.returncode == 2
    assert waited.stderr.startswith("error database: is busy")
    assert json.loads(fidela(*record, stdin=json.dumps(PURCHASE)).stdout)["duplicate"] is False


def test_a_member_earns_redeems_and_the_ledger_verifies(fidela, engine: Engine) -> None:  # type: ignore[no-untyped-def]
    assert fidela("init").returncode == 0
    applied = fidela("program", "apply", str(EXAMPLES / "cafe.yaml"), "--now", NOW)
    assert "applied as version 1" in applied.stdout
    enrolled = fidela("member", "enroll", "--email", "ana@example.com", "--now", NOW)
    assert "enrolled" in enrolled.stdout
    order = {
        "type": "purchase",
        "idempotency_key": "order-1",
        "customer": {"email": "ana@example.com"},
        "order_id": "1",
        "amount": "124.90",
        "currency": "EUR",
        "occurred_at": NOW,
    }
    recorded = fidela("event", "record", "-", "--now", NOW, stdin=json.dumps(order))
    assert json.loads(recorded.stdout)["points"] == 124
    again = fidela("event", "record", "-", "--now", NOW, stdin=json.dumps(order))
    assert json.loads(again.stdout)["duplicate"] is True
    voucher = json.loads(
        fidela("reward", "redeem", "ana@example.com", "voucher-10", "--now", NOW).stdout
    )
    assert fidela("voucher", "consume", voucher["voucher_code"]).returncode == 0
    twice = fidela("voucher", "consume", voucher["voucher_code"])
    assert twice.returncode == 2
    assert "consumed" in twice.stderr
    shown = json.loads(fidela("member", "show", "ana@example.com", "--json").stdout)
    assert shown["available"] == 24
    assert [entry["cause"]["kind"] for entry in shown["history"]] == ["earn", "redeem"]
    summary = json.loads(fidela("ledger", "summary", "--json").stdout)
    assert (summary["issued"], summary["redeemed"], summary["outstanding"]) == (124, 100, 24)
    assert summary["liability"] == "2.40"
    assert fidela("ledger", "verify").returncode == 0
    with engine.begin() as connection:
        connection.execute(
            update(lines).where(lines.c.seq == 2, lines.c.line_no == 0).values(amount=-1)
        )
    broken = fidela("ledger", "verify")
    assert broken.returncode == 1
    assert "transaction 2" in broken.stderr


def test_run_due_expires_points_with_the_workers_asked_for(fidela) -> None:  # type: ignore[no-untyped-def]
    assert fidela("init").returncode == 0
    assert fidela("program", "apply", str(EXAMPLES / "cafe.yaml"), "--now", NOW).returncode == 0
    for n in range(3):
        order = {
            "type": "purchase",
            "idempotency_key": f"order-{n}",
            "customer": {"email": f"m{n}@example.com"},
            "order_id": str(n),
            "amount": "10.00",
            "currency": "EUR",
            "occurred_at": NOW,
        }
        assert (
            fidela("member", "enroll", "--email", f"m{n}@example.com", "--now", NOW).returncode == 0
        )
        assert fidela("event", "record", "-", "--now", NOW, stdin=json.dumps(order)).returncode == 0
    none = fidela("jobs", "run-due", "--now", "2028-01-01T00:00:00Z", "--workers", "0")
    assert none.returncode == 2 and "--workers" in none.stderr
    done = fidela("jobs", "run-due", "--now", "2028-01-01T00:00:00Z", "--workers", "2")
    assert done.returncode == 0, done.stderr
    counts = json.loads(done.stdout)
    assert (counts["members"], counts["points_expired"]) == (3, 30)
    assert fidela("ledger", "verify").returncode == 0


def test_an_import_with_bad_rows_reports_their_lines_and_imports_nothing(
    fidela, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    fidela("program", "apply", str(EXAMPLES / "cafe-usd.yaml"))
    bad = tmp_path / "bad.txt"
    lines_ = (CDNOW / "CDNOW_master.txt").read_text().splitlines()[:6]
    lines_[3] = " 00003 1997XX02  2   20.76"
    lines_[5] = " 00004 19970101  2   twenty"
    bad.write_text("\n".join(lines_) + "\n")
    imported = fidela("import", "purchases", str(bad), "--format", "cdnow")
    assert imported.returncode == 2
    assert "line 4.date: '1997XX02' is not YYYYMMDD" in imported.stderr
    assert "line 6.dollar_value: 'twenty' is not a number" in imported.stderr
    summary = json.loads(fidela("ledger", "summary", "--json").stdout)
    assert summary["issued"] == 0
    good = fidela("import", "purchases", str(CDNOW / "CDNOW_sample.txt"), "--format", "cdnow")
    assert good.returncode == 0
    assert json.loads(good.stdout)["imported"] == 6_919


def test_a_list_of_events_with_a_bad_one_records_none(fidela) -> None:  # type: ignore[no-untyped-def]
    fidela("program", "apply", str(EXAMPLES / "cafe.yaml"), "--now", NOW)
    fidela("member", "enroll", "--email", "ana@example.com", "--now", NOW)
    good = {
        "type": "review",
        "idempotency_key": "r1",
        "customer": {"email": "ana@example.com"},
        "occurred_at": NOW,
    }
    bad = {**good, "idempotency_key": "r2", "occurred_at": "yesterday"}
    recorded = fidela("event", "record", "-", "--now", NOW, stdin=json.dumps([good, bad]))
    assert recorded.returncode == 2
    assert "occurred_at" in recorded.stderr
    assert json.loads(fidela("member", "show", "ana@example.com", "--json").stdout)["history"] == []
    not_json = fidela("event", "record", "-", stdin="{oops")
    assert not_json.returncode == 2
    assert "is not JSON" in not_json.stderr


def test_points_pay_part_of_an_order_from_the_command_line(fidela) -> None:  # type: ignore[no-untyped-def]
    fidela("program", "apply", str(EXAMPLES / "shop.yaml"), "--now", NOW)
    fidela("member", "enroll", "--email", "ana@example.com", "--now", NOW)
    fidela(
        "adjust", "ana@example.com", "3000", "--reason", "goodwill", "--actor", "sam", "--now", NOW
    )
    quoted = fidela("reward", "quote", "ana@example.com", "points-and-cash", "--order-amount", "80")
    assert quoted.returncode == 0, quoted.stderr
    assert (json.loads(quoted.stdout)["points"], json.loads(quoted.stdout)["amount"]) == (
        3000,
        "30.00",
    )
    pay = ["reward", "redeem", "ana@example.com", "points-and-cash", "--order-amount", "80"]
    paid = fidela(*pay, "--points", "1500", "--order-id", "W-1", "--now", NOW)
    assert paid.returncode == 0, paid.stderr
    assert json.loads(paid.stdout)["voucher"]["amount"] == "15.00"
    too_many = fidela(*pay, "--points", "4001", "--now", NOW)
    assert too_many.returncode == 2 and "payment.points" in too_many.stderr
    bad = fidela("reward", "quote", "ana@example.com", "points-and-cash", "--order-amount", "x")
    assert bad.returncode == 2 and "--order-amount" in bad.stderr


def test_verifying_an_unknown_program_is_an_error_not_a_broken_ledger(fidela) -> None:  # type: ignore[no-untyped-def]
    verified = fidela("ledger", "verify", "--program", "nope")
    assert verified.returncode == 2
    assert "no program nope" in verified.stderr


def test_keys_are_created_listed_and_revoked_and_serve_answers_with_them(
    fidela, engine: Engine, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    assert fidela("program", "apply", str(EXAMPLES / "cafe.yaml"), "--now", NOW).returncode == 0
    created = fidela("keys", "create", "--role", "integration", "--name", "till 1")
    assert created.returncode == 0, created.stderr
    key = json.loads(created.stdout)
    assert key["key"].startswith(f"fdl_{key['key_id']}_")
    listed = json.loads(fidela("keys", "list").stdout)
    assert [k["key_id"] for k in listed] == [key["key_id"]]
    assert key["key"] not in fidela("keys", "list").stdout
    with _serving(engine, tmp_path) as base:
        headers = {"Authorization": f"Bearer {key['key']}"}
        members = f"{base}/v1/programs/cafe-lumiere/members/nobody@example.com"
        assert httpx2.get(f"{base}/health").json() == {"status": "ok"}
        assert httpx2.get(members, headers=headers).status_code == 404
        assert fidela("keys", "revoke", key["key_id"]).returncode == 0
        assert httpx2.get(members, headers=headers).status_code == 401
    assert fidela("keys", "create", "--role", "root", "--name", "x").returncode == 2


@contextmanager
def _serving(engine: Engine, tmp_path: Path) -> Iterator[str]:
    """`fidela serve` on a free loopback port, until the block ends."""
    port = _free_port()
    env = {**os.environ, "FIDELA_DATABASE_URL": engine.url.render_as_string(hide_password=False)}
    with subprocess.Popen(
        [sys.executable, "-m", "fidela", "serve", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    ) as server:
        base = f"http://127.0.0.1:{port}"
        try:
            _when_up(f"{base}/health", {}, server)
            yield base
        finally:
            server.terminate()
            server.wait(timeout=10)


def test_with_two_workers_every_scrape_counts_what_both_answered(
    engine: Engine, tmp_path: Path
) -> None:
    sent = 40  # each on a new connection: both workers answer some
    port = _free_port()
    env = {**os.environ, "FIDELA_DATABASE_URL": engine.url.render_as_string(hide_password=False)}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    env["TMPDIR"] = str(tmp_path)  # where serve makes the workers' shared folder
    command = [sys.executable, "-m", "fidela", "serve", "--port", str(port), "--workers", "2"]
    with subprocess.Popen(
        command, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    ) as server:
        base = f"http://127.0.0.1:{port}"
        try:
            _when_up(f"{base}/ready", {}, server)  # not /health: only the `sent` count there
            assert all(httpx2.get(f"{base}/health").status_code == 200 for _ in range(sent))
            deadline = time.monotonic() + 10  # a request is counted just after its answer
            while _health_count(base) != sent and time.monotonic() < deadline:
                time.sleep(0.05)
            assert [_health_count(base) for _ in range(10)] == [sent] * 10
        finally:
            server.terminate()
            server.wait(timeout=10)
    assert not list(tmp_path.glob("fidela-metrics-*"))  # removed when serve stops


def _health_count(base: str) -> float:
    """GET /health answers counted in a scrape of /metrics (on a new connection)."""
    scrape = httpx2.get(f"{base}/metrics").text
    for family in text_string_to_metric_families(scrape):
        for sample in family.samples:
            if sample.name == "fidela_http_requests_total" and sample.labels["route"] == "/health":
                return sample.value
    return 0


def test_the_demo_loads_then_serves_the_api_with_the_keys_it_prints(
    engine: Engine, tmp_path: Path
) -> None:
    port = _free_port()
    env = {
        **os.environ,
        "FIDELA_DATABASE_URL": engine.url.render_as_string(hide_password=False),
        "PYTHONUNBUFFERED": "1",
    }
    sample = str(CDNOW / "CDNOW_sample.txt")
    program, shop = str(EXAMPLES / "cafe-usd.yaml"), str(EXAMPLES / "shop.yaml")
    command = ["demo", "--history", sample, "--program-file", program, "--shop-file", shop]
    command += ["--port", str(port)]
    log = tmp_path / "demo.log"
    with (
        log.open("w") as output,
        subprocess.Popen(
            [sys.executable, "-m", "fidela", *command],
            env=env,
            cwd=tmp_path,
            stdout=output,
            stderr=subprocess.STDOUT,
            text=True,
        ) as server,
    ):
        try:
            key = _printed(log, "admin key:", server)
            members = f"http://127.0.0.1:{port}/v1/programs/cafe-lumiere-us/members?limit=2"
            response = _when_up(members, {"Authorization": f"Bearer {key}"}, server)
            assert response.status_code == 200 and len(response.json()["members"]) == 2
            assert "shop: ana" in log.read_text()  # the shop's story was printed before
        finally:
            server.terminate()
            server.wait(timeout=10)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def _when_up(url: str, headers: dict[str, str], server: subprocess.Popen[str]) -> httpx2.Response:
    """GET `url` once the server listens (it has 10 s to start)."""
    for _ in range(100):
        try:
            return httpx2.get(url, headers=headers)
        except httpx2.TransportError:
            if server.poll() is not None:
                raise AssertionError(server.stderr.read() if server.stderr else "") from None
            time.sleep(0.1)
    raise AssertionError(f"nothing answered at {url}")


def _printed(log: Path, label: str, server: subprocess.Popen[str]) -> str:
    """The last word of the line starting with `label` that a process wrote (within 120 s)."""
    for _ in range(1200):
        for line in log.read_text().splitlines():
            if line.startswith(label):
                return line.split()[-1]
        assert server.poll() is None, log.read_text()
        time.sleep(0.1)
    raise AssertionError(f"no {label!r} line in:\n{log.read_text()}")


def test_the_reports_print_kpis_cohorts_and_the_fitted_clv_parameters(fidela) -> None:  # type: ignore[no-untyped-def]
    assert fidela("program", "apply", str(EXAMPLES / "cafe-usd.yaml")).returncode == 0
    sample = str(CDNOW / "CDNOW_sample.txt")
    imported = fidela(
        "import", "purchases", sample, "--format", "cdnow", "--program", "cafe-lumiere-us"
    )
    assert imported.returncode == 0, imported.stderr
    fitted = fidela("clv", "fit", "--until", "1997-09-30", "--json")
    assert fitted.returncode == 0, fitted.stderr
    parameters = json.loads(fitted.stdout)["bgnbd"]
    assert set(parameters) == {"r", "alpha", "a", "b", "log_likelihood"}
    assert round(parameters["r"], 3) == 0.243
    shown = fidela("clv", "fit", "--until", "1997-09-30")
    assert "BG/NBD" in shown.stdout and "Gamma-Gamma" in shown.stdout
    kpis = fidela("kpi", "--from", "1998-01-01", "--to", "1998-03-31")
    assert kpis.returncode == 0 and json.loads(kpis.stdout)["orders"] > 0
    bad = fidela("kpi", "--from", "1998-01-01", "--to", "1997-12-31")
    assert bad.returncode == 2 and "to" in bad.stderr
    triangle = fidela("cohorts", "--by", "first-purchase")
    assert json.loads(triangle.stdout)["cohorts"][0]["cohort"] == "1997-01"
