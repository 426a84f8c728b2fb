"""Redeeming rewards, cancelling redemptions, and validating and consuming vouchers."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from fidela.domain import members as member_rules
from fidela.domain import rewards
from fidela.domain.errors import Conflict, InvalidInput, NotFound
from fidela.domain.ids import MemberId, ProgramId, Seq
from fidela.domain.members import Effect
from fidela.domain.money import to_minor
from fidela.services.members import catch_up, post_member, spent_by
from fidela.store.unit_of_work import UnitOfWork, run


def redeem(
    uow: UnitOfWork,
    program_id: ProgramId,
    member_id: MemberId,
    reward_id: str,
    *,
    payment: rewards.Payment | None = None,
    now: datetime,
) -> dict[str, Any]:
    """Spend the reward's cost and issue its voucher; never takes the balance below zero.

    A `points_as_payment` reward spends the points `payment` names for an order, and its
    voucher is the amount they take off.
    """

    def work(uow: UnitOfWork) -> dict[str, Any]:
        program = uow.programs.current(program_id).program
        state, outcome = catch_up(uow, program, member_id, now)
        reward = rewards.redeemable(program, reward_id, state.tier)
        points = rewards.payment_points(program, reward, payment)
        if reward.per_member_limit is not None or reward.stock is not None:
            # The member is locked (catch_up); the stock holds under the ledger head's lock.
            uow.ledger.lock(program_id)
            by_member = uow.redemptions.redeemed(program_id, member_id).get(reward_id, 0)
            by_everyone = uow.redemptions.redeemed(program_id).get(reward_id, 0)
            rewards.within_limits(reward, by_member, by_everyone)
        outcome.add(state.wallet.redeem(points, now, reason=f"reward {reward.id}"))
        seq = post_member(uow, program, member_id, state, outcome, now)[-1]
        code = rewards.new_voucher_code()
        terms = rewards.voucher_terms(program, reward, points, payment)
        redemption_id = uow.redemptions.add(
            program_id,
            member_id,
            reward_id=reward_id,
            points=points,
            seq=seq,
            voucher_code=code,
            voucher=terms,
            at=now,
        )
        announced = {"redemption_id": redemption_id, "reward_id": reward_id, "voucher_code": code}
        uow.webhooks.announce(
            program_id,
            member_id,
            Effect("reward.redeemed", now, announced | {"points": points}),
        )
        uow.commit()
        return {
            "redemption_id": redemption_id,
            "reward_id": reward_id,
            "points": points,
            "voucher_code": code,
            "voucher": terms,
            "available": state.wallet.available,
        }

    return run(uow, work)


def quote(
    uow: UnitOfWork,
    program_id: ProgramId,
    member_id: MemberId,
    reward_id: str,
    order_amount: Decimal,
    *,
    now: datetime,
) -> dict[str, Any]:
    """How many of the member's points can pay for an order of `order_amount` with a
    `points_as_payment` reward, and what they take off. Changes nothing."""
    with uow.reading() as reader:
        program = reader.programs.current(program_id).program
        state = reader.members.load_states(program, [member_id], now, lock=False).get(member_id)
    if state is None:
        raise NotFound("member_id", f"no member {member_id} in {program_id}")
    member_rules.advance(program, state, now)  # what expired or was released by now
    reward = rewards.redeemable(program, reward_id, state.tier)
    if reward.kind != "points_as_payment":
        raise InvalidInput("reward_id", f"{reward_id} is a {reward.kind}, not points_as_payment")
    to_minor(order_amount, program.currency, "order_amount")
    points = min(rewards.most_points_for(program, reward, order_amount), state.wallet.available)
    return {
        "reward_id": reward_id,
        "order_amount": str(order_amount),
        "currency": program.currency,
        "available": state.wallet.available,
        "points": points,
        "amount": str(rewards.paid_amount(program, points)),
    }


def cancel(
    uow: UnitOfWork, program_id: ProgramId, redemption_id: int, *, now: datetime
) -> dict[str, Any]:
    """Cancel a redemption whose voucher is unused: its points go back to the same lots."""
    with uow:
        program = uow.programs.current(program_id).program
        redemption = uow.redemptions.get(program_id, redemption_id)
        if redemption is None:
            raise NotFound("redemption_id", f"no redemption {redemption_id} in {program_id}")
        member_id = MemberId(redemption.member_id)
        state, outcome = catch_up(uow, program, member_id, now)
        redemption = uow.redemptions.get(program_id, redemption_id)  # again, now that it's locked
        assert redemption is not None
        if redemption.status != "issued":
            raise Conflict("redemption_id", f"the redemption is {redemption.status}")
        if redemption.seq is None:
            reason = "is a punch card's voucher: a refund of the order takes it back"
            raise Conflict("redemption_id", reason)
        spent = spent_by(uow, program_id, state.wallet, Seq(redemption.seq))
        reason = f"redemption {redemption_id} of {redemption.reward_id} cancelled"
        outcome.add(state.wallet.give_back(spent, now, reason=reason))
        seq = post_member(uow, program, member_id, state, outcome, now)[-1]
        if not uow.redemptions.close(redemption_id, status="cancelled", at=now, seq=seq):
            raise Conflict("redemption_id", "the voucher was used meanwhile")
        uow.commit()
    return {
        "redemption_id": redemption_id,
        "status": "cancelled",
        "available": state.wallet.available,
    }


def validate_voucher(uow: UnitOfWork, program_id: ProgramId, code: str) -> dict[str, Any]:
    """What a voucher is worth and whether it can still be used, for the shop's till."""
    with uow.reading() as uow:
        redemption = uow.redemptions.by_code(program_id, rewards.normalize_code(code))
    if redemption is None:
        raise NotFound("code", f"no voucher {code}")
    return {
        "code": redemption.voucher_code,
        "usable": redemption.status == "issued",
        "status": redemption.status,
        "reward_id": redemption.reward_id,
        "member_id": redemption.member_id,
        **redemption.voucher,
    }


def consume_voucher(
    uow: UnitOfWork, program_id: ProgramId, code: str, *, order_id: str | None, now: datetime
) -> dict[str, Any]:
    """Use a voucher: exactly once, even when two tills try at the same moment."""
    with uow:
        redemption = uow.redemptions.by_code(program_id, rewards.normalize_code(code))
        if redemption is None:
            raise NotFound("code", f"no voucher {code}")
        if not uow.redemptions.close(redemption.id, status="consumed", at=now, order_ref=order_id):
            current = uow.redemptions.get(program_id, redemption.id)
            status = current.status if current else "gone"
            raise Conflict("code", f"the voucher is {status}, it can't be used")
        used = {
            "redemption_id": redemption.id,
            "reward_id": redemption.reward_id,
            "voucher_code": redemption.voucher_code,
            "order_id": order_id,
        }
        uow.webhooks.announce(
            program_id, MemberId(redemption.member_id), Effect("voucher.consumed", now, used)
        )
        uow.commit()
    return {"code": redemption.voucher_code, "status": "consumed", **redemption.voucher}
