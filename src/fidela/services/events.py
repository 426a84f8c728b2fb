"""Recording an event: purchase, refund, birthday or activity, exactly once per key."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy.exc import SQLAlchemyError

from fidela.domain import members as member_rules
from fidela.domain.errors import Conflict, FidelaError, InvalidInput, NotFound
from fidela.domain.events import (
    Activity,
    Birthday,
    CustomerRef,
    Encoded,
    Event,
    Purchase,
    Refund,
    normalize_email,
    parse_event,
)
from fidela.domain.ids import CustomerId, MemberId, ProgramId
from fidela.domain.ledger import CREDIT_ACCOUNTS, MEMBER_ACCOUNTS, SCHEDULER, Account
from fidela.domain.members import MemberState, OrderState, Outcome
from fidela.domain.money import from_minor, to_minor
from fidela.domain.program import Program
from fidela.domain.referrals import due
from fidela.services import referrals
from fidela.services.flags import flag_refunds
from fidela.services.members import campaign_spend, resolve
from fidela.store.ledger import Changes, NewEvent
from fidela.store.members import StatesRead
from fidela.store.programs import StoredVersion
from fidela.store.reads import Read
from fidela.store.unit_of_work import UnitOfWork, run

log = logging.getLogger(__name__)
CLOCK_SKEW = timedelta(minutes=5)  # how far in the future a shop's clock may run
# A large batch is posted this many events at a time: one part's rows are written by a
# second thread while the rules apply to the next, so the members stay locked less long.
# The last part is written with the COMMIT, whatever its size.
POSTED_EVERY = 250


@dataclass(frozen=True)
class Recorded:
    event_no: int
    duplicate: bool
    result: dict[str, Any]


def record(uow: UnitOfWork, program_id: ProgramId, event: Event, *, now: datetime) -> Recorded:
    """Apply an event once: a retry with the same key and content returns the first result."""
    (outcome,) = record_all(uow, program_id, [event], now=now)
    if isinstance(outcome, FidelaError):
        raise outcome
    return outcome


def record_each(
    uow: UnitOfWork, program_id: ProgramId, items: list[dict[str, Any]], *, now: datetime
) -> list[Recorded | FidelaError]:
    """Parse and record a batch: a bad event is answered and stops no other."""
    parsed: list[Event | FidelaError] = []
    for data in items:
        try:
            parsed.append(parse_event(data))
        except FidelaError as error:
            parsed.append(error)
    return record_all(uow, program_id, parsed, now=now)


def record_all(
    uow: UnitOfWork,
    program_id: ProgramId,
    events: Sequence[Event | FidelaError],
    *,
    now: datetime,
    hints: Hints | None = None,
) -> list[Recorded | FidelaError]:
    """Apply events in order, in one transaction: an outcome or a refusal for each.

    An event refused before it changed anything is answered and the others go on. One
    that the rules refuse halfway (rare: they check first) is answered, and the batch
    is applied again without it, so that no part of it stays. `hints`, if given, are
    what the caller's process saw before (`Hints`), and learn what these events show.
    """
    refused = {i: e for i, e in enumerate(events) if isinstance(e, FidelaError)}
    batches: list[_Batch] = []

    def work(uow: UnitOfWork) -> list[Recorded | FidelaError]:
        batches.append(_Batch(uow, program_id, now, hints))
        return batches[-1].apply(events, refused)

    while True:
        try:
            answers = run(uow, work)
        except _RefusedHalfway as halfway:
            refused[halfway.index] = halfway.error
            continue
        except _GuessedWrong:
            hints = None
            continue
        if due := batches[-1].referrals_due():
            _settle_soon(uow, program_id, due, now)
        return answers


def _settle_soon(uow: UnitOfWork, program_id: ProgramId, ids: list[int], now: datetime) -> None:
    """Settle the referrals these events decided, now that they are committed. If that
    fails, they stay due and `run-due` settles them: the events are recorded either way."""
    try:
        referrals.settle(uow, program_id, ids, now=now)
    except (SQLAlchemyError, FidelaError):
        log.exception("referrals %s: settling failed, left to run-due", ids)


class Hints:
    """What a process saw of its programs lately: each one's current version, and which
    member each shop id or e-mail names. With them, the members of events that name them
    so are read (and locked) in the round trip that looks those events up, not in one
    after it. Only guesses, which the look-ups check (`_Batch._look_up`).

    The API's `Recorder` keeps one for all its threads: each call is one get or set of
    a dict, which the interpreter does at once, and a guess read while another thread
    learns is checked like any other.
    """

    MEMBERS_KEPT = 100_000  # names remembered, per process: then it starts afresh

    def __init__(self) -> None:
        self._versions: dict[ProgramId, StoredVersion] = {}
        self._members: dict[tuple[ProgramId, Name], MemberId] = {}

    def guess(
        self, program_id: ProgramId, names: Iterable[Name]
    ) -> tuple[StoredVersion, set[MemberId]] | None:
        """The program's version and the members these names name, if all are known."""
        stored = self._versions.get(program_id)
        members = [self._members.get((program_id, name)) for name in names]
        if stored is None or None in members:
            return None
        return stored, {member_id for member_id in members if member_id is not None}

    def learn(self, stored: StoredVersion, found: Mapping[Name, Who | None]) -> None:
        """Remember the program's version and whom these names named: a name that named
        no member (no customer, or one who never enrolled or was erased) is forgotten."""
        self._versions[stored.program_id] = stored
        if len(self._members) >= self.MEMBERS_KEPT:
            self._members.clear()
        for name, who in found.items():
            if who is not None and who[1] is not None:
                self._members[(stored.program_id, name)] = who[1]
            else:
                self._members.pop((stored.program_id, name), None)


class _Guess(NamedTuple):
    """The members' states read with the look-ups, for the program version hinted."""

    version: int
    members: set[MemberId]
    states: StatesRead


class _GuessedWrong(Exception):
    """Hints named members other than the look-ups found: the batch, which locked them,
    starts again without hints, so that it locks its members in id order."""


class _RefusedHalfway(Exception):
    def __init__(self, index: int, error: FidelaError) -> None:
        super().__init__(index, error)
        self.index = index
        self.error = error


@dataclass
class _Order:
    """An order a refund names, as the batch holds it: read locked, or recorded in it."""

    customer_id: CustomerId
    member_id: MemberId | None
    state: OrderState
    recorded_here: bool  # by this batch: its lots are the very objects of the wallet
    queued: bool = False  # written by the next post (recorded, or refunded, since the last)


@dataclass(frozen=True)
class _Again:
    """An event whose key this batch already recorded, with the same content."""

    first: NewEvent


Who = tuple[CustomerId | None, MemberId | None]
RefKey = tuple[str | None, str | None, int | None]
Name = tuple[str | None, str | None]  # a customer's shop id, or e-mail: the other is None


class _Batch:
    """Events applied in order and posted in the unit of work's transaction: together,
    or for a large batch POSTED_EVERY at a time, each part written in the background
    while the rules apply to the next (a statement the rules need meanwhile waits for it).

    What the events need is read once before the first is applied, in as few round
    trips as the batch allows: the orders refunds name (locked, in order); then at once
    the program, the customers the others name by shop id or e-mail, the keys already
    used and the orders already recorded; then the members (locked, in id order) with
    their state, or with those look-ups if `Hints` guessed them all.
    A key or an order that a concurrent writer records meanwhile makes this batch's
    write fail on its unique key, and `run()` applies the batch again, answering it.
    """

    def __init__(
        self, uow: UnitOfWork, program_id: ProgramId, now: datetime, hints: Hints | None
    ) -> None:
        self.uow = uow
        self.program_id = program_id
        self.now = now
        self.hints = hints
        self.stored: StoredVersion  # read with the look-ups
        self.program: Program
        self.changes: Changes
        self.who: dict[RefKey, Who | FidelaError | None] = {}  # None: no one yet
        self.orders: dict[str, _Order] = {}
        self.states: dict[MemberId, MemberState] = {}
        self.used: dict[str, str] = {}  # key: content hash, of the events recorded before
        self.keys: dict[str, NewEvent] = {}  # the keys this batch records
        self.ordered: set[str] = set()  # orders recorded before or by this batch
        self.first = now  # the earliest event's time: states are loaded as of then
        self.meeting: frozenset[str] = frozenset()  # what the states are read for
        self.spent: dict[str, int] = {}  # what each campaign granted so far
        self.refunded: set[MemberId] = set()  # members this batch refunded
        self.posted = False  # whether any of its changes were posted yet

    def apply(
        self, events: Sequence[Event | FidelaError], refused: dict[int, FidelaError]
    ) -> list[Recorded | FidelaError]:
        todo = [
            (i, e)
            for i, e in enumerate(events)
            if i not in refused and not isinstance(e, FidelaError)
        ]
        self._look_up([event for _, event in todo])
        outcomes: dict[int, NewEvent | Recorded | _Again | FidelaError] = dict(refused)
        for position, (index, event) in enumerate(todo, start=1):
            try:
                outcomes[index] = self._apply(index, event)
            except FidelaError as error:
                outcomes[index] = error
            if len(self.changes.events) >= POSTED_EVERY and position < len(todo):
                self._post(in_background=True)
        if self.changes.events:
            # The COMMIT may ride with the last write, unless something must be written
            # after it: the flags refunds may raise, or the unit of work's last statement.
            last = not self.refunded and self.uow.before_commit is None
            self._post(commit=last)
        if self.posted:  # retries and refusals alone never queue on the ledger head
            flag_refunds(self._settled(), self.program, self.refunded, self.now)
            self.uow.commit()
        return [_answer(outcomes[i]) for i in range(len(events))]

    def _post(self, *, in_background: bool = False, commit: bool = False) -> None:
        """Post the changes since the last post (numbering their events), and start anew."""
        self.uow.ledger.post(
            self.program_id, self.changes, self.now, in_background=in_background, commit=commit
        )
        self.posted = True
        self.changes = Changes(self.program)
        for order in self.orders.values():
            order.queued = False

    def _settled(self) -> UnitOfWork:
        """The unit of work, once a part posted in the background is written: its
        connection runs one statement at a time."""
        self.uow.ledger.wait()
        return self.uow

    def referrals_due(self) -> list[int]:
        """The referrals these events made due: a first order with no return window to
        wait for, or a refunded one whose rewards must be taken back."""
        return [
            referral.referral_id
            for state in self.states.values()
            if (referral := state.referral) is not None
            and referral.changed
            and due(referral.status, referral.qualifies_at, self.now)
        ]

    def _look_up(self, events: list[Event]) -> None:
        uow, program_id = self.uow, self.program_id
        refunds = sorted({e.order_id for e in events if isinstance(e, Refund)})
        for order_id in refunds:  # in order: two refunding batches never deadlock
            if (found := uow.events.order(program_id, order_id)) is not None:
                row, state = found
                member_id = MemberId(row.member_id) if row.member_id else None
                self.orders[order_id] = _Order(CustomerId(row.customer_id), member_id, state, False)
        refs = {_ref_key(e.customer): e.customer for e in events if not isinstance(e, Refund)}
        # The common cases, in the same round trip: references by a shop id or an e-mail.
        named = {key: name for key in refs if (name := _name(key)) is not None}
        shop_ids = {shop_id for shop_id, _ in named.values() if shop_id is not None}
        emails = {email for _, email in named.values() if email is not None}
        purchases = [event.order_id for event in events if isinstance(event, Purchase)]
        self.first = min((event.occurred_at for event in events), default=self.now)
        self.meeting = member_rules.reached_by(event.type for event in events)
        current = uow.programs.current_read(program_id)
        used = uow.events.hashes_read(program_id, [event.idempotency_key for event in events])
        ordered = uow.events.existing_orders_read(program_id, purchases)
        reads: list[Read[Any]] = [current, used, ordered]
        if shop_ids:
            reads.append(
                by_shop_id := uow.customers.with_members_by_shop_id_read(program_id, shop_ids)
            )
        if emails:
            reads.append(by_email := uow.customers.with_members_by_email_read(program_id, emails))
        guessed = None if refunds or len(named) < len(refs) else self._guess(named.values())
        if guessed is not None:
            reads.extend(guessed.states.reads)
        uow.read(*reads)
        self.stored, self.used, self.ordered = current.value, used.value, ordered.value
        self.program = self.stored.program
        self.changes = Changes(self.program)
        known: dict[Name, Who] = {}
        if shop_ids:
            known |= {(shop_id, None): who for shop_id, who in by_shop_id.value.items()}
        if emails:
            known |= {(None, email): who for email, who in by_email.value.items()}
        for key, name in named.items():
            self.who[key] = known.get(name)
        if self.hints is not None:
            self.hints.learn(self.stored, {name: known.get(name) for name in named.values()})
        for key, ref in refs.items():
            if key not in self.who:
                self.who[key] = self._resolve(ref)
        members = {who[1] for who in self.who.values() if isinstance(who, tuple) and who[1]}
        members |= {order.member_id for order in self.orders.values() if order.member_id}
        if members:
            if guessed is None:
                self.states = self._load(members)
            elif not members <= guessed.members:  # locking the others now could deadlock
                raise _GuessedWrong()
            elif guessed.version == self.stored.version:
                self.states = guessed.states.states()
            else:  # read for another version of the program (already locked)
                self.states = self._load(members)
            self.spent = campaign_spend(uow, self.program)  # locks the head after the members

    def _guess(self, names: Iterable[Name]) -> _Guess | None:
        """The members the hints say these names name, with the reads of their states,
        locked, to send with the look-ups; None without hints for them all."""
        if self.hints is None or (hinted := self.hints.guess(self.program_id, names)) is None:
            return None
        stored, members = hinted
        if not members:
            return None
        return _Guess(stored.version, members, self._states_read(stored.program, members))

    def _states_read(self, program: Program, members: set[MemberId]) -> StatesRead:
        """The reads of the members' states, locked (in id order) until the batch
        commits. The rules take them to the events' instants: no later than `now`, give
        or take the clock's skew (an event further ahead is refused)."""
        return self.uow.members.states_read(
            program,
            list(members),
            self.first,
            lock=True,
            until=self.now + CLOCK_SKEW,
            meeting=self.meeting,
        )

    def _apply(self, index: int, event: Event) -> NewEvent | Recorded | _Again:
        """Apply one event, or raise what refuses it (_RefusedHalfway once it changed things)."""
        if event.occurred_at > self.now + CLOCK_SKEW:
            raise InvalidInput("occurred_at", f"{event.occurred_at.isoformat()} is in the future")
        order = self.orders.get(event.order_id) if isinstance(event, Refund) else None
        refunded: tuple[int, dict[str, int]] | None = None  # a refund's amount and quantities
        customer_id: CustomerId | None
        member_id: MemberId | None
        if isinstance(event, Refund):
            if order is None:
                raise NotFound("order_id", f"no order {event.order_id} in {self.program_id}")
            customer_id, member_id = order.customer_id, order.member_id
        else:
            customer_id, member_id = self._who(event.customer)
        if (again := self._again(event)) is not None:
            return again
        state = self.states.get(member_id) if member_id is not None else None
        if state is not None and event.occurred_at < state.enrolled_at:
            # Before enrolling, the member was a customer: the event earns nothing.
            state, member_id = None, None
        if state is not None and order is not None and not order.recorded_here:
            # The refund must change the very lot objects the member's wallet holds.
            open_lots = {lot.lot_no: lot for lot in [*state.wallet.lots, *state.credit.lots]}
            lots = order.state.lots
            order.state.lots = [open_lots[lot.lot_no] for lot in lots if lot.lot_no in open_lots]
        match event:
            case Purchase():
                self.program.check_currency(event.currency, "currency")
                if event.order_id in self.ordered:
                    if (copy := self._recorded_meanwhile(event)) is not None:
                        return copy
                    raise Conflict("order_id", f"order {event.order_id} was already recorded")
            case Refund():
                assert order is not None
                refunded = member_rules.refund_amount(order.state, event)
            case Birthday() | Activity() if customer_id is None:
                raise NotFound("customer", "no customer or member matches this reference")
        cause = new_event(event, customer_id, member_id, self.stored.version)
        try:
            outcome = self._changes(event, cause, state, order, refunded)
        except FidelaError as error:
            raise _RefusedHalfway(index, error) from error
        self.changes.events.append(cause)
        if state is not None and member_id is not None:
            self.changes.record(member_id, state, outcome, cause)
        cause.result = event_result(self.program, cause, outcome, state)
        self.keys[event.idempotency_key] = cause
        return cause

    def _who(self, ref: CustomerRef) -> Who:
        key = _ref_key(ref)
        if key not in self.who:  # dropped by _add_customer: look again
            self.who[key] = self._resolve(ref)
        who = self.who[key]
        if isinstance(who, tuple) and who[1] is not None and who[1] not in self.states:
            self.states |= self._load({who[1]})  # named by no reference before: rare
        if isinstance(who, FidelaError):
            raise who
        return who or (None, None)

    def _resolve(self, ref: CustomerRef) -> Who | FidelaError | None:
        """Whom a reference names (None: no customer yet), or why it names no one."""
        try:
            customer_id, member_id = resolve(self._settled(), self.program_id, ref)
        except FidelaError as error:
            return error
        return (customer_id, member_id) if customer_id is not None else None

    def _load(self, members: set[MemberId]) -> dict[MemberId, MemberState]:
        """The members' states, read now (`_states_read`)."""
        wanted = self._states_read(self.program, members)
        self._settled().read(*wanted.reads)
        return wanted.states()

    def _again(self, event: Event) -> Recorded | _Again | None:
        """The first outcome if this key was recorded with the same content, else None."""
        key = event.idempotency_key
        first = self.keys.get(key)
        first_hash = first.content_hash if first else self.used.get(key)
        if first_hash is None:
            return None
        if first_hash != event.content_hash():
            raise Conflict("idempotency_key", "was already used for an event with other content")
        if first is not None:
            return _Again(first)
        previous = self._settled().events.by_key(self.program_id, key)
        assert previous is not None
        return Recorded(previous.event_no, duplicate=True, result=previous.result)

    def _recorded_meanwhile(self, event: Event) -> Recorded | None:
        """The first outcome if a copy of this event, sent at the same time, was recorded
        since the keys were looked up (nothing locked the customer: not a member)."""
        previous = self._settled().events.by_key(self.program_id, event.idempotency_key)
        if previous is None:
            return None
        if previous.content_hash != event.content_hash():
            raise Conflict("idempotency_key", "was already used for an event with other content")
        return Recorded(previous.event_no, duplicate=True, result=previous.result)

    def _changes(
        self,
        event: Event,
        cause: NewEvent,
        state: MemberState | None,
        order: _Order | None,
        refunded: tuple[int, dict[str, int]] | None,
    ) -> Outcome:
        """What the event changes; from here on a refusal may leave things half-changed."""
        program = self.program
        match event:
            case Purchase():
                customer_id = cause.customer_id or self._add_customer(event)
                cause.customer_id = customer_id
                new = new_order(event)
                self.ordered.add(event.order_id)
                self.orders[event.order_id] = _Order(
                    customer_id, cause.member_id, new, recorded_here=True, queued=True
                )
                self.changes.new_orders.append((new, customer_id, cause.member_id, cause))
                if state is None:
                    return Outcome()
                return member_rules.purchase(program, state, new, event.amount, spent=self.spent)
            case Refund():
                assert order is not None
                assert refunded is not None
                if order.member_id is not None:
                    self.refunded.add(order.member_id)
                amount, order.state.refunded_quantities = refunded
                outcome = member_rules.refund(
                    program, state, order.state, amount, event.occurred_at
                )
                if not order.queued:
                    self.changes.changed_orders.append(order.state)
                    order.queued = True
                return outcome
            case Birthday() | Activity():
                if state is None:
                    return Outcome()
                return member_rules.activity(
                    program, state, event.type, event.occurred_at, spent=self.spent
                )

    def _add_customer(self, event: Purchase) -> CustomerId:
        ref = event.customer
        email = normalize_email(ref.email) if ref.email else None
        customer_id = self._settled().customers.add(
            self.program_id, external_id=ref.customer_id, email=email, at=event.occurred_at
        )
        # References sharing its shop id or e-mail may name someone else now (or two
        # customers: a conflict): they are looked up again when next used.
        for key in [
            k
            for k in self.who
            if (k[0] and k[0] == ref.customer_id)
            or (email and k[1] and normalize_email(k[1]) == email)
        ]:
            del self.who[key]
        self.who[_ref_key(ref)] = (customer_id, None)
        return customer_id


def _ref_key(ref: CustomerRef) -> RefKey:
    return (ref.customer_id, ref.email, ref.member_id)


def _name(key: RefKey) -> Name | None:
    """What the look-ups find a reference by: its shop id alone, or its e-mail alone
    (normalized); None for a member id, or a shop id with an e-mail (`resolve` checks
    that they name the same customer)."""
    shop_id, email, member_id = key
    if member_id is not None or (shop_id is None) == (email is None):
        return None
    return (None, normalize_email(email)) if email is not None else (shop_id, None)


def _answer(outcome: NewEvent | Recorded | _Again | FidelaError) -> Recorded | FidelaError:
    """An event's outcome once the batch is posted and its events numbered."""
    match outcome:
        case NewEvent():
            assert outcome.event_no is not None
            return Recorded(outcome.event_no, duplicate=False, result=outcome.result)
        case _Again():
            assert outcome.first.event_no is not None
            return Recorded(outcome.first.event_no, duplicate=True, result=outcome.first.result)
        case _:
            return outcome


def new_event(
    event: Event,
    customer_id: CustomerId | None,
    member_id: MemberId | None,
    version: int,
) -> NewEvent:
    """The stored form of an accepted event; its result is filled in once applied."""
    return stored_event(
        event.idempotency_key,
        event.type,
        event.occurred_at,
        event.encode(),
        customer_id,
        member_id,
        version,
    )


def stored_event(
    key: str,
    kind: str,
    occurred_at: datetime,
    encoded: Encoded,
    customer_id: CustomerId | None,
    member_id: MemberId | None,
    version: int,
) -> NewEvent:
    """The stored form of an event already encoded (an import encodes its rows itself)."""
    return NewEvent(
        key=key,
        content_hash=encoded.content_hash,
        type=kind,
        customer_id=customer_id,
        member_id=member_id,
        occurred_at=occurred_at,
        payload=encoded.canonical,
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


def event_result(
    program: Program, cause: NewEvent, outcome: Outcome, state: MemberState | None
) -> dict[str, Any]:
    """What the event did, kept so that a retry gets the same answer.

    `points` are those granted; `held`, if any, those the daily cap held for review;
    `cashback`, if any, the store credit earned (or taken back, negative); `punches`,
    those given to (or taken back from) each punch card, and `vouchers`, the codes of the
    cards completed.
    """
    held = points = credit = 0
    rules: set[str] = set()
    for transaction in outcome.transactions:
        if transaction.actor == SCHEDULER:
            continue  # what the passing of time did first (an expiry) is not the event's
        for line in transaction.lines:
            if line.account == Account.HELD:
                held += line.amount
            elif line.account in MEMBER_ACCOUNTS:
                points += line.amount
            elif line.account in CREDIT_ACCOUNTS:
                credit += line.amount
            if line.rule_id:
                rules.add(line.rule_id)
    result: dict[str, Any] = {
        "type": cause.type,
        "member_id": cause.member_id,
        "points": points,
        "rules": sorted(rules),
        "tier": state.tier if state else None,
    }
    if held:
        result["held"] = held
    if credit:
        result["cashback"] = str(from_minor(credit, program.currency))
    if outcome.punches:
        result["punches"] = outcome.punches
    if outcome.vouchers:  # of the punch cards this purchase completed
        result["vouchers"] = [voucher.code for voucher in outcome.vouchers]
    return result
