"""A person's rights over their data: an export of everything held, and erasure.

Erasure closes the account: the points and the store credit are forfeited by an
adjustment (so the program's liability stops counting them), and the personal data goes. The
ledger keeps every transaction, by member id, so totals and the hash chain still
verify. What was erased can't be brought back; the member id stays, with no name.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fidela.domain.errors import Conflict
from fidela.domain.ids import CustomerId, MemberId, ProgramId
from fidela.domain.ledger import Account
from fidela.domain.money import from_minor
from fidela.services.members import catch_up, post_member, show
from fidela.store.unit_of_work import UnitOfWork

FORFEIT_REASON = "the member's data was erased on request: the account is closed"


def export(uow: UnitOfWork, program_id: ProgramId, member_id: MemberId) -> dict[str, Any]:
    """Everything Fidela holds on the member, as JSON-ready data."""
    account = show(uow, program_id, str(member_id), by_member_id=True)
    with uow.reading() as reader:
        member = reader.members.get(program_id, member_id)
        assert member is not None
        customer_id = CustomerId(member.customer_id)
        customer = reader.privacy.customer(customer_id)
        events = reader.privacy.events_of(program_id, customer_id)
        orders = reader.privacy.orders_of(program_id, customer_id)
    return {
        "program": program_id,
        "customer": {
            "customer_id": customer.external_id,
            "email": customer.email,
            "first_seen_at": customer.first_seen_at.isoformat(),
        },
        "account": account,
        "erased_at": member.erased_at.isoformat() if member.erased_at else None,
        "events": [
            {
                "idempotency_key": event.idempotency_key,
                "type": event.type,
                "occurred_at": event.occurred_at.isoformat(),
                "recorded_at": event.recorded_at.isoformat(),
                "sent": event.payload,
                "result": event.result,
            }
            for event in events
        ],
        "orders": [
            {
                "order_id": order.order_ref,
                "occurred_at": order.occurred_at.isoformat(),
                "currency": order.currency,
                "amount_minor": order.amount_minor,
                "refunded_minor": order.refunded_minor,
                "points": order.points,
                "reversed_points": order.reversed_points,
                "cashback_minor": order.cashback,
                "reversed_cashback_minor": order.reversed_cashback,
                "lines": order.lines,
            }
            for order in orders
        ],
    }


def erase(
    uow: UnitOfWork, program_id: ProgramId, member_id: MemberId, *, actor: str, now: datetime
) -> dict[str, Any]:
    """Forfeit the member's points and remove their personal data, in one transaction."""
    with uow:
        program = uow.programs.current(program_id).program
        member = uow.members.get(program_id, member_id)
        state, outcome = catch_up(uow, program, member_id, now)
        assert member is not None
        if member.erased_at is not None:
            raise Conflict("member", f"was erased on {member.erased_at.isoformat()}")
        forfeit = state.wallet.forfeit(now, actor=actor, reason=FORFEIT_REASON)
        outcome.add(forfeit)
        forfeited = forfeit.points(Account.ADJUSTED) if forfeit else 0
        credit = state.credit.forfeit(now, actor=actor, reason=FORFEIT_REASON)
        outcome.add(credit)
        credit_forfeited = credit.points(Account.CREDIT_ADJUSTED) if credit else 0
        post_member(uow, program, member_id, state, outcome, now)
        scrubbed = uow.privacy.erase(program_id, member_id, CustomerId(member.customer_id), now)
        uow.commit()
    return {
        "member_id": member_id,
        "erased_at": now.isoformat(),
        "points_forfeited": forfeited,
        "credit_forfeited": str(from_minor(credit_forfeited, program.currency)),
        "events_scrubbed": scrubbed,
    }
