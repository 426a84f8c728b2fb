from datetime import UTC, datetime, timedelta, timezone

import pytest

from fidela.domain.events import parse_enrollment, parse_event


def purchase_at(occurred_at: str) -> dict[str, object]:
    return {
        "type": "purchase",
        "idempotency_key": "k1",
        "customer": {"customer_id": "c1"},
        "order_id": "o1",
        "amount": "12.50",
        "currency": "EUR",
        "occurred_at": occurred_at,
    }


@pytest.mark.parametrize(
    ("text", "zone"),
    [
        ("2026-12-06T10:00:00.123+00:00", UTC),
        ("2026-12-06T10:00:00Z", UTC),
        ("2026-12-06T12:00:00+02:00", timezone(timedelta(hours=2))),
        ("2026-12-06T04:30:00-05:30", timezone(timedelta(hours=-5, minutes=-30))),
    ],
)
def test_an_event_time_keeps_its_offset_in_the_standard_librarys_zone(
    text: str, zone: timezone
) -> None:
    # pydantic's own zone objects compare ten times slower with the stored (UTC) times.
    occurred_at = parse_event(purchase_at(text)).occurred_at
    assert type(occurred_at.tzinfo) is timezone
    assert occurred_at.tzinfo == zone
    assert occurred_at == datetime.fromisoformat(text)


def test_an_enrollment_time_is_in_the_standard_librarys_zone() -> None:
    form = parse_enrollment({"customer_id": "c1", "enrolled_at": "2026-12-06T10:00:00Z"})
    assert form.enrolled_at.tzinfo is UTC


@pytest.mark.parametrize(
    ("text", "stored_hash"),
    [  # as every earlier version stored them: a retry must still be recognized
        (
            "2026-12-06T10:00:00.123+00:00",
            "460c7c9b954edfb36542e360f62d889f5e060074e8d5838afcdc27be9edf11e7",
        ),
        (
            "2026-12-06T12:00:00+02:00",
            "208eca6ab234fbb95321dc3c34a022307ac9212b491d7ac5c087c4a07c6b941b",
        ),
    ],
)
def test_an_event_hashes_as_it_always_did(text: str, stored_hash: str) -> None:
    assert parse_event(purchase_at(text)).content_hash() == stored_hash
