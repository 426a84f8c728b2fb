"""Referrals: members' codes and links, friends enrolling with them, and settling what the
friends' first orders decided (rewards, or taking them back)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, get_args

from fidela.domain import members as member_rules
from fidela.domain import referrals
from fidela.domain.errors import InvalidInput
from fidela.domain.ids import LotNo, MemberId, ProgramId, Seq
from fidela.domain.ledger import Account, Lot
from fidela.domain.members import MemberState
from fidela.domain.program import Program
from fidela.domain.rewards import random_symbols
from fidela.services.shown import local_time
from fidela.store.ledger import Changes
from fidela.store.unit_of_work import UnitOfWork, run

CODE_LENGTH = 8
BATCH = 500  # referrals settled per transaction


def new_code() -> str:
    return random_symbols(CODE_LENGTH)


def refer(
    uow: UnitOfWork,
    program: Program,
    code: str,
    friend: tuple[MemberId, str | None, str | None],
    *,
    bought_before: bool,
    at: datetime,
) -> dict[str, Any]:
    """Record that a new member (`friend`: id, shop id, e-mail) enrolled with `code`, in
    the enrollment's transaction: pending, or refused with the reason."""
    if program.referral is None:
        raise InvalidInput("referral_code", "the program has no referral scheme")
    program_id = ProgramId(program.program)
    referrer = uow.referrals.member_by_code(program_id, code.strip().upper())
    if referrer is None:
        raise InvalidInput("referral_code", f"no member has the code {code}")
    member_id, shop_id, email = friend
    reason = referrals.refusal(
        program,
        (referrer.external_id, referrer.email),
        (shop_id, email),
        bought_before=bought_before,
    )
    status = "refused" if reason else "pending"
    referral_id = uow.referrals.add(
        program_id,
        referrer_id=MemberId(referrer.id),
        referee_id=member_id,
        code=code.strip().upper(),
        status=status,
        reason=reason,
        at=at,
        points=(program.referral.referrer_points, program.referral.referee_points),
    )
    return {"referral_id": referral_id, "status": status, "reason": reason}


def of_member(uow: UnitOfWork, program_id: ProgramId, member_id: MemberId) -> dict[str, Any]:
    """The member's code and link (a code is given the first time it is asked for; none
    without a referral scheme, or once erased), who referred them, and the friends they
    referred."""

    def work(uow: UnitOfWork) -> dict[str, Any]:
        program = uow.programs.current(program_id).program
        member = uow.members.get(program_id, member_id)
        assert member is not None
        code = member.referral_code
        if code is None and program.referral is not None and member.erased_at is None:
            code = uow.referrals.give_code(member_id, new_code())
        rows = uow.referrals.of_member(member_id)
        uow.commit()
        link = program.referral.link if program.referral and code else None
        return {
            "code": code if program.referral else None,
            "link": link.replace("{code}", code) if link and code else None,
            "referred_by": next(
                (described(program, r) for r in rows if r.referee_id == member_id), None
            ),
            "referrals": [described(program, r) for r in rows if r.referrer_id == member_id],
        }

    return run(uow, work)


def page(
    uow: UnitOfWork, program_id: ProgramId, *, status: str | None, after: int, limit: int
) -> dict[str, Any]:
    """Referrals in id order; `status=refused` is the suspected fraud, with its reasons."""
    if status is not None and status not in get_args(referrals.Status):
        known = ", ".join(get_args(referrals.Status))
        raise InvalidInput("status", f"{status!r} is none of {known}")
    with uow.reading() as reader:
        program = reader.programs.current(program_id).program
        rows = reader.referrals.page(program_id, status=status, after=after, limit=limit)
    return {
        "referrals": [described(program, row) for row in rows],
        "next": rows[-1].id if len(rows) == limit else None,
    }


def settle_due(uow: UnitOfWork, program_id: ProgramId, *, now: datetime) -> int:
    """Reward the referrals whose first order passed its return window, and take back
    those whose first order was refunded; how many were settled."""
    settled, after = 0, 0
    while True:
        with uow.reading() as reader:
            due = [
                row.id for row in reader.referrals.due(program_id, now, after=after, limit=BATCH)
            ]
        if not due:
            return settled
        settled += settle(uow, program_id, due, now=now)
        after = due[-1]


def settle(uow: UnitOfWork, program_id: ProgramId, ids: list[int], *, now: datetime) -> int:
    """Settle these referrals if due, each in a transaction of its own: it locks its two
    members at once, in id order, as every other use case does, so none waits on another
    in a cycle."""
    settled = 0
    for referral_id in ids:

        def work(uow: UnitOfWork, referral_id: int = referral_id) -> int:
            return _settle(uow, program_id, referral_id, now)

        settled += run(uow, work)
    return settled


def _settle(uow: UnitOfWork, program_id: ProgramId, referral_id: int, now: datetime) -> int:
    program = uow.programs.current(program_id).program
    found = uow.referrals.get(program_id, referral_id, lock=False)
    assert found is not None
    pair = [MemberId(found.referrer_id), MemberId(found.referee_id)]
    states = uow.members.load_states(program, pair, now, lock=True)
    row = uow.referrals.get(program_id, referral_id, lock=True)  # again, under the locks
    assert row is not None
    if referrals.due(row.status, row.qualifies_at, now):
        if row.status == "waiting":
            _reward(uow, program, row, states, now)
        else:
            _take_back(uow, program, row, states, now)
    else:
        return 0  # settled meanwhile
    uow.commit()
    return 1


def _sides(row: Any) -> list[tuple[MemberId, int, int | None, str]]:
    """Each side of a referral: member, points, reward's transaction, and its reason."""
    referrer, friend = MemberId(row.referrer_id), MemberId(row.referee_id)
    return [
        (referrer, row.referrer_points, row.referrer_seq, f"referral of member {friend}"),
        (friend, row.referee_points, row.referee_seq, f"referred by member {referrer}"),
    ]


def _reward(
    uow: UnitOfWork,
    program: Program,
    row: Any,
    states: dict[MemberId, MemberState],
    now: datetime,
) -> None:
    """Both rewards, at the end of the first order's return window."""
    at = row.qualifies_at
    changes = Changes(program)
    positions: list[int | None] = []  # of each reward among the posted transactions
    for member_id, points, _seq, reason in _sides(row):
        state = states[member_id]
        outcome = member_rules.advance(program, state, at)
        if points:
            outcome.extend(member_rules.grant_referral(program, state, points, at, reason=reason))
        changes.record(member_id, state, outcome)
        positions.append(len(changes.transactions) - 1 if points else None)
    posted = uow.ledger.post(ProgramId(program.program), changes, now)
    referrer_seq, friend_seq = (posted[i] if i is not None else None for i in positions)
    uow.referrals.settle(row.id, status="rewarded", at=at, seqs=(referrer_seq, friend_seq))


def _take_back(
    uow: UnitOfWork,
    program: Program,
    row: Any,
    states: dict[MemberId, MemberState],
    now: datetime,
) -> None:
    """Reverse both rewards: the first order was refunded after they were granted."""
    program_id = ProgramId(program.program)
    changes = Changes(program)
    reason = "the referral's first order was refunded"
    for member_id, _points, seq, _reason in _sides(row):
        if seq is None:
            continue
        state = states[member_id]
        outcome = member_rules.advance(program, state, now)
        issued, lots = _granted_by(uow, program_id, state, Seq(seq))
        outcome.extend(member_rules.take_back_referral(state, issued, lots, now, reason=reason))
        changes.record(member_id, state, outcome)
    uow.ledger.post(program_id, changes, now)
    uow.referrals.settle(row.id, status="reversed", at=now)


def _granted_by(
    uow: UnitOfWork, program_id: ProgramId, state: MemberState, seq: Seq
) -> tuple[int, list[Lot]]:
    """What a reward's transaction issued and was not rejected since (the daily cap may
    have held some, which an admin rejected: reversed already), and the member's open
    lots it created."""
    lines = uow.ledger.lines_of(program_id, seq)
    issued = -sum(line.amount for line in lines if line.account == Account.ISSUED.value)
    created = sorted({LotNo(line.lot_no) for line in lines if line.lot_no is not None})
    owed = issued - uow.ledger.rejected_from(program_id, created)
    return owed, [lot for lot in state.wallet.lots if lot.lot_no in created]


def described(program: Program, row: Any) -> dict[str, Any]:
    """A referral as callers see it, times in the program's zone."""
    return {
        "referral_id": row.id,
        "referrer_id": row.referrer_id,
        "referee_id": row.referee_id,
        "status": row.status,
        "reason": row.reason,
        "enrolled_at": local_time(program, row.enrolled_at),
        "first_order_id": row.first_order_ref,
        "qualifies_at": local_time(program, row.qualifies_at),
        "rewarded_at": local_time(program, row.rewarded_at),
        "points": {"referrer": row.referrer_points, "friend": row.referee_points},
    }
