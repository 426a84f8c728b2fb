"""Recording events on SQLite and PostgreSQL: earning, idempotency, refunds, customers."""

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from fidela.domain.errors import Conflict, InvalidInput, NotFound
from fidela.domain.events import Event, parse_event
from fidela.domain.ids import CustomerId, ProgramId
from fidela.services import events as events_service
from fidela.services import ledger, members, programs
from fidela.services.events import Hints, Recorded
from fidela.store.reads import Read
from fidela.store.tables import events, lines, orders
from fidela.store.unit_of_work import UnitOfWork
from tests.conftest import T0, example
from tests.services.helpers import balance, enroll, purchase, send


def count(uow: UnitOfWork, table) -> int:  # type: ignore[no-untyped-def]
    with uow:
        return int(uow.connection.execute(select(func.count()).select_from(table)).scalar_one())


def test_a_purchase_earns_points_per_euro_with_the_rule_named(
    uow: UnitOfWork, cafe: ProgramId
) -> None:
    enroll(uow, cafe, "ana@example.com", T0)
    recorded = purchase(uow, cafe, "ana@example.com", "A1", "12.99", T0)
    assert recorded.result["points"] == 12
    assert recorded.result["rules"] == ["base"]
    report = members.show(uow, cafe, "ana@example.com")
    assert report["available"] == 12
    last = report["history"][-1]
    assert last["cause"] == {"kind": "earn", "event": "purchase", "idempotency_key": "purchase-A1"}
    assert last["rules"] == ["base"]
    assert [lot["expires_at"][:10] for lot in report["lots"]] == ["2027-01-05"]


def test_the_same_event_sent_twice_counts_once(uow: UnitOfWork, cafe: ProgramId) -> None:
    enroll(uow, cafe, "ana@example.com", T0)
    first = purchase(uow, cafe, "ana@example.com", "A1", "20.00", T0)
    rows_before = (count(uow, events), count(uow, lines))
    retry_later = T0 + timedelta(minutes=1)
    again = purchase(
        uow, cafe, "ana@example.com", "A1", "20.00", retry_later, occurred_at=T0.isoformat()
    )
    assert again.duplicate and again.event_no == first.event_no and again.result == first.result
    assert (count(uow, events), count(uow, lines)) == rows_before
    assert balance(uow, cafe, "ana@example.com") == (20, 0, 0)


def test_a_key_reused_with_other_content_is_a_conflict(uow: UnitOfWork, cafe: ProgramId) -> None:
    enroll(uow, cafe, "ana@example.com", T0)
    purchase(uow, cafe, "ana@example.com", "A1", "20.00", T0)
    with pytest.raises(Conflict) as caught:
        purchase(uow, cafe, "ana@example.com", "A1", "21.00", T0)
    assert caught.value.field == "idempotency_key"
    assert balance(uow, cafe, "ana@example.com") == (20, 0, 0)


def test_bad_input_names_the_field_and_changes_nothing(uow: UnitOfWork, cafe: ProgramId) -> None:
    enroll(uow, cafe, "ana@example.com", T0)
    before = (count(uow, events), count(uow, orders), count(uow, lines))
    with pytest.raises(InvalidInput) as wrong_currency:
        purchase(uow, cafe, "ana@example.com", "A1", "20.00", T0, currency="USD")
    assert wrong_currency.value.field == "currency"
    with pytest.raises(InvalidInput) as negative:
        purchase(uow, cafe, "ana@example.com", "A2", "-1", T0)
    assert negative.value.field == "amount"
    with pytest.raises(InvalidInput) as future:
        purchase(
            uow,
            cafe,
            "ana@example.com",
            "A3",
            "5",
            T0,
            occurred_at=(T0 + timedelta(days=1)).isoformat(),
        )
    assert future.value.field == "occurred_at"
    with pytest.raises(InvalidInput) as too_fine:
        purchase(uow, cafe, "ana@example.com", "A4", "5.001", T0)
    assert too_fine.value.field == "amount"
    assert (count(uow, events), count(uow, orders), count(uow, lines)) == before


def test_every_tenth_purchase_earns_the_bonus(uow: UnitOfWork, cafe: ProgramId) -> None:
    enroll(uow, cafe, "ana@example.com", T0)
    results = [
        purchase(uow, cafe, "ana@example.com", f"A{i}", "3.50", T0 + timedelta(hours=i)).result
        for i in range(1, 11)
    ]
    assert [r["points"] for r in results] == [3] * 9 + [53]
    assert results[-1]["rules"] == ["base", "tenth-visit"]


def test_a_review_earns_once_a_day(uow: UnitOfWork, cafe: ProgramId) -> None:
    enroll(uow, cafe, "ana@example.com", T0)
    review = {"type": "review", "customer": {"email": "ana@example.com"}}
    assert send(uow, cafe, T0, idempotency_key="r1", **review).result["points"] == 20
    assert send(uow, cafe, T0, idempotency_key="r2", **review).result["points"] == 0
    assert (
        send(uow, cafe, T0 + timedelta(days=1), idempotency_key="r3", **review).result["points"]
        == 20
    )
    assert balance(uow, cafe, "ana@example.com") == (40, 0, 0)


def test_a_refund_reverses_the_orders_points_in_proportion(
    uow: UnitOfWork, cafe: ProgramId
) -> None:
    enroll(uow, cafe, "ana@example.com", T0)
    purchase(uow, cafe, "ana@example.com", "A1", "80.00", T0)
    refund = {"type": "refund", "order_id": "A1"}
    partial = send(
        uow, cafe, T0 + timedelta(days=1), idempotency_key="ref1", amount="20.00", **refund
    )
    assert partial.result["points"] == -20
    whole = send(uow, cafe, T0 + timedelta(days=2), idempotency_key="ref2", **refund)
    assert whole.result["points"] == -60
    assert balance(uow, cafe, "ana@example.com") == (0, 0, 0)
    with pytest.raises(InvalidInput, match="already fully refunded"):
        send(uow, cafe, T0 + timedelta(days=3), idempotency_key="ref3", **refund)
    summary = ledger.summary(uow, cafe)
    assert (summary["issued"], summary["reversed"], summary["outstanding"]) == (80, 80, 0)


def test_a_refund_of_spent_points_leaves_a_debt_the_next_purchase_repays(
    uow: UnitOfWork, cafe: ProgramId
) -> None:
    from fidela.services import rewards

    member_id = enroll(uow, cafe, "ana@example.com", T0)
    purchase(uow, cafe, "ana@example.com", "A1", "100.00", T0)
    rewards.redeem(uow, cafe, member_id, "voucher-10", now=T0)
    send(uow, cafe, T0, idempotency_key="ref", type="refund", order_id="A1")
    assert balance(uow, cafe, "ana@example.com") == (0, 0, 100)
    purchase(uow, cafe, "ana@example.com", "A2", "130.00", T0 + timedelta(hours=1))
    assert balance(uow, cafe, "ana@example.com") == (30, 0, 0)
    assert ledger.verify(uow, cafe).ok


def test_a_refund_of_an_unknown_order_is_refused(uow: UnitOfWork, cafe: ProgramId) -> None:
    with pytest.raises(NotFound) as caught:
        send(uow, cafe, T0, idempotency_key="ref", type="refund", order_id="nope")
    assert caught.value.field == "order_id"


def test_purchases_of_customers_who_never_enrolled_are_recorded_and_linked_later(
    uow: UnitOfWork, cafe: ProgramId
) -> None:
    first = purchase(uow, cafe, "bob@example.com", "B1", "40.00", T0)
    assert first.result == {
        "type": "purchase",
        "member_id": None,
        "points": 0,
        "rules": [],
        "tier": None,
    }
    assert count(uow, orders) == 1
    member_id = enroll(uow, cafe, "Bob@Example.com ", T0 + timedelta(days=1))
    second = purchase(uow, cafe, "bob@example.com", "B2", "10.00", T0 + timedelta(days=2))
    assert second.result["member_id"] == member_id and second.result["points"] == 10
    with uow:
        linked = uow.connection.execute(select(orders.c.customer_id).distinct()).scalars().all()
    assert len(linked) == 1  # both orders belong to the same customer


def test_enrolling_twice_returns_the_same_member(uow: UnitOfWork, cafe: ProgramId) -> None:
    first = enroll(uow, cafe, "ana@example.com", T0)
    assert enroll(uow, cafe, "ANA@example.com", T0) == first


def test_activity_of_an_unknown_customer_is_refused(uow: UnitOfWork, cafe: ProgramId) -> None:
    with pytest.raises(NotFound):
        send(uow, cafe, T0, idempotency_key="v", type="review", customer={"email": "x@example.com"})


def test_a_purchase_dated_before_enrollment_earns_nothing(uow: UnitOfWork, cafe: ProgramId) -> None:
    enroll(uow, cafe, "ana@example.com", T0)
    early = purchase(
        uow,
        cafe,
        "ana@example.com",
        "A0",
        "50.00",
        T0,
        occurred_at=(T0 - timedelta(days=1)).isoformat(),
    )
    assert early.result["member_id"] is None
    assert early.result["points"] == 0
    assert balance(uow, cafe, "ana@example.com") == (0, 0, 0)


def test_enrolling_never_replaces_a_customers_shop_id(uow: UnitOfWork, cafe: ProgramId) -> None:
    enroll(uow, cafe, "ana@example.com", T0, customer_id="shop-1")
    with pytest.raises(Conflict) as caught:
        enroll(uow, cafe, "ana@example.com", T0, customer_id="shop-2")
    assert caught.value.field == "customer_id"
    assert members.show(uow, cafe, "shop-1")["email"] == "ana@example.com"


def test_two_concurrent_full_refunds_of_one_order_reverse_its_points_once(
    engine, uow: UnitOfWork, cafe: ProgramId
) -> None:  # type: ignore[no-untyped-def]
    from concurrent.futures import ThreadPoolExecutor

    from tests.services.helpers import send as send_with

    enroll(uow, cafe, "ana@example.com", T0)
    purchase(uow, cafe, "ana@example.com", "A1", "60.00", T0)
    purchase(uow, cafe, "ana@example.com", "A2", "40.00", T0)

    def refund_all(n: int) -> bool:
        try:
            send_with(
                UnitOfWork(engine),
                cafe,
                T0,
                idempotency_key=f"ref{n}",
                type="refund",
                order_id="A1",
            )
        except InvalidInput:
            return False
        return True

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(refund_all, range(8)))
    assert outcomes.count(True) == 1
    assert balance(uow, cafe, "ana@example.com") == (40, 0, 0)
    assert ledger.summary(uow, cafe)["reversed"] == 60


def test_copies_of_an_event_sent_at_once_record_it_once(
    engine, uow: UnitOfWork, cafe: ProgramId
) -> None:  # type: ignore[no-untyped-def]
    """No member to lock: the copies race to the events table, and the losers answer the
    first result (their unique violation, raised by the pipelined writes on PostgreSQL,
    makes them run again)."""
    from concurrent.futures import ThreadPoolExecutor

    purchase(uow, cafe, "guest@example.com", "G1", "10.00", T0)  # a customer, not a member

    def send_copy(_: int) -> tuple[int, bool]:
        recorded = purchase(UnitOfWork(engine), cafe, "guest@example.com", "G2", "12.00", T0)
        return recorded.event_no, recorded.duplicate

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(send_copy, range(8)))
    assert len({event_no for event_no, _ in outcomes}) == 1
    assert [duplicate for _, duplicate in outcomes].count(False) == 1
    assert count(uow, orders) == 2 and ledger.verify(uow, cafe).ok


def test_an_order_recorded_meanwhile_under_another_key_leaves_nothing_of_the_loser(
    engine, uow: UnitOfWork, cafe: ProgramId
) -> None:  # type: ignore[no-untyped-def]
    """Both events look their order up before either holds the ledger; the loser's writes
    fail on the order's key in the pipeline that also carries its COMMIT, so none of them
    stays (not its event row either), and its second run answers the conflict."""
    from concurrent.futures import ThreadPoolExecutor

    from sqlalchemy import text

    from tests.services.helpers import ledger_held, wait_until

    purchase(uow, cafe, "guest@example.com", "G0", "5.00", T0)  # a customer, not a member
    events_before = count(uow, events)

    def waiting_for_a_lock() -> int:
        with engine.connect() as connection:
            query = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            return int(connection.execute(text(query)).scalar_one())

    def send_under(key: str) -> object:
        try:
            return send(
                UnitOfWork(engine),
                cafe,
                T0,
                type="purchase",
                idempotency_key=key,
                customer={"email": "guest@example.com"},
                order_id="G1",
                amount="12.00",
                currency="EUR",
            )
        except Conflict as refused:
            return refused

    with ThreadPoolExecutor(max_workers=2) as pool:
        with ledger_held(engine, cafe):
            sent = [pool.submit(send_under, key) for key in ("first-key", "second-key")]
            if engine.dialect.name == "postgresql":  # both looked G1 up: wait at the ledger
                wait_until(lambda: waiting_for_a_lock() == 2)
        outcomes = [future.result() for future in sent]
    refused = [o for o in outcomes if isinstance(o, Conflict)]
    assert len(refused) == 1 and refused[0].field == "order_id"
    assert count(uow, events) == events_before + 1 and count(uow, orders) == 2
    assert ledger.verify(uow, cafe).ok


def named(customer: dict[str, str], order_id: str, amount: str) -> Event:
    return parse_event(
        {
            "type": "purchase",
            "idempotency_key": f"purchase-{order_id}",
            "customer": customer,
            "order_id": order_id,
            "amount": amount,
            "currency": "EUR",
            "occurred_at": T0.isoformat(),
        }
    )


def by_shop_id(customer_id: str, order_id: str, amount: str) -> Event:
    return named({"customer_id": customer_id}, order_id, amount)


def record_hinted(uow: UnitOfWork, cafe: ProgramId, hints: Hints, event: Event) -> int:
    """The points the event earned, recorded with `hints`."""
    (outcome,) = events_service.record_all(uow, cafe, [event], now=T0, hints=hints)
    assert isinstance(outcome, Recorded)
    return int(outcome.result["points"])


def test_hints_naming_another_member_are_found_out_and_credit_no_one_wrongly(
    uow: UnitOfWork, cafe: ProgramId
) -> None:
    ana = enroll(uow, cafe, "ana@example.com", T0, customer_id="shop-ana")
    bea = enroll(uow, cafe, "bea@example.com", T0)
    hints = Hints()
    assert record_hinted(uow, cafe, hints, by_shop_id("shop-ana", "A1", "10.00")) == 10
    with uow.reading() as reader:
        stored = reader.programs.current(cafe)
    wrong = {(None, "bea@example.com"): (CustomerId(1), ana)}  # Bea's e-mail, Ana's member
    hints.learn(stored, wrong)
    assert (
        record_hinted(uow, cafe, hints, named({"email": " Bea@Example.com"}, "B1", "30.00")) == 30
    )
    assert record_hinted(uow, cafe, hints, by_shop_id("shop-ana", "A2", "5.00")) == 5
    assert balance(uow, cafe, "ana@example.com") == (15, 0, 0)
    assert balance(uow, cafe, "bea@example.com") == (30, 0, 0)
    learned = hints.guess(cafe, [("shop-ana", None), (None, "bea@example.com")])
    assert learned == (stored, {ana, bea})
    hints.learn(stored, {("shop-cid", None): (CustomerId(1), ana)})  # names no member
    assert record_hinted(uow, cafe, hints, by_shop_id("shop-cid", "C1", "8.00")) == 0
    assert hints.guess(cafe, [("shop-cid", None)]) is None
    assert balance(uow, cafe, "ana@example.com") == (15, 0, 0)
    assert ledger.verify(uow, cafe).ok


def test_hinted_members_are_read_with_the_look_ups(
    uow: UnitOfWork, cafe: ProgramId, monkeypatch: pytest.MonkeyPatch
) -> None:
    enroll(uow, cafe, "ana@example.com", T0, customer_id="shop-ana")
    reads: list[int] = []
    read = UnitOfWork.read

    def counted(self: UnitOfWork, *wanted: Read[Any]) -> None:
        reads.append(len(wanted))
        read(self, *wanted)

    monkeypatch.setattr(UnitOfWork, "read", counted)
    hints = Hints()
    assert record_hinted(uow, cafe, hints, by_shop_id("shop-ana", "A1", "10.00")) == 10
    alone = len(reads)
    assert record_hinted(uow, cafe, hints, by_shop_id("shop-ana", "A2", "10.00")) == 10
    assert len(reads) - alone == alone - 1  # one read fewer: the member's, with the look-ups
    assert reads[alone] > reads[0]


def test_a_lifetime_limit_on_birthdays_holds_when_a_purchase_reaches_the_birthday(
    uow: UnitOfWork, cafe: ProgramId
) -> None:
    text = example("cafe.yaml")
    assert text.count("    points: 100\n") == 1  # the birthday rule's
    once = text.replace(
        "    points: 100\n", "    points: 100\n    limit: {count: 1, per: lifetime}\n"
    )
    programs.apply(uow, once, now=T0)
    enroll(uow, cafe, "ana@example.com", T0, birthday="1990-01-10")
    purchase(uow, cafe, "ana@example.com", "A1", "10.00", T0 + timedelta(days=10))
    purchase(uow, cafe, "ana@example.com", "A2", "10.00", T0 + timedelta(days=375))
    history = members.show(uow, cafe, "ana@example.com")["history"]
    assert [line["rules"] for line in history].count(["birthday"]) == 1


def test_hints_of_an_earlier_version_of_the_program_are_found_out(
    uow: UnitOfWork, cafe: ProgramId
) -> None:
    enroll(uow, cafe, "ana@example.com", T0, customer_id="shop-ana")
    with_tiers = example("cafe.yaml")
    without_tiers = with_tiers[: with_tiers.index("\ntiers:")] + "\n"
    assert programs.apply(uow, without_tiers, now=T0).version == 2
    hints = Hints()
    assert record_hinted(uow, cafe, hints, by_shop_id("shop-ana", "A1", "210.00")) == 210
    assert programs.apply(uow, with_tiers, now=T0).version == 3
    # Version 3 reads what Ana spent in the year (210.00): she is silver, and earns 1.25
    # points per euro.
    assert record_hinted(uow, cafe, hints, by_shop_id("shop-ana", "A2", "20.00")) == 25
    assert balance(uow, cafe, "ana@example.com") == (235, 0, 0)
