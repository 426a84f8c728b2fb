"""Recording an event: purchase, refund, birthday or activity, exactly once per key."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from fidela.domain import members as member_rules
from fidela.domain.errors import Conflict, FidelaError, InvalidInput, NotFound
from fidela.domain.events import (
    Activity,
    Birthday,
    Encoded,
    Event,
    Purchase,
    Refund,
    normalize_email,
    parse_event,
)
from fidela.domain.ids import CustomerId, MemberId, ProgramId
from fidela.domain.ledger import MEMBER_ACCOUNTS, SCHEDULER
from fidela.domain.members import MemberState, OrderState, Outcome
from fidela.domain.money import to_minor
from fidela.domain.program import Program
from fidela.services.members import resolve
from fidela.store.ledger import Changes, NewEvent
from fidela.store.unit_of_work import UnitOfWork, run

CLOCK_SKEW = timedelta(minutes=5)  # how far in the future a shop's clock may run


@dataclass(frozen=True)
class Recorded:
    event_no: int
    duplicate: bool
    result: dict[str, Any]


def record(uow: UnitOfWork, program_id: ProgramId, event: Event, *, now: datetime) -> Recorded:
    """Apply an event once: a retry with the same key and content returns the first result."""
    if event.occurred_at > now + CLOCK_SKEW:
        raise InvalidInput("occurred_at", f"{event.occurred_at.isoformat()} is in the future")
    return run(uow, lambda uow: _record(uow, program_id, event, now))


def record_each(
    uow: UnitOfWork, program_id: ProgramId, items: list[dict[str, Any]], *, now: datetime
) -> list[Recorded | FidelaError]:
    """Parse and record each event on its own: a bad one is answered and stops no other."""
    outcomes: list[Recorded | FidelaError] = []
    for data in items:
        try:
            outcomes.append(record(uow, program_id, parse_event(data), now=now))
        except FidelaError as error:
            outcomes.append(error)
    return outcomes


def _record(uow: UnitOfWork, program_id: ProgramId, event: Event, now: datetime) -> Recorded:
    stored = uow.programs.current(program_id)
    program = stored.program
    order: OrderState | None = None
    customer_id: CustomerId | None
    member_id: MemberId | None
    if isinstance(event, Refund):
        found = uow.events.order(program_id, event.order_id)
        if found is None:
            raise NotFound("order_id", f"no order {event.order_id} in {program_id}")
        order_row, order = found
        customer_id = CustomerId(order_row.customer_id)
        member_id = MemberId(order_row.member_id) if order_row.member_id else None
    else:
        customer_id, member_id = resolve(uow, program_id, event.customer)
    if member_id is not None:
        uow.members.lock([member_id])
    previous = uow.events.by_key(program_id, event.idempotency_key)
    if previous is not None:
        if previous.content_hash != event.content_hash():
            reason = "was already used for an event with other content"
            raise Conflict("idempotency_key", reason)
        return Recorded(previous.event_no, duplicate=True, result=previous.result)

    state = None
    if member_id is not None:
        state = uow.members.load_states(program, [member_id], event.occurred_at)[member_id]
        if event.occurred_at < state.enrolled_at:
            # Before enrolling, the member was a customer: the event earns nothing.
            state, member_id = None, None
    if state is not None and order is not None:
        # The refund must change the very lot objects the member's wallet holds.
        open_lots = {lot.lot_no: lot for lot in state.wallet.lots}
        order.lots = [open_lots[lot.lot_no] for lot in order.lots if lot.lot_no in open_lots]
    changes = Changes(program)
    cause = new_event(event, customer_id, member_id, stored.version)
    match event:
        case Purchase():
            if customer_id is None:
                ref = event.customer
                email = normalize_email(ref.email) if ref.email else None
                customer_id = uow.customers.add(
                    program_id, external_id=ref.customer_id, email=email, at=event.occurred_at
                )
                cause.customer_id = customer_id
            outcome = _purchase(uow, program, program_id, event, state, changes, cause, customer_id)
        case Refund():
            assert order is not None
            outcome = _refund(program, event, state, order)
            changes.changed_orders.append(order)
        case Birthday() | Activity():
            if customer_id is None:
                raise NotFound("customer", "no customer or member matches this reference")
            outcome = Outcome()
            if state is not None:
                outcome = member_rules.activity(program, state, event.type, event.occurred_at)
    changes.events.append(cause)
    if state is not None and member_id is not None:
        changes.record(member_id, state, outcome, cause)
    cause.result = event_result(cause, outcome, state)
    uow.ledger.post(program_id, changes, now)
    uow.commit()
    assert cause.event_no is not None
    return Recorded(cause.event_no, duplicate=False, result=cause.result)


def _purchase(
    uow: UnitOfWork,
    program: Program,
    program_id: ProgramId,
    event: Purchase,
    state: MemberState | None,
    changes: Changes,
    cause: NewEvent,
    customer_id: CustomerId,
) -> Outcome:
    program.check_currency(event.currency, "currency")
    if uow.events.existing_orders(program_id, [event.order_id]):
        raise Conflict("order_id", f"order {event.order_id} was already recorded")
    order = new_order(event)
    changes.new_orders.append((order, customer_id, cause.member_id, cause))
    if state is None:
        return Outcome()
    return member_rules.purchase(program, state, order, event.amount)


def _refund(
    program: Program, event: Refund, state: MemberState | None, order: OrderState
) -> Outcome:
    amount, quantities = member_rules.refund_amount(order, event)
    order.refunded_quantities = quantities
    return member_rules.refund(program, state, order, amount, event.occurred_at)


def new_event(
    event: Event,
    customer_id: CustomerId | None,
    member_id: MemberId | None,
    version: int,
    encoded: Encoded | None = None,
) -> NewEvent:
    """The stored form of an accepted event; its result is filled in once applied."""
    canonical, digest = encoded or event.encode()
    return NewEvent(
        key=event.idempotency_key,
        content_hash=digest,
        type=event.type,
        customer_id=customer_id,
        member_id=member_id,
        occurred_at=event.occurred_at,
        payload=canonical,
        result={},
        program_version=version,
    )


def new_order(purchase: Purchase) -> OrderState:
    return OrderState(
        order_ref=purchase.order_id,
        occurred_at=purchase.occurred_at,
        amount_minor=to_minor(purchase.amount, purchase.currency),
        currency=purchase.currency,
        lines=purchase.lines,
    )


def event_result(cause: NewEvent, outcome: Outcome, state: MemberState | None) -> dict[str, Any]:
    """What the event did, kept so that a retry gets the same answer."""
    own = [t for t in outcome.transactions if t.actor != SCHEDULER]
    points = sum(
        line.amount
        for transaction in own
        for line in transaction.lines
        if line.account in MEMBER_ACCOUNTS
    )
    return {
        "type": cause.type,
        "member_id": cause.member_id,
        "points": points,
        "rules": sorted({line.rule_id for t in own for line in t.lines if line.rule_id}),
        "tier": state.tier if state else None,
    }
