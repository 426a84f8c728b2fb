"""Segments on both databases: RFM and rule segments computed, moved with history, sized,
once a day."""

from datetime import timedelta
from zoneinfo import ZoneInfo

from fidela.domain.ids import ProgramId
from fidela.services import members, programs, segments
from fidela.store.unit_of_work import UnitOfWork
from tests.conftest import T0, example
from tests.services.helpers import enroll, purchase, send

DAY = timedelta(days=1)


def shoppers(uow: UnitOfWork, cafe: ProgramId) -> None:
    """Ten members: m0 buys most, most often, last; m9 once, least, long ago."""
    for n in range(10):
        email = f"m{n}@example.com"
        enroll(uow, cafe, email, T0)
        for k in range(10 - n):
            at = T0 + DAY * (100 - 10 * n - k)
            purchase(uow, cafe, email, f"m{n}-{k}", f"{10 * (10 - n)}.00", at)


def test_members_get_segments_and_move_with_their_history(uow: UnitOfWork, cafe: ProgramId) -> None:
    shoppers(uow, cafe)
    now = T0 + DAY * 101
    computed = segments.recompute(uow, cafe, now=now)
    assert computed["members"] == 10 and sum(computed["sizes"].values()) == 10
    assert members.show(uow, cafe, "m0@example.com")["segment"] == "champions"
    assert members.show(uow, cafe, "m9@example.com")["segment"] == "lost"
    # m9 comes back big: three large orders today.
    for k in range(3):
        purchase(uow, cafe, "m9@example.com", f"back-{k}", "500.00", now + timedelta(hours=k))
    later = now + DAY
    assert segments.recompute(uow, cafe, now=later)["moved"] >= 1
    shown = members.show(uow, cafe, "m9@example.com")
    assert shown["segment"] != "lost"
    assert [(s["segment"], s["until"] is None) for s in shown["segments"]] == [
        ("lost", False),
        (shown["segment"], True),
    ]
    assert shown["segments"][0]["until"] == shown["segments"][1]["since"]
    assert segments.sizes(uow, cafe)["computed_at"] == later.isoformat()


def test_a_member_whose_orders_are_all_refunded_leaves_their_segment(
    uow: UnitOfWork, cafe: ProgramId
) -> None:
    shoppers(uow, cafe)
    segments.recompute(uow, cafe, now=T0 + DAY * 101)
    send(uow, cafe, T0 + DAY * 101, idempotency_key="r", type="refund", order_id="m9-0")
    recomputed = segments.recompute(uow, cafe, now=T0 + DAY * 102)
    assert recomputed["members"] == 9 and sum(recomputed["sizes"].values()) == 9
    shown = members.show(uow, cafe, "m9@example.com")
    assert shown["segment"] is None and shown["segments"][-1]["until"] is not None


def test_the_segments_are_due_once_a_day(uow: UnitOfWork, cafe: ProgramId) -> None:
    shoppers(uow, cafe)
    now = T0 + DAY * 101
    assert segments.recompute_if_due(uow, cafe, now=now)
    assert not segments.recompute_if_due(uow, cafe, now=now + DAY - timedelta(seconds=1))
    assert segments.recompute_if_due(uow, cafe, now=now + DAY)


RULES = """
segments:
  - {id: regulars, name: Regulars, min_orders: 3}
  - {id: big-baskets, name: Big baskets, min_average_basket: "50.00"}
campaigns:
  - {id: regulars-bonus, name: For regulars, starts: 2026-01-01T00:00:00+01:00,
     ends: 2026-12-31T23:59:59+01:00, when: purchase, bonus_points: 7, segment: regulars}
"""


def test_rule_segments_are_recomputed_with_history_and_campaigns_target_them(
    uow: UnitOfWork, cafe: ProgramId
) -> None:
    programs.apply(uow, example("cafe.yaml") + RULES, now=T0)
    enroll(uow, cafe, "ana@example.com", T0)
    enroll(uow, cafe, "bob@example.com", T0)
    for k in range(3):
        purchase(uow, cafe, "ana@example.com", f"a{k}", "20.00", T0 + DAY * k)
    purchase(uow, cafe, "bob@example.com", "b0", "100.00", T0)
    now = T0 + DAY * 5
    computed = segments.recompute(uow, cafe, now=now)
    assert computed["rules"] == {"regulars": 1, "big-baskets": 1}
    assert segments.sizes(uow, cafe)["rules"] == {"regulars": 1, "big-baskets": 1}

    ana = purchase(uow, cafe, "ana@example.com", "a3", "10.00", now + DAY)
    bob = purchase(uow, cafe, "bob@example.com", "b1", "10.00", now + DAY)
    assert "regulars-bonus" in ana.result["rules"] and "regulars-bonus" not in bob.result["rules"]

    send(uow, cafe, now + DAY, idempotency_key="r-b0", type="refund", order_id="b0")
    later = now + DAY * 2
    assert segments.recompute(uow, cafe, now=later)["rules"] == {"regulars": 1, "big-baskets": 0}
    history = members.show(uow, cafe, "bob@example.com")["rule_segments"]
    paris = later.astimezone(ZoneInfo("Europe/Paris")).isoformat()  # shown in the program's zone
    assert [(s["segment"], s["until"]) for s in history] == [("big-baskets", paris)]
