"""RFM segments on both databases: computed, moved with history, sized, once a day."""

from datetime import timedelta

from fidela.domain.ids import ProgramId
from fidela.services import members, segments
from fidela.store.unit_of_work import UnitOfWork
from tests.conftest import T0
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
