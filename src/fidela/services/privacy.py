"""A person's rights over their data: an export of everything held, and erasure.

Erasure closes the account: the points and the store credit are forfeited by an
adjustment (so the program's liability stops counting them), a running membership ends,
referrals not yet decided are cancelled, and the personal data goes. The
ledger keeps every transaction, by member id, so totals and the hash chain still
verify. What was erased can't be brought back; the member id stays, with no name.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fidela.domain import members as member_rules
from fidela.domain.errors import Conflict
from fidela.domain.ids import CustomerId, MemberId, ProgramId
from fidela.domain.ledger import Account
from fidela.domain.money import from_minor
from fidela.services import memberships, referrals
from fidela.services.members import catch_up, post_member, show
from fidela.services.shown import local_time
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
        program = reader.programs.current(program_id).program
        credit_payments = reader.redemptions.credit_payments_of(member_id)
        their_referrals = reader.referrals.of_member(member_id)
    membership = memberships.show(uow, program_id, member_id)
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
        "membership": membership,
        "credit_payments": [
            {
                "payment_id": payment.id,
                "order_id": payment.order_ref,
                "amount": str(from_minor(payment.amount_minor, program.currency)),
                "status": payment.status,
                "created_at": local_time(program, payment.created_at),
            }
            for payment in credit_payments
        ],
        "referrals": [referrals.described(program, row) for row in their_referrals],
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
        closed = member_rules.close_account(state, now, actor=actor, reason=FORFEIT_REASON)
        outcome.extend(closed)
        forfeited = sum(t.points(Account.ADJUSTED) for t in closed.transactions)
        credit_forfeited = sum(t.points(Account.CREDIT_ADJUSTED) for t in closed.transactions)
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
