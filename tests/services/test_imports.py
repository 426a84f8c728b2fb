"""Importing history: CDNOW's real file and the CSV format, all or nothing, once."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from fidela.domain.errors import InvalidInput
from fidela.domain.events import parse_event
from fidela.domain.ids import ProgramId
from fidela.services import imports, ledger, members, programs
from fidela.services.imports import ImportInvalid
from fidela.store.tables import customers, events, ledger_heads, orders
from fidela.store.tables import members as members_table
from fidela.store.unit_of_work import UnitOfWork
from tests.conftest import CDNOW, T0, example
from tests.services.helpers import listen

NOW = datetime(2026, 11, 24, tzinfo=UTC)


def counts(uow: UnitOfWork) -> dict[str, int]:
    with uow:
        found = {
            table.name: uow.connection.execute(select(func.count()).select_from(table)).scalar_one()
            for table in (customers, members_table, events, orders)
        }
        found["seq"] = uow.connection.execute(select(ledger_heads.c.last_seq)).scalar_one()
    return found


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "history.csv"
    path.write_text(text)
    return path


@pytest.fixture
def cafe_us(uow: UnitOfWork) -> ProgramId:
    return programs.apply(uow, example("cafe-usd.yaml"), now=T0).program_id


def test_cdnow_replays_once_as_enrolled_customers_and_their_purchases(
    uow: UnitOfWork, cafe_us: ProgramId
) -> None:
    rows = imports.read(CDNOW / "CDNOW_master.txt", "cdnow")
    report = imports.import_purchases(uow, cafe_us, rows, now=NOW)
    assert report["imported"] == 69_659 and report["members_enrolled"] == 23_570
    after = counts(uow)
    assert after["customers"] == after["members"] == 23_570
    assert after["events"] == after["orders"] == 69_659
    again = imports.import_purchases(uow, cafe_us, rows, now=NOW)
    assert again["imported"] == 0 and again["already_imported"] == 69_659
    assert counts(uow) == after
    assert ledger.verify(uow, cafe_us).ok
    # Bounds computed independently: each order earns floor(amount x multiplier), the
    # multiplier between 1 (bronze) and 1.5 (gold), plus 50 tokens on every tenth order.
    summary = ledger.summary(uow, cafe_us)
    bonuses = 50 * sum(n // 10 for n in _orders_per_customer(rows).values())
    assert sum(int(row.amount) for row in rows) + bonuses <= summary["issued"]
    assert summary["issued"] <= sum(int(row.amount * 3 / 2) for row in rows) + bonuses
    # Lots earned in 1997 expired as their owners' later purchases moved them through time.
    assert summary["expired"] > 0
    assert summary["issued"] - summary["expired"] == summary["outstanding"]


def _orders_per_customer(rows: list[imports.PurchaseRow]) -> dict[str, int]:
    per: dict[str, int] = {}
    for row in rows:
        per[row.customer_id] = per.get(row.customer_id, 0) + 1
    return per


def test_a_date_only_row_happens_at_midnight_in_the_programs_zone(
    uow: UnitOfWork, cafe_us: ProgramId
) -> None:
    rows = imports.read(CDNOW / "CDNOW_master.txt", "cdnow")[:3]
    imports.import_purchases(uow, cafe_us, rows, now=NOW)
    report = members.show(uow, cafe_us, "00001")
    assert report["enrolled_at"] == "1997-01-01T00:00:00-05:00"
    assert report["history"][0]["at"] == "1997-01-01T00:00:00-05:00"


def test_cdnow_is_refused_by_a_program_in_another_currency(
    uow: UnitOfWork, cafe: ProgramId
) -> None:
    rows = imports.read(CDNOW / "CDNOW_sample.txt", "cdnow")[:10]
    with pytest.raises(ImportInvalid) as caught:
        imports.import_purchases(uow, cafe, rows, now=NOW)
    assert "line 1.currency: USD is not the program's currency (EUR)" in str(caught.value)
    assert counts(uow)["events"] == 0


def test_the_sample_file_reads_its_five_columns() -> None:
    rows = imports.read(CDNOW / "CDNOW_sample.txt", "cdnow")
    assert len(rows) == 6_919
    assert rows[0].customer_id == "00004" and str(rows[0].amount) == "29.33"


CSV = """customer_id,order_id,occurred_at,amount,currency,email,enroll
c1,o1,2026-01-05,12.50,EUR,Ana@Example.com,yes
c2,o2,2026-01-05T10:30:00+01:00,40.00,EUR,,no
c1,o3,2026-01-06,7.50,EUR,ana@example.com,yes
"""


def test_the_csv_format_enrolls_or_records_customers_as_asked(
    tmp_path: Path, uow: UnitOfWork, cafe: ProgramId
) -> None:
    rows = imports.read(write(tmp_path, CSV), "csv")
    report = imports.import_purchases(uow, cafe, rows, now=NOW)
    assert report == {
        "program": cafe,
        "rows": 3,
        "imported": 3,
        "already_imported": 0,
        "members_enrolled": 1,
    }
    ana = members.show(uow, cafe, "ana@example.com")
    assert ana["available"] == 19 and ana["customer_id"] == "c1"
    assert counts(uow)["customers"] == 2 and counts(uow)["members"] == 1


def test_bad_rows_are_reported_by_line_and_nothing_is_imported(
    tmp_path: Path, uow: UnitOfWork, cafe: ProgramId
) -> None:
    bad = CSV + (
        "c3,o4,2026-13-01,5,EUR,,yes\n"
        "c4,o5,2026-01-07,five,EUR,,yes\n"
        "c5,o6,2026-01-07,5,EUR,,maybe\n"
    )
    with pytest.raises(ImportInvalid) as caught:
        imports.read(write(tmp_path, bad), "csv")
    shown = str(caught.value)
    assert "line 5.occurred_at" in shown
    assert "line 6.amount: 'five' is not a number" in shown
    assert "line 7.enroll" in shown
    assert counts(uow)["events"] == 0


def test_a_row_that_conflicts_with_an_earlier_import_stops_the_import(
    tmp_path: Path, uow: UnitOfWork, cafe: ProgramId
) -> None:
    imports.import_purchases(uow, cafe, imports.read(write(tmp_path, CSV), "csv"), now=NOW)
    before = counts(uow)
    changed = CSV.replace("12.50", "13.50") + "c9,o9,2026-01-08,9,EUR,,yes\n"
    with pytest.raises(ImportInvalid, match="line 2: import:o1 was imported with other content"):
        imports.import_purchases(uow, cafe, imports.read(write(tmp_path, changed), "csv"), now=NOW)
    assert counts(uow) == before


def test_an_unknown_format_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as caught:
        imports.read(write(tmp_path, CSV), "xlsx")
    assert caught.value.field == "--format"


def test_purchases_before_enrollment_stay_customer_purchases(
    tmp_path: Path, uow: UnitOfWork, cafe: ProgramId
) -> None:
    from tests.services.helpers import enroll

    enroll(uow, cafe, "ana@example.com", T0 + timedelta(days=3), customer_id="c1")
    imports.import_purchases(uow, cafe, imports.read(write(tmp_path, CSV), "csv"), now=NOW)
    assert members.show(uow, cafe, "ana@example.com")["available"] == 0


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("c9,o1,2026-01-08,9,EUR,,yes\n", "line 5.order_id: order o1 is already on line 2"),
        ("c1,o9,2026-01-08,9,EUR,bob@example.com,yes\n", "line 5.email: customer c1 has another"),
        ("c9,o9,2026-01-08,9,EUR,ana@example.com,yes\n", "line 5.email: ana@example.com belongs"),
        ("c9,o9,2026-01-08,9,EUR,not-an-email,yes\n", "line 5.email: 'not-an-email' is not"),
        (f"c9,{'o' * 201},2026-01-08,9,EUR,,yes\n", "line 5.order_id: is longer than 200"),
    ],
)
def test_rows_that_contradict_the_file_are_refused(
    tmp_path: Path, uow: UnitOfWork, cafe: ProgramId, extra: str, expected: str
) -> None:
    def import_file() -> None:
        rows = imports.read(write(tmp_path, CSV + extra), "csv")
        imports.import_purchases(uow, cafe, rows, now=NOW)

    with pytest.raises(ImportInvalid) as caught:
        import_file()
    assert expected in str(caught.value)
    assert counts(uow)["events"] == 0


def test_rows_that_contradict_the_store_are_refused(
    tmp_path: Path, uow: UnitOfWork, cafe: ProgramId
) -> None:
    from tests.services.helpers import enroll, purchase

    enroll(uow, cafe, "ana@example.com", T0, customer_id="shop-ana")
    purchase(uow, cafe, "ana@example.com", "o2", "5.00", T0)
    before = counts(uow)
    with pytest.raises(ImportInvalid) as caught:
        imports.import_purchases(uow, cafe, imports.read(write(tmp_path, CSV), "csv"), now=NOW)
    shown = str(caught.value)
    assert "line 2.email: ana@example.com belongs to another customer" in shown
    assert "line 3.order_id: order o2 is already recorded" in shown
    assert counts(uow) == before


def test_a_customer_enrolls_at_the_first_row_that_asks_for_it(
    tmp_path: Path, uow: UnitOfWork, cafe: ProgramId
) -> None:
    history = (
        "customer_id,order_id,occurred_at,amount,currency,enroll\n"
        "c1,o1,2026-01-05,30,EUR,no\n"
        "c1,o2,2026-01-06,20,EUR,yes\n"
        "c1,o3,2026-01-07,10,EUR,no\n"
    )
    imports.import_purchases(uow, cafe, imports.read(write(tmp_path, history), "csv"), now=NOW)
    member = members.show(uow, cafe, "c1")
    assert member["enrolled_at"].startswith("2026-01-06")
    assert member["available"] == 30  # o2 and o3; o1 was bought before enrolling


def test_an_import_announces_nothing_unless_asked(
    tmp_path: Path, uow: UnitOfWork, cafe: ProgramId
) -> None:
    from fidela.store.tables import outbox

    def announced() -> int:
        with uow:
            return uow.connection.execute(select(func.count()).select_from(outbox)).scalar_one()

    listen(uow, cafe, NOW)  # else nothing is written to the outbox, asked or not
    imports.import_purchases(uow, cafe, imports.read(write(tmp_path, CSV), "csv"), now=NOW)
    assert announced() == 0
    more = "customer_id,order_id,occurred_at,amount,currency\nc7,o7,2026-02-01,300,EUR\n"
    rows = imports.read(write(tmp_path, more), "csv")
    imports.import_purchases(uow, cafe, rows, now=NOW, announce=True)
    with uow:
        kinds = uow.connection.execute(select(outbox.c.kind).order_by(outbox.c.id)).scalars().all()
    assert kinds == ["member.enrolled", "tier.changed", "points.earned"]


# 3.5 and 3.50 are equal amounts with different texts: each keeps its own. 14:00Z and
# 09:00-05:00 are one instant written two ways: each keeps its own.
STORED_AS_SENT = {
    "cdnow": "7 19970102 4 3.5\n7 19970103 4 3.50\n",
    "csv": "customer_id,order_id,occurred_at,amount,currency,email,enroll\n"
    "c1,o1,2026-01-05,12.50,USD,Ana@Example.com,yes\n"
    "c2,o2,2026-01-05T14:00:00Z,40,USD,,no\n"
    "c3,o3,2026-01-05T09:00:00-05:00,3.5,USD,,yes\n"
    "c1,o4,2026-01-06T10:30:00+01:00,7.50,USD,ana@example.com,yes\n",
}


@pytest.mark.parametrize("file_format", ["cdnow", "csv"])
def test_an_imported_row_is_stored_as_the_validated_event_would_be(
    uow: UnitOfWork, cafe_us: ProgramId, tmp_path: Path, file_format: imports.Format
) -> None:
    rows = imports.read(write(tmp_path, STORED_AS_SENT[file_format]), file_format)
    imports.import_purchases(uow, cafe_us, rows, now=NOW)
    with uow:
        program = uow.programs.current(cafe_us).program
        stored = uow.connection.execute(
            select(events.c.idempotency_key, events.c.payload, events.c.content_hash)
        ).all()
    by_key = {key: (payload, digest) for key, payload, digest in stored}
    assert len(by_key) == len(rows)
    for row in rows:
        key = f"import:{row.order_id}"
        customer = {"customer_id": row.customer_id, "email": row.email}
        sent = parse_event(
            {
                "type": "purchase",
                "idempotency_key": key,
                "customer": {name: value for name, value in customer.items() if value},
                "occurred_at": (row.at or row.occurred_at(program)).isoformat(),
                "order_id": row.order_id,
                "amount": str(row.amount),
                "currency": "USD",
                "lines": [{"quantity": row.quantity, "amount": str(row.amount)}]
                if row.quantity
                else [],
            }
        )
        payload, digest = by_key[key]
        assert payload == json.loads(sent.canonical())
        assert digest == sent.encode().content_hash
    amounts = {payload["order_id"]: payload["amount"] for payload, _ in by_key.values()}
    times = {payload["order_id"]: payload["occurred_at"] for payload, _ in by_key.values()}
    if file_format == "cdnow":
        assert sorted(amounts.values()) == ["3.5", "3.50"]
    else:
        assert times["o2"] != times["o3"] and amounts["o3"] == "3.5"
