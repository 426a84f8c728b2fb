"""The demo on both databases, over CDNOW's 1/10 sample to stay quick."""

from __future__ import annotations

from datetime import UTC, datetime

from fidela.domain.keys import Role
from fidela.services import demo, imports, keys
from fidela.store.unit_of_work import UnitOfWork
from tests.conftest import CDNOW, T0, example

UNTIL = datetime(1998, 7, 1, 4, tzinfo=UTC)


def test_the_demo_loads_verifies_and_hands_out_working_keys(uow: UnitOfWork) -> None:
    rows = imports.read(CDNOW / "CDNOW_sample.txt", "cdnow")
    report = demo.load(uow, example("cafe-usd.yaml"), rows, until=UNTIL, now=T0)
    assert report["import"]["imported"] == len(rows) == 6_919
    assert report["ledger verify"]["ok"] is True
    assert report["ledger summary"]["issued"] > 0
    occupied = [name for name, size in report["segments"].items() if size]
    assert len(occupied) >= 5 and sum(report["segments"].values()) > 1000
    first = report["api keys"]
    assert keys.authenticate(uow, first["admin"], now=T0).role == Role.ADMIN
    assert keys.authenticate(uow, first["integration"], now=T0).role == Role.INTEGRATION
    again = demo.load(uow, example("cafe-usd.yaml"), rows, until=UNTIL, now=T0)
    assert again["import"]["imported"] == 0
    assert keys.authenticate(uow, again["api keys"]["admin"], now=T0).role == Role.ADMIN
    live = [k for k in keys.listed(uow, report["program"]["id"]) if k["revoked_at"] is None]
    assert sorted(k["name"] for k in live) == ["demo admin", "demo integration"]


def test_the_shop_story_shows_a_membership_a_full_punch_card_badges_and_a_referral(
    uow: UnitOfWork,
) -> None:
    now = datetime(2026, 11, 24, 20, tzinfo=UTC)
    story = demo.shop_story(uow, example("shop.yaml"), now=now)
    ana = story["ana"]
    assert ana["membership"]["status"] == "active"
    (card,) = ana["punch_cards"]
    assert card["completed"] == 1 and [v[0] for v in ana["vouchers"]] == ["coffee-card"]
    assert ana["badges"] == ["on-a-roll", "regular"]
    assert [status for _friend, status in ana["referrals"]] == ["rewarded"]
    assert ana["credit"] == "3.99" and story["eve"]["credit"] == "2.50"
    assert story["ledger verify"]["ok"] is True
    again = demo.shop_story(uow, example("shop.yaml"), now=now)
    assert again["ana"] == ana and again["eve"] == story["eve"]
