"""Enrolling members, finding who an event is about, and reading a member's account."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fidela.domain import members as member_rules
from fidela.domain.errors import Conflict, InvalidInput, NotFound
from fidela.domain.events import CustomerRef, Enrollment, MemberUpdate, normalize_email
from fidela.domain.ids import CustomerId, LotNo, MemberId, ProgramId, Seq
from fidela.domain.ledger import CREDIT_ACCOUNTS, MEMBER_ACCOUNTS, Lot, Wallet
from fidela.domain.members import MemberState, Outcome
from fidela.domain.money import from_minor
from fidela.domain.program import Program
from fidela.services import referrals, segments
from fidela.services.shown import local_time
from fidela.store.ledger import Changes
from fidela.store.unit_of_work import UnitOfWork, run


@dataclass(frozen=True)
class Enrolled:
    member_id: MemberId
    customer_id: CustomerId
    created: bool
    referral: dict[str, Any] | None = None  # with a referral code: pending, or refused


def enroll(
    uow: UnitOfWork, program_id: ProgramId, enrollment: Enrollment, *, now: datetime
) -> Enrolled:
    """Enroll a customer; enrolling the same e-mail or shop id again returns the member."""

    def work(uow: UnitOfWork) -> Enrolled:
        program = uow.programs.current(program_id).program
        email = normalize_email(enrollment.email) if enrollment.email else None
        matches = uow.customers.find(program_id, external_id=enrollment.customer_id, email=email)
        if len(matches) > 1:
            raise Conflict("customer_id", "belongs to another customer than the e-mail")
        if matches:
            customer = matches[0]
            if email and customer.email and customer.email != email:
                raise Conflict("email", "this customer_id belongs to another e-mail")
            external_id = enrollment.customer_id
            if external_id and customer.external_id and customer.external_id != external_id:
                raise Conflict("customer_id", "this e-mail belongs to another customer_id")
            customer_id = CustomerId(customer.id)
            if customer.member_id is not None:
                return Enrolled(MemberId(customer.member_id), customer_id, created=False)
            uow.customers.complete(customer_id, external_id=enrollment.customer_id, email=email)
        else:
            customer_id = uow.customers.add(
                program_id,
                external_id=enrollment.customer_id,
                email=email,
                at=enrollment.enrolled_at,
            )
        member_id = uow.members.add(
            program_id,
            customer_id,
            enrolled_at=enrollment.enrolled_at,
            name=enrollment.name,
            birthday=enrollment.birthday,
            referral_code=referrals.new_code() if program.referral else None,
        )
        state = MemberState(member_id, enrollment.enrolled_at, enrollment.birthday)
        outcome = member_rules.enroll(program, state)
        post_member(uow, program, member_id, state, outcome, now)
        referral = None
        if enrollment.referral_code is not None:
            friend = (member_id, enrollment.customer_id, email)
            referral = referrals.refer(
                uow,
                program,
                enrollment.referral_code,
                friend,
                bought_before=bool(matches),
                at=enrollment.enrolled_at,
            )
        uow.commit()
        return Enrolled(member_id, customer_id, created=True, referral=referral)

    return run(uow, work)


def update(
    uow: UnitOfWork, program_id: ProgramId, ref: str, changes: MemberUpdate, *, now: datetime
) -> dict[str, Any]:
    """Change a member's e-mail, name or birthday; the next birthday gift follows the new date."""

    def work(uow: UnitOfWork) -> MemberId:
        program = uow.programs.current(program_id).program
        member_id = find(uow, program_id, ref)
        member = uow.members.get(program_id, member_id)
        assert member is not None
        if changes.email is not None:
            email = normalize_email(changes.email)
            holders = uow.customers.find(program_id, external_id=None, email=email)
            if any(holder.id != member.customer_id for holder in holders):
                raise Conflict("email", "belongs to another customer of this program")
            uow.customers.set_email(CustomerId(member.customer_id), email)
        editable = {"name", "birthday", "leaderboard_name"}
        profile = changes.model_dump(include=editable & changes.model_fields_set)
        if profile:
            uow.members.set_profile(member_id, profile)
        # Bring the member up to now under the new birthday, and store when they are due next.
        state, outcome = catch_up(uow, program, member_id, now)
        post_member(uow, program, member_id, state, outcome, now)
        uow.commit()
        return member_id

    member_id = run(uow, work)
    return show(uow, program_id, str(member_id), by_member_id=True)


def catch_up(
    uow: UnitOfWork, program: Program, member_id: MemberId, now: datetime
) -> tuple[MemberState, Outcome]:
    """Lock a member, load them, and apply everything due up to `now`."""
    state = uow.members.load_states(program, [member_id], now, lock=True).get(member_id)
    if state is None:
        raise NotFound("member_id", f"no member {member_id} in {program.program}")
    return state, member_rules.advance(program, state, now)


def campaign_spend(uow: UnitOfWork, program: Program) -> dict[str, int]:
    """What each campaign of the program granted so far, for the rules to go on from.

    With a budget to keep, the ledger head is locked first, until the transaction ends:
    whatever else posts to the program waits, so no two transactions spend the same
    points of a budget.
    """
    if not program.campaigns:
        return {}
    program_id = ProgramId(program.program)
    if any(campaign.budget_points is not None for campaign in program.campaigns):
        uow.ledger.lock(program_id)
    return uow.ledger.issued_by_rule(program_id, [c.id for c in program.campaigns])


def post_member(
    uow: UnitOfWork,
    program: Program,
    member_id: MemberId,
    state: MemberState,
    outcome: Outcome,
    now: datetime,
) -> list[Seq]:
    """Post what one use case did to one member; the new transactions' seqs."""
    changes = Changes(program)
    changes.record(member_id, state, outcome)
    return uow.ledger.post(ProgramId(program.program), changes, now)


def spent_by(
    uow: UnitOfWork, program_id: ProgramId, wallet: Wallet, seq: Seq
) -> list[tuple[Lot, int]]:
    """The lots a spending transaction took from, and how much from each: the wallet's
    own lot objects where still open, as stored where spent since; for `give_back`."""
    spent_lines = [
        line
        for line in uow.ledger.lines_of(program_id, seq)
        if line.account == wallet.book.available.value
    ]
    open_lots = {lot.lot_no: lot for lot in wallet.lots}
    closed = uow.ledger.lots_by_number(
        program_id, [LotNo(line.lot_no) for line in spent_lines if line.lot_no not in open_lots]
    )
    return [
        (open_lots.get(line.lot_no) or closed[line.lot_no], -line.amount) for line in spent_lines
    ]


def resolve(
    uow: UnitOfWork, program_id: ProgramId, ref: CustomerRef, *, erased_too: bool = False
) -> tuple[CustomerId | None, MemberId | None]:
    """The customer and member an event names; (None, None) for a customer never seen.

    An erased member is found by member id only, and only with `erased_too`: events
    can't name them (their e-mail and shop id are gone, and so is the account).
    """
    if ref.member_id is not None:
        row = uow.members.get(program_id, MemberId(ref.member_id))
        if row is None:
            raise NotFound("customer.member_id", f"no member {ref.member_id} in {program_id}")
        if row.erased_at is not None and not erased_too:
            raise Conflict("customer.member_id", f"member {ref.member_id} was erased")
        return CustomerId(row.customer_id), MemberId(row.id)
    email = normalize_email(ref.email) if ref.email else None
    matches = uow.customers.find(program_id, external_id=ref.customer_id, email=email)
    if len(matches) > 1:
        raise Conflict("customer", "customer_id and email name two different customers")
    if not matches:
        return None, None
    found = matches[0]
    return CustomerId(found.id), MemberId(found.member_id) if found.member_id else None


def find(
    uow: UnitOfWork, program_id: ProgramId, ref: str, *, by_member_id: bool = False
) -> MemberId:
    """A member by e-mail, shop customer id, or (with `by_member_id`) Fidela's member id."""
    _customer, member_id = resolve(uow, program_id, _ref(ref, by_member_id), erased_too=True)
    if member_id is None:
        raise NotFound("member", f"no member {ref} in {program_id}")
    return member_id


def _ref(ref: str, by_member_id: bool) -> CustomerRef:
    """What a path's member reference names: a member id, an e-mail or a shop id."""
    try:
        if by_member_id:
            return CustomerRef(member_id=int(ref))
        if "@" in ref:
            return CustomerRef(email=ref)
        return CustomerRef(customer_id=ref)
    except ValueError:  # a non-numeric id, or pydantic's ValidationError (a ValueError)
        raise InvalidInput("member", f"{ref!r} is not a member id, e-mail or customer id") from None


def locate(
    uow: UnitOfWork, program_id: ProgramId, ref: str, *, by_member_id: bool = False
) -> MemberId:
    """`find`, in a unit of work of its own: for callers that only have a reference."""
    with uow.reading() as reader:
        return find(reader, program_id, ref, by_member_id=by_member_id)


def page(
    uow: UnitOfWork, program_id: ProgramId, *, after: int, limit: int, tier: str | None = None
) -> dict[str, Any]:
    """A page of members in id order; `next` is the `after` of the following page, or None."""
    with uow.reading() as reader:
        program = reader.programs.current(program_id).program
        rows = reader.members.page(program_id, after=after, limit=limit, tier=tier)
    return {
        "members": [
            {
                "member_id": row.id,
                "customer_id": row.external_id,
                "email": row.email,
                "name": row.name,
                "tier": row.tier,
                "available": row.available,
                "pending": row.pending,
                "enrolled_at": local_time(program, row.enrolled_at),
            }
            for row in rows
        ],
        "next": rows[-1].id if len(rows) == limit else None,
    }


def show(
    uow: UnitOfWork, program_id: ProgramId, ref: str, *, by_member_id: bool = False
) -> dict[str, Any]:
    """Everything about a member's points: balances, tier, lots, and each change with its cause."""
    with uow.reading() as uow:
        program = uow.programs.current(program_id).program
        member_id = find(uow, program_id, ref, by_member_id=by_member_id)
        member = uow.members.get(program_id, member_id)
        assert member is not None
        open_lots = uow.members.open_lots(member_id)
        history = uow.members.history(program_id, member_id)
        redemptions = uow.redemptions.of_member(member_id)
        segment_rows = uow.segments.of_member(member_id)
        rule_rows = uow.segments.rules_of_member(member_id)
    return {
        "member_id": member_id,
        "customer_id": member.external_id,
        "email": member.email,
        "name": member.name,
        "birthday": member.birthday.isoformat() if member.birthday else None,
        "leaderboard_name": member.leaderboard_name,
        "enrolled_at": local_time(program, member.enrolled_at),
        "point_name": program.point_name,
        "available": member.available,
        "pending": member.pending,
        "held": member.held,
        "debt": -member.debt,
        "credit": credit(program, member),
        "tier": _tier(program, member),
        "membership": membership_view(program, member),
        "punch_cards": _cards(program, member.cards or {}),
        "segment": next((r.segment for r in segment_rows if r.until is None), None),
        "segments": segments.described(program, segment_rows),
        "rule_segments": segments.described_rules(program, rule_rows),
        "erased_at": local_time(program, member.erased_at),
        "lots": [_lot(program, lot) for lot in open_lots],
        "history": _history(program, history),
        "redemptions": [
            {
                "redemption_id": r.id,
                "reward": r.reward_id,
                "source": r.source,
                "points": r.points,
                "status": r.status,
                "voucher_code": r.voucher_code,
                "created_at": local_time(program, r.created_at),
            }
            for r in redemptions
        ],
    }


def balance(
    uow: UnitOfWork, program_id: ProgramId, ref: str, *, by_member_id: bool = False
) -> dict[str, Any]:
    """What a till shows: the member's points and credit, tier, membership and perks, and
    the next points to expire.

    The API calls it on the worker's event loop rather than in the thread pool: its one
    statement by an index (and, once per program version, the program's definition)
    waits for the database less than the trip through the pool costs (docs/api.md,
    "Where a request runs"). It must stay that light.
    """
    named = _ref(ref, by_member_id)
    email = normalize_email(named.email) if named.email else None
    # One statement, so no transaction: the till's read is the most frequent of all.
    with uow.reading(single=True) as reader:
        row = reader.members.till(
            program_id,
            member_id=MemberId(named.member_id) if named.member_id is not None else None,
            external_id=named.customer_id,
            email=email,
        )
        if row is None:
            raise NotFound("member", f"no member {ref} in {program_id}")
        program = reader.programs.stored(row).program  # its definition is read if not cached
    member_id = MemberId(row.member_id)
    expiry = None
    if row.expires_at is not None:
        expiry = {"at": local_time(program, row.expires_at), "points": int(row.expiring)}
    return {
        "member_id": member_id,
        "point_name": program.point_name,
        "available": row.available,
        "pending": row.pending,
        "held": row.held,
        "debt": -row.debt,
        "credit": credit(program, row),
        "tier": row.tier,
        "membership": {"id": row.membership, "status": row.membership_status}
        if row.membership
        else None,
        "perks": perks(program, row.tier, row.membership, row.membership_status),
        "next_expiry": expiry,
    }


def perks(
    program: Program, tier: str | None, membership: str | None, status: str | None
) -> list[str]:
    """What the shop grants the member now: their tier's perks and their running
    membership's, each once."""
    found: list[str] = []
    if program.tiers is not None and tier in program.tiers.ranks:
        found += program.tiers.level(tier).perks
    plan = next((m for m in program.memberships if m.id == membership), None)
    if plan is not None and status != "lapsed":
        found += plan.perks
    return list(dict.fromkeys(found))


def history(
    uow: UnitOfWork, program_id: ProgramId, member_id: MemberId, *, after: int, limit: int
) -> dict[str, Any]:
    """A page of a member's history, oldest first: pass the answer's `next` as `after`."""
    with uow.reading() as reader:
        program = reader.programs.current(program_id).program
        rows = reader.members.history(program_id, member_id, after=after, limit=limit)
    entries = _history(program, rows)
    return {"history": entries, "next": entries[-1]["seq"] if len(entries) == limit else None}


def lots(
    uow: UnitOfWork,
    program_id: ProgramId,
    member_id: MemberId,
    *,
    after: int,
    limit: int,
    open_only: bool,
) -> dict[str, Any]:
    """A page of a member's lots in the order they were earned; spent ones too if asked."""
    with uow.reading() as reader:
        program = reader.programs.current(program_id).program
        rows = reader.members.lots_page(member_id, after=after, limit=limit, open_only=open_only)
    return {
        "lots": [_lot(program, row) | {"points": row.points} for row in rows],
        "next": rows[-1].lot_no if len(rows) == limit else None,
    }


def membership_view(program: Program, member: Any) -> dict[str, Any] | None:
    """A stored member's membership, as the member view shows it: where it stands and,
    while it runs, its benefits (multiplier, monthly points, perks)."""
    if member.membership is None:
        return None
    plan = next((m for m in program.memberships if m.id == member.membership), None)
    running = member.membership_status != "lapsed" and plan is not None
    return {
        "id": member.membership,
        "name": plan.name if plan else None,
        "status": member.membership_status,
        "started_at": local_time(program, member.membership_started_at),
        "period_ends_at": local_time(program, member.membership_period_ends_at),
        "cancel_at_period_end": member.membership_cancelled,
        "earn_multiplier": str(plan.earn_multiplier) if running and plan else None,
        "monthly_points": plan.monthly_points if running and plan else 0,
        "perks": list(plan.perks) if running and plan else [],
    }


def credit(program: Program, row: Any) -> dict[str, str]:
    """A member's store credit (cashback), as amounts of the program's currency."""
    currency = program.currency
    return {
        "currency": currency,
        "available": str(from_minor(row.credit, currency)),
        "pending": str(from_minor(row.credit_pending, currency)),
        "debt": str(from_minor(-row.credit_debt, currency)),
    }


def _cards(program: Program, held: dict[str, list[int]]) -> list[dict[str, Any]]:
    """Each punch card of the program as the member holds it: punches out of how many
    (below zero: owed), and how many cards they completed."""
    return [
        {
            "card": card.id,
            "name": card.name,
            "punches": held.get(card.id, [0, 0])[0],
            "of": card.punches,
            "completed": held.get(card.id, [0, 0])[1],
        }
        for card in program.punch_cards
    ]


def _lot(program: Program, lot: Any) -> dict[str, Any]:
    """A lot of points, or of credit (`unit`, with `remaining` in minor units)."""
    return {
        "lot": lot.lot_no,
        "unit": lot.unit,
        "remaining": lot.remaining,
        "earned_at": local_time(program, lot.earned_at),
        "expires_at": local_time(program, lot.expires_at),
        "pending_until": local_time(program, lot.pending_until),
        "held": lot.held,
        "rule": lot.rule_id,
        "order_id": lot.order_ref,
    }


def _tier(program: Program, member: Any) -> dict[str, Any] | None:
    if member.tier is None:
        return None
    shown = {
        "id": member.tier,
        "since": local_time(program, member.tier_since),
        "review_at": local_time(program, member.tier_review_at),
    }
    if program.tiers is None or member.tier not in program.tiers.ranks:
        # A newer version dropped this level; the member moves at their next catch-up.
        return shown | {"earn_multiplier": None, "perks": []}
    level = program.tiers.level(member.tier)
    return shown | {"earn_multiplier": str(level.earn_multiplier), "perks": list(level.perks)}


def _history(program: Program, rows: list[Any]) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    for row in rows:
        if not entries or entries[-1]["seq"] != row.seq:
            cause: dict[str, Any] = {"kind": row.kind}
            if row.event_type:
                cause |= {"event": row.event_type, "idempotency_key": row.idempotency_key}
            if row.actor:
                cause["actor"] = row.actor
            if row.reason:
                cause["reason"] = row.reason
            entries.append(
                {
                    "seq": row.seq,
                    "at": local_time(program, row.occurred_at),
                    "cause": cause,
                    "points": 0,
                    "credit": 0,
                    "rules": [],
                    "lines": [],
                }
            )
        entry = entries[-1]
        if row.account in MEMBER_ACCOUNTS:
            entry["points"] += row.amount
        elif row.account in CREDIT_ACCOUNTS:
            entry["credit"] += row.amount
        if row.rule_id and row.rule_id not in entry["rules"]:
            entry["rules"].append(row.rule_id)
        entry["lines"].append({"account": row.account, "amount": row.amount, "lot": row.lot_no})
    for entry in entries:  # credit in the currency's amounts, as elsewhere
        entry["credit"] = str(from_minor(entry["credit"], program.currency))
    return entries
