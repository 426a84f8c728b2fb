"""run-due: expiry, pending points, birthdays and tier reviews, each applied once."""

import sqlite3
import time
from contextlib import closing
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from fidela.domain.errors import InvalidInput, NotFound
from fidela.domain.ids import ProgramId
from fidela.services import jobs, ledger, members, programs
from fidela.store.tables import outbox, transactions
from fidela.store.unit_of_work import UnitOfWork
from tests.conftest import T0, example
from tests.services.helpers import balance, enroll, listen, purchase


def test_lots_expire_once_however_often_run_due_runs(uow: UnitOfWork, cafe: ProgramId) -> None:
    enroll(uow, cafe, "ana@example.com", T0)
    purchase(uow, cafe, "ana@example.com", "A1", "30.00", T0)
    purchase(uow, cafe, "ana@example.com", "A2", "20.00", T0 + timedelta(days=100))
    year_later = T0 + timedelta(days=366)
    assert jobs.run_due(uow, cafe, now=year_later)["points_expired"] == 30
    with uow:
        count = uow.connection.execute(select(func.count()).select_from(transactions)).scalar()
    assert jobs.run_due(uow, cafe, now=year_later) == {}
    with uow:
        assert (
            uow.connection.execute(select(func.count()).select_from(transactions)).scalar() == count
        )
    assert balance(uow, cafe, "ana@example.com") == (20, 0, 0)
    expiry = members.show(uow, cafe, "ana@example.com")["history"][-1]
    assert expiry["cause"]["kind"] == "expire" and expiry["cause"]["actor"] == "scheduler"
    assert expiry["at"].startswith("2027-01-05")  # when the lot expired, not when the job ran
    assert ledger.verify(uow, cafe).ok


def test_several_workers_bring_every_member_to_where_one_worker_does(
    uow: UnitOfWork, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(jobs.BATCH, uow.engine.dialect.name, 2)  # four batches, three workers
    people = [f"m{n}@example.com" for n in range(7)]
    shared, alone = (
        programs.apply(uow, example("cafe.yaml").replace("cafe-lumiere", name), now=T0).program_id
        for name in ("cafe-shared", "cafe-alone")
    )
    for program_id in (shared, alone):
        for n, email in enumerate(people):
            # Half have a birthday before the run: a lot created by run_due itself.
            enroll(uow, program_id, email, T0, birthday="1990-06-01" if n % 2 else None)
            purchase(uow, program_id, email, f"A{n}", f"{30 + n}.00", T0)
            purchase(uow, program_id, email, f"B{n}", "20.00", T0 + timedelta(days=100))
    year_later = T0 + timedelta(days=366)

    counts = jobs.run_due(uow, shared, now=year_later, workers=3)

    assert counts == jobs.run_due(uow, alone, now=year_later)
    assert counts["members"] == 7 and counts["points_expired"] == sum(30 + n for n in range(7))
    assert counts["earn"] == 3  # the birthdays
    for email in people:
        assert unnumbered_lots(uow, shared, email) == unnumbered_lots(uow, alone, email)
        assert balance(uow, shared, email) == balance(uow, alone, email)
    assert ledger.verify(uow, shared).ok
    assert jobs.run_due(uow, shared, now=year_later, workers=3) == {}


def test_between_batches_a_waiting_writer_finds_the_lock_free_long_enough_to_take_it(
    uow: UnitOfWork, cafe: ProgramId, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(jobs.BATCH, uow.engine.dialect.name, 2)  # three batches
    for n in range(5):
        enroll(uow, cafe, f"m{n}@example.com", T0)
        purchase(uow, cafe, f"m{n}@example.com", f"A{n}", "30.00", T0)
    sleep, paused = time.sleep, []

    def pause(seconds: float) -> None:  # another writer, which would not wait, comes in
        with closing(sqlite3.connect(uow.engine.url.database or "", timeout=0)) as writer:
            writer.execute("BEGIN IMMEDIATE")
            writer.rollback()
        paused.append(seconds)
        sleep(seconds)

    monkeypatch.setattr(jobs.time, "sleep", pause)
    assert jobs.run_due(uow, cafe, now=T0 + timedelta(days=366))["members"] == 5

    if uow.engine.dialect.name == "sqlite":  # after each full batch
        assert paused == [jobs.PAUSE["sqlite"]] * 2 and paused[0] > 0
    else:  # PostgreSQL queues the writers that wait: no pause
        assert paused == []


def unnumbered_lots(uow: UnitOfWork, program_id: ProgramId, email: str) -> list[dict[str, object]]:
    """A member's lots without their numbers: a lot run_due creates (a birthday's) is
    numbered when its batch takes the ledger head, in whichever order the workers do."""
    shown = members.show(uow, program_id, email)["lots"]
    return [{key: value for key, value in lot.items() if key != "lot"} for lot in shown]


def test_run_due_refuses_no_workers(uow: UnitOfWork, cafe: ProgramId) -> None:
    with pytest.raises(ValueError, match="workers: must be 1 or more"):
        jobs.run_due(uow, cafe, now=T0, workers=0)


def test_a_reminder_is_written_to_the_outbox_before_points_expire(
    uow: UnitOfWork, cafe: ProgramId
) -> None:
    listen(uow, cafe, T0)
    enroll(uow, cafe, "ana@example.com", T0)
    purchase(uow, cafe, "ana@example.com", "A1", "30.00", T0)
    jobs.run_due(uow, cafe, now=T0 + timedelta(days=340))
    jobs.run_due(uow, cafe, now=T0 + timedelta(days=341))
    with uow:
        reminders = (
            uow.connection.execute(select(outbox.c.data).where(outbox.c.kind == "points.expiring"))
            .scalars()
            .all()
        )
    assert len(reminders) == 1 and reminders[0]["points"] == 30


def test_pending_points_become_spendable_after_the_waiting_time(uow: UnitOfWork) -> None:
    text = example("cafe.yaml").replace("pending_days: 0 ", "pending_days: 14 ")
    program_id = programs.apply(uow, text, now=T0).program_id
    enroll(uow, program_id, "ana@example.com", T0)
    purchase(uow, program_id, "ana@example.com", "A1", "30.00", T0)
    assert balance(uow, program_id, "ana@example.com") == (0, 30, 0)
    jobs.run_due(uow, program_id, now=T0 + timedelta(days=13))
    assert balance(uow, program_id, "ana@example.com") == (0, 30, 0)
    jobs.run_due(uow, program_id, now=T0 + timedelta(days=14))
    assert balance(uow, program_id, "ana@example.com") == (30, 0, 0)


def test_a_balance_names_the_soonest_expiry_of_spendable_points_only(uow: UnitOfWork) -> None:
    text = example("cafe.yaml").replace("pending_days: 0 ", "pending_days: 14 ")
    program_id = programs.apply(uow, text, now=T0).program_id
    ana = enroll(uow, program_id, "ana@example.com", T0, customer_id="c-ana")
    purchase(uow, program_id, "ana@example.com", "A1", "30.00", T0)
    purchase(uow, program_id, "ana@example.com", "A2", "20.00", T0 + timedelta(days=5))
    jobs.run_due(uow, program_id, now=T0 + timedelta(days=19))  # both spendable now
    # Earned later but still pending, and so not spendable: it is left out.
    purchase(uow, program_id, "ana@example.com", "A3", "40.00", T0 + timedelta(days=19))
    reads = [
        members.balance(uow, program_id, "ANA@example.com"),
        members.balance(uow, program_id, "c-ana"),
        members.balance(uow, program_id, str(ana), by_member_id=True),
    ]
    assert reads[0] == reads[1] == reads[2]
    assert (reads[0]["member_id"], reads[0]["available"], reads[0]["pending"]) == (ana, 50, 40)
    expiry = reads[0]["next_expiry"]
    assert (datetime.fromisoformat(expiry["at"]), expiry["points"]) == (
        T0 + timedelta(days=365),
        30,
    )
    with pytest.raises(NotFound):
        members.balance(uow, program_id, "c-nobody")
    with pytest.raises(InvalidInput):
        members.balance(uow, program_id, "ana", by_member_id=True)


def test_points_still_pending_are_not_counted_as_expiring(uow: UnitOfWork) -> None:
    text = example("cafe.yaml").replace("pending_days: 0 ", "pending_days: 14 ")
    text = text.replace("policy: rolling ", "policy: inactivity")  # one deadline for all lots
    program_id = programs.apply(uow, text, now=T0).program_id
    enroll(uow, program_id, "ana@example.com", T0)
    purchase(uow, program_id, "ana@example.com", "A1", "30.00", T0)
    jobs.run_due(uow, program_id, now=T0 + timedelta(days=14))
    purchase(uow, program_id, "ana@example.com", "A2", "20.00", T0 + timedelta(days=14))
    expiry = members.balance(uow, program_id, "ana@example.com")["next_expiry"]
    assert (datetime.fromisoformat(expiry["at"]), expiry["points"]) == (
        T0 + timedelta(days=14 + 365),
        30,
    )


def test_a_refund_inside_the_waiting_time_cancels_the_pending_points(uow: UnitOfWork) -> None:
    from tests.services.helpers import send

    text = example("cafe.yaml").replace("pending_days: 0 ", "pending_days: 14 ")
    program_id = programs.apply(uow, text, now=T0).program_id
    enroll(uow, program_id, "ana@example.com", T0)
    purchase(uow, program_id, "ana@example.com", "A1", "30.00", T0)
    send(uow, program_id, T0 + timedelta(days=2), idempotency_key="r", type="refund", order_id="A1")
    assert balance(uow, program_id, "ana@example.com") == (0, 0, 0)
    assert ledger.summary(uow, program_id)["reversed"] == 30


def test_birthday_bonuses_are_granted_by_run_due(uow: UnitOfWork, cafe: ProgramId) -> None:
    enroll(uow, cafe, "ana@example.com", T0, birthday="1990-02-01")
    before = jobs.run_due(uow, cafe, now=datetime(2026, 1, 31, 22, 59, tzinfo=UTC))
    assert before == {}  # nothing due yet (and no one subscribed: no outbox rows to drop)
    due = jobs.run_due(uow, cafe, now=datetime(2026, 1, 31, 23, 0, tzinfo=UTC))  # Paris midnight
    assert due["earn"] == 1
    assert balance(uow, cafe, "ana@example.com") == (100, 0, 0)
    assert jobs.run_due(uow, cafe, now=datetime(2026, 6, 1, tzinfo=UTC)).get("earn") is None
    last = members.show(uow, cafe, "ana@example.com")["history"][-1]
    assert last["rules"] == ["birthday"] and last["cause"]["reason"] == "the member's birthday"


def test_the_tier_review_downgrades_a_member_who_no_longer_qualifies(
    uow: UnitOfWork, cafe: ProgramId
) -> None:
    listen(uow, cafe, T0)
    enroll(uow, cafe, "ana@example.com", T0)
    purchase(uow, cafe, "ana@example.com", "A1", "520.00", T0)
    assert members.show(uow, cafe, "ana@example.com")["tier"]["id"] == "gold"
    jobs.run_due(uow, cafe, now=T0 + timedelta(days=364))
    assert members.show(uow, cafe, "ana@example.com")["tier"]["id"] == "gold"
    jobs.run_due(uow, cafe, now=T0 + timedelta(days=365))
    assert members.show(uow, cafe, "ana@example.com")["tier"]["id"] == "bronze"
    with uow:
        changes = (
            uow.connection.execute(
                select(outbox.c.data).where(outbox.c.kind == "tier.changed").order_by(outbox.c.id)
            )
            .scalars()
            .all()
        )
    assert changes == [{"from": "bronze", "to": "gold"}, {"from": "gold", "to": "bronze"}]


def test_a_gold_member_earns_half_as_much_again(uow: UnitOfWork, cafe: ProgramId) -> None:
    listen(uow, cafe, T0)
    enroll(uow, cafe, "ana@example.com", T0)
    purchase(uow, cafe, "ana@example.com", "A1", "520.00", T0)
    later = purchase(uow, cafe, "ana@example.com", "A2", "10.99", T0 + timedelta(days=1))
    assert later.result["points"] == 16 and later.result["tier"] == "gold"  # 10.99 x 1.5 = 16.485


def test_a_new_program_version_reaches_every_member_at_the_next_run(
    uow: UnitOfWork, cafe: ProgramId
) -> None:
    enroll(uow, cafe, "ana@example.com", T0)
    purchase(uow, cafe, "ana@example.com", "A1", "250.00", T0)
    renamed = example("cafe.yaml").replace("id: silver", "id: argent")
    later = T0 + timedelta(days=2)
    programs.apply(uow, renamed, now=later)
    assert members.show(uow, cafe, "ana@example.com")["tier"]["earn_multiplier"] is None
    jobs.run_due(uow, cafe, now=later)
    assert members.show(uow, cafe, "ana@example.com")["tier"]["id"] == "argent"


def test_a_member_is_found_only_by_a_well_formed_reference(
    uow: UnitOfWork, cafe: ProgramId
) -> None:
    from fidela.domain.errors import InvalidInput

    with pytest.raises(InvalidInput) as caught:
        members.show(uow, cafe, "x@")
    assert caught.value.field == "member"
    with pytest.raises(InvalidInput):
        members.show(uow, cafe, "abc", by_member_id=True)


def test_under_inactivity_a_purchase_keeps_every_lot_alive_until_days_after_it(
    uow: UnitOfWork,
) -> None:
    text = example("cafe.yaml").replace("policy: rolling ", "policy: inactivity")
    program_id = programs.apply(uow, text, now=T0).program_id
    listen(uow, program_id, T0)
    enroll(uow, program_id, "ana@example.com", T0)
    purchase(uow, program_id, "ana@example.com", "A1", "30.00", T0)
    purchase(uow, program_id, "ana@example.com", "A2", "20.00", T0 + timedelta(days=300))
    deadline = T0 + timedelta(days=665)
    lots = members.show(uow, program_id, "ana@example.com")["lots"]
    assert [datetime.fromisoformat(lot["expires_at"]) for lot in lots] == [deadline] * 2
    expiry = members.balance(uow, program_id, "ana@example.com")["next_expiry"]
    assert (datetime.fromisoformat(expiry["at"]), expiry["points"]) == (deadline, 50)
    assert jobs.run_due(uow, program_id, now=T0 + timedelta(days=640)) == {
        "members": 1,
        "points.expiring": 1,
    }
    assert balance(uow, program_id, "ana@example.com") == (50, 0, 0)
    assert jobs.run_due(uow, program_id, now=deadline)["points_expired"] == 50
    assert balance(uow, program_id, "ana@example.com") == (0, 0, 0)
    with uow:
        reminders = uow.connection.execute(
            select(outbox.c.data).where(outbox.c.kind == "points.expiring")
        ).scalars()
        assert [(r["points"], datetime.fromisoformat(r["expires_at"])) for r in reminders] == [
            (50, deadline)
        ]
    assert ledger.verify(uow, program_id).ok
