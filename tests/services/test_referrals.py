"""Referrals at their edges, on both databases: erasure, programs without a scheme, and a
reward partly held by the daily cap then rejected."""

from __future__ import annotations

from datetime import timedelta

from fidela.domain.events import Enrollment
from fidela.domain.ids import MemberId, ProgramId
from fidela.services import held, jobs, ledger, members, memberships, privacy, programs, referrals
from fidela.store.unit_of_work import UnitOfWork
from tests.conftest import T0, example
from tests.services.helpers import enroll, purchase, send


def friend_of(uow: UnitOfWork, shop: ProgramId, code: str, email: str) -> MemberId:
    form = Enrollment.model_validate({"email": email, "enrolled_at": T0, "referral_code": code})
    return members.enroll(uow, shop, form, now=T0).member_id


def test_erasing_a_member_cancels_undecided_referrals_ends_the_membership_and_the_code(
    uow: UnitOfWork,
) -> None:
    shop = programs.apply(uow, example("shop.yaml"), now=T0).program_id
    ana = enroll(uow, shop, "ana@gmail.com", T0)
    code = referrals.of_member(uow, shop, ana)["code"]
    friend_of(uow, shop, code, "eve@gmail.com")
    memberships.join(uow, shop, ana, "verte-plus", None, now=T0)
    privacy.erase(uow, shop, ana, actor="admin", now=T0 + timedelta(hours=1))
    (eves,) = referrals.page(uow, shop, status="cancelled", after=0, limit=10)["referrals"]
    assert eves["reason"] == "a member's data was erased"
    shown = referrals.of_member(uow, shop, ana)
    assert shown["code"] is None and shown["link"] is None
    assert memberships.show(uow, shop, ana)["membership"]["status"] == "lapsed"
    assert ledger.verify(uow, shop).ok


def test_a_program_without_a_scheme_gives_no_code(uow: UnitOfWork, cafe: ProgramId) -> None:
    ana = enroll(uow, cafe, "ana@example.com", T0)
    assert referrals.of_member(uow, cafe, ana)["code"] is None


def test_a_reward_partly_held_and_rejected_is_taken_back_only_for_the_rest(
    uow: UnitOfWork,
) -> None:
    text = example("shop.yaml").replace(
        "points_per_member_per_day: 5000", "points_per_member_per_day: 100"
    )
    shop = programs.apply(uow, text.replace("pending_days: 30", "pending_days: 0"), now=T0)
    program = shop.program_id
    ana = enroll(uow, program, "ana@gmail.com", T0 - timedelta(days=1))  # her welcome: 100 + 100
    code = referrals.of_member(uow, program, ana)["code"]
    friend_of(uow, program, code, "eve@gmail.com")
    purchase(uow, program, "eve@gmail.com", "E1", "40.00", T0 + timedelta(hours=1))
    # No return window: rewarded at once. Ana's 500 hit her cap of 100: 400 are held.
    (queued,) = [
        lot
        for lot in held.listed(uow, program)
        if lot["rule"] == "referral" and lot["member_id"] == ana
    ]
    assert queued["points"] == 400
    held.reject(uow, program, queued["lot"], actor="admin", reason="too much", now=T0)
    before = members.balance(uow, program, "ana@gmail.com")["available"]
    send(uow, program, T0 + timedelta(hours=2), idempotency_key="r", type="refund", order_id="E1")
    assert members.balance(uow, program, "ana@gmail.com")["available"] == before - 100
    jobs.run_due(uow, program, now=T0 + timedelta(days=1))
    assert ledger.verify(uow, program).ok
