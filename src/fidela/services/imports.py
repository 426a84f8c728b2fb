"""Importing purchase history (CDNOW's files or a CSV) as customers, members and purchases.

Policy: every row is checked before anything is written; if any row is bad, every
bad row is reported with its line number and nothing is imported. A good file is
imported in one transaction, in date order, and importing it again changes nothing.
"""

from __future__ import annotations

import csv
import gc
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal, cast, get_args

import orjson
from pydantic import EmailStr, TypeAdapter, ValidationError

from fidela.domain import members as member_rules
from fidela.domain.errors import InvalidInput, Problem
from fidela.domain.events import (
    YEARS,
    CustomerRef,
    Encoded,
    Instant,
    OrderLine,
    content_hash,
    normalize_email,
    out_of_range,
)
from fidela.domain.ids import CustomerId, MemberId, ProgramId
from fidela.domain.members import MemberState, OrderState
from fidela.domain.money import to_minor
from fidela.domain.program import NonNegative, Program
from fidela.domain.rules import local_midnight
from fidela.services.events import CLOCK_SKEW, event_result, stored_event
from fidela.services.members import campaign_spend
from fidela.store.ledger import Changes
from fidela.store.programs import StoredVersion
from fidela.store.unit_of_work import UnitOfWork

CHUNK = 2000  # events posted at a time inside the import's transaction
SHOWN = 20  # bad rows listed in full; the rest are counted


@dataclass(frozen=True)
class PurchaseRow:
    """One purchase of a history file; `day` rows happen at 00:00 in the program's zone."""

    line: int
    customer_id: str
    order_id: str
    amount: Decimal
    currency: str
    at: datetime | None = None
    day: date | None = None
    quantity: int | None = None
    email: str | None = None
    enroll: bool = True

    def occurred_at(self, program: Program) -> datetime:
        if self.at is not None:
            return self.at
        assert self.day is not None
        return local_midnight(self.day, program.zone)


class ImportInvalid(InvalidInput):
    """Some rows of a history file are bad; `problems` locates each by line."""

    def __init__(self, source: str, problems: list[Problem]) -> None:
        super().__init__(source, f"{len(problems)} bad rows, nothing was imported")
        self.problems = problems

    def __str__(self) -> str:
        shown = [f"{self.field}: {self.reason}"] + [str(p) for p in self.problems[:SHOWN]]
        if len(self.problems) > SHOWN:
            shown.append(f"... and {len(self.problems) - SHOWN} more")
        return "\n".join(shown)


Format = Literal["cdnow", "csv"]  # of a history file


def read(path: Path, file_format: str) -> list[PurchaseRow]:
    """Parse a history file; raise ImportInvalid listing every bad row."""
    if file_format not in get_args(Format):
        raise InvalidInput(
            "--format", f"{file_format!r} is not one of {', '.join(get_args(Format))}"
        )
    try:
        with path.open(encoding="utf-8", newline="") as file:
            return parse(file, cast(Format, file_format), str(path))
    except OSError as error:
        raise InvalidInput(str(path), error.strerror or "can't be read") from None
    except UnicodeDecodeError:
        raise InvalidInput(str(path), "is not UTF-8 text") from None


def parse(lines: Iterable[str], file_format: Format, source: str) -> list[PurchaseRow]:
    """Parse a history's lines (a file, or text sent over the API, read with `newline=""`);
    raise ImportInvalid listing every bad row, named after `source`."""
    readers = {"cdnow": _read_cdnow, "csv": _read_csv}
    try:
        rows, problems = readers[file_format](lines)
    except csv.Error as error:
        raise InvalidInput(source, f"is not a valid CSV file: {error}") from None
    if problems:
        raise ImportInvalid(source, problems)
    return rows


def _read_cdnow(file: Iterable[str]) -> tuple[list[PurchaseRow], list[Problem]]:
    """CDNOW_master (id, date, cds, dollars) or CDNOW_sample (id, sample id, date, cds, dollars)."""
    rows: list[PurchaseRow] = []
    problems: list[Problem] = []
    same_day: dict[tuple[str, str], int] = {}
    days: dict[str, date] = {}  # CDNOW has a few hundred distinct days in 69,659 rows
    for number, text in enumerate(file, start=1):
        parts = text.split()
        if not parts or parts[0] == "customer_id":
            continue
        if len(parts) not in (4, 5):
            problems.append(Problem(f"line {number}", f"has {len(parts)} columns, not 4 or 5"))
            continue
        customer, day_text, cds, dollars = parts[0], *parts[-3:]
        day = days.get(day_text)
        if day is None:
            try:
                day = datetime.strptime(day_text, "%Y%m%d").date()
            except ValueError:
                problems.append(Problem(f"line {number}.date", f"{day_text!r} is not YYYYMMDD"))
                continue
            if day.year not in YEARS:
                problems.append(Problem(f"line {number}.date", out_of_range(day)))
                continue
            days[day_text] = day
        amount = _amount(dollars, f"line {number}.dollar_value", problems)
        if amount is None or not cds.isdigit():
            if cds and not cds.isdigit():
                problems.append(Problem(f"line {number}.number_of_cds", f"{cds!r} is no count"))
            continue
        nth = same_day[(customer, day_text)] = same_day.get((customer, day_text), 0) + 1
        order_id = f"cdnow-{customer}-{day_text}-{nth}"
        rows.append(
            PurchaseRow(number, customer, order_id, amount, "USD", day=day, quantity=int(cds))
        )
    return rows, problems


MAX_ID = 200  # characters of a customer or order id, as for events sent one by one
_EMAIL = TypeAdapter(EmailStr)
CSV_COLUMNS = ("customer_id", "order_id", "occurred_at", "amount", "currency")


def _read_csv(file: Iterable[str]) -> tuple[list[PurchaseRow], list[Problem]]:
    """A CSV with a header naming CSV_COLUMNS, and optionally `email` and `enroll`."""
    reader = csv.DictReader(file)
    missing = [column for column in CSV_COLUMNS if column not in (reader.fieldnames or [])]
    if missing:
        return [], [Problem("line 1", f"missing columns: {', '.join(missing)}")]
    rows: list[PurchaseRow] = []
    problems: list[Problem] = []
    for record in reader:
        number = reader.line_num
        where = f"line {number}"
        empty = [column for column in CSV_COLUMNS if not (record.get(column) or "").strip()]
        if empty:
            problems.append(Problem(f"{where}.{empty[0]}", "is empty"))
            continue
        too_long = [c for c in ("customer_id", "order_id") if len(record[c].strip()) > MAX_ID]
        if too_long:
            problems.append(
                Problem(f"{where}.{too_long[0]}", f"is longer than {MAX_ID} characters")
            )
            continue
        email = normalize_email(record.get("email") or "") or None
        if email is not None and not _valid_email(email):
            problems.append(Problem(f"{where}.email", f"{email!r} is not an e-mail address"))
            continue
        amount = _amount(record["amount"], f"{where}.amount", problems)
        when = _when(record["occurred_at"].strip(), f"{where}.occurred_at", problems)
        enroll = (record.get("enroll") or "yes").strip().lower()
        if enroll not in ("yes", "no"):
            problems.append(Problem(f"{where}.enroll", f"{enroll!r} is not yes or no"))
            continue
        if amount is None or when is None:
            continue
        at, day = (when, None) if isinstance(when, datetime) else (None, when)
        rows.append(
            PurchaseRow(
                number,
                record["customer_id"].strip(),
                record["order_id"].strip(),
                amount,
                record["currency"].strip().upper(),
                at=at,
                day=day,
                email=email,
                enroll=enroll == "yes",
            )
        )
    return rows, problems


def _valid_email(email: str) -> bool:
    try:
        _EMAIL.validate_python(email)
    except ValidationError:
        return False
    return True


def _amount(text: str, where: str, problems: list[Problem]) -> Decimal | None:
    try:
        amount = Decimal(text.strip())
    except InvalidOperation:
        problems.append(Problem(where, f"{text!r} is not a number"))
        return None
    if not amount.is_finite() or amount < 0:
        problems.append(Problem(where, f"{text!r} must be a finite amount of 0 or more"))
        return None
    return amount


def _when(text: str, where: str, problems: list[Problem]) -> datetime | date | None:
    try:
        at = date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text)
    except ValueError:
        problems.append(Problem(where, f"{text!r} is not YYYY-MM-DD or ISO 8601"))
        return None
    if isinstance(at, datetime) and at.tzinfo is None:
        problems.append(Problem(where, "a time needs a UTC offset (a date alone is fine)"))
        return None
    if at.year not in YEARS:
        problems.append(Problem(where, out_of_range(at)))
        return None
    return at


def import_purchases(
    uow: UnitOfWork,
    program_id: ProgramId,
    rows: list[PurchaseRow],
    *,
    now: datetime,
    progress: Callable[[int], None] | None = None,
    announce: bool = False,
) -> dict[str, Any]:
    """Replay purchases in date order; customers enroll at their first purchase (if `enroll`).

    An import replays history, so by default it announces nothing: its effects (tier
    changes, enrollments) are not written to the outbox unless `announce` is set.
    """
    # The collector comes back once the import's objects are gone, so it never walks them.
    with _collector_paused():
        return _import(uow, program_id, rows, now, progress, announce)


def _import(
    uow: UnitOfWork,
    program_id: ProgramId,
    rows: list[PurchaseRow],
    now: datetime,
    progress: Callable[[int], None] | None,
    announce: bool,
) -> dict[str, Any]:
    with uow:
        stored = uow.programs.current(program_id)
        program = stored.program
        purchases = _Purchases()
        fresh = _fresh(uow, program_id, _check_rows(program, rows, now), purchases)
        roster = _roster(uow, program, fresh, now)
        enrolled, imported = len(roster.joining), len(fresh)
        replay = Changes(program, announce=announce)
        _replay(uow, stored, replay, fresh, purchases, roster, now, progress)
        del fresh, purchases, roster, replay  # freed while the last chunk is written
        uow.commit()
    return {
        "program": program_id,
        "rows": len(rows),
        "imported": imported,
        "already_imported": len(rows) - imported,
        "members_enrolled": enrolled,
    }


@dataclass
class _Roster:
    """Who an import's rows are about: customers by shop id, members, and their states."""

    customers: dict[str, CustomerId]
    member_of: dict[CustomerId, MemberId]
    states: dict[MemberId, MemberState]
    joining: set[MemberId]  # enrolled by this import, at their first row asking for it


def _roster(uow: UnitOfWork, program: Program, fresh: list[_Checked], now: datetime) -> _Roster:
    """Create the customers and members the rows need, and lock and load the members."""
    customers = _customers(uow, ProgramId(program.program), fresh)
    member_of = uow.members.ids_of_customers(list(set(customers.values())))
    first = fresh[0].at if fresh else now
    until = now + CLOCK_SKEW  # no row is later (_check_rows)
    states = uow.members.load_states(
        program,
        list(member_of.values()),
        first,
        lock=True,
        until=until,
        meeting=member_rules.reached_by(["purchase"]),
    )
    enrolling: dict[CustomerId, datetime] = {}
    for checked in fresh:
        customer_id = customers[checked.row.customer_id]
        if checked.row.enroll and customer_id not in member_of and customer_id not in enrolling:
            enrolling[customer_id] = checked.at
    joining = set()
    new_members = uow.members.add_many(ProgramId(program.program), enrolling)
    for customer_id, member_id in new_members.items():
        member_of[customer_id] = member_id
        states[member_id] = MemberState(member_id, enrolling[customer_id])
        joining.add(member_id)
    if program.targets_pilots:  # a customer in a pilot's group before enrolling
        for member_id, pilots in uow.members.pilots(program, list(new_members.values())).items():
            states[member_id].pilots = pilots
    return _Roster(customers, member_of, states, joining)


def _replay(
    uow: UnitOfWork,
    stored: StoredVersion,
    changes: Changes,
    fresh: list[_Checked],
    purchases: _Purchases,
    roster: _Roster,
    now: datetime,
    progress: Callable[[int], None] | None,
) -> None:
    """Apply the purchases in date order, posting every CHUNK events, each chunk written
    while the next is computed. A member's state goes with the chunk of their last row.

    What a customer bought before enrolling stays a customer's purchase and earns nothing.
    """
    program = stored.program
    spent = campaign_spend(uow, program)
    last_row = _last_rows(fresh, roster)
    for i, checked in enumerate(fresh):
        customer_id = roster.customers[checked.row.customer_id]
        member_id = roster.member_of.get(customer_id)
        state = roster.states.get(member_id) if member_id is not None else None
        if state is not None and checked.at < state.enrolled_at:
            state = None
        elif member_id is not None and state is not None and member_id in roster.joining:
            changes.record(member_id, state, member_rules.enroll(program, state))
            roster.joining.discard(member_id)
        _record_row(program, stored.version, changes, checked, purchases, customer_id, state, spent)
        if len(changes.events) >= CHUNK or i == len(fresh) - 1:
            changes.states = {m: s for m, s in changes.states.items() if last_row[m] <= i}
            uow.ledger.post(stored.program_id, changes, now, in_background=True)
            if progress:
                progress(len(changes.events))
            changes = Changes(program, announce=changes.announce)


def _last_rows(fresh: list[_Checked], roster: _Roster) -> dict[MemberId, int]:
    """The index of each member's last row: after it, their state is final."""
    last = {}
    for i, checked in enumerate(fresh):
        member_id = roster.member_of.get(roster.customers[checked.row.customer_id])
        if member_id is not None:
            last[member_id] = i
    return last


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector during an import.

    An import holds hundreds of thousands of long-lived objects (rows, lots, lines) and
    creates no reference cycles; full collections over them cost a third of its time.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@dataclass(frozen=True)
class _Checked:
    """A good row, with the instant it happened, its amount in minor units and its
    event's idempotency key."""

    row: PurchaseRow
    at: datetime
    amount_minor: int
    key: str


def _check_rows(program: Program, rows: list[PurchaseRow], now: datetime) -> list[_Checked]:
    problems = []
    checked = []
    first_line: dict[str, int] = {}
    email_of: dict[str, str] = {}
    customer_of: dict[str, str] = {}
    for row in rows:
        seen = first_line.setdefault(row.order_id, row.line)
        if seen != row.line:
            reason = f"order {row.order_id} is already on line {seen}"
            problems.append(Problem(f"line {row.line}.order_id", reason))
            continue
        if row.email and email_of.setdefault(row.customer_id, row.email) != row.email:
            reason = f"customer {row.customer_id} has another e-mail on an earlier line"
            problems.append(Problem(f"line {row.line}.email", reason))
            continue
        if row.email and customer_of.setdefault(row.email, row.customer_id) != row.customer_id:
            reason = f"{row.email} belongs to customer {customer_of[row.email]} on an earlier line"
            problems.append(Problem(f"line {row.line}.email", reason))
            continue
        try:
            program.check_currency(row.currency, f"line {row.line}.currency")
            amount_minor = to_minor(row.amount, row.currency, f"line {row.line}.amount")
        except InvalidInput as error:
            problems.append(Problem(error.field, error.reason))
            continue
        at = row.occurred_at(program)
        if at > now + CLOCK_SKEW:
            reason = f"{at.isoformat()} is in the future"
            problems.append(Problem(f"line {row.line}.occurred_at", reason))
            continue
        checked.append(_Checked(row, at, amount_minor, f"import:{row.order_id}"))
    if problems:
        raise ImportInvalid("rows", problems)
    return checked


class _Purchases:
    """Good rows turned into the purchase events they stand for, as stored: the replay
    builds each as it goes, while the ledger's thread writes the chunk before.

    An event is stored as canonical JSON, which is what `Purchase.canonical` gives for the
    validated event: this builds it without the model, from each customer's and each
    distinct line's part, serialized once by their models, and each value serialized by
    its field's type (with the order, 11-18 us a CDNOW row in isolation, against 28-33 us
    through a `Purchase`). Orders share one tuple of lines per distinct line.
    """

    def __init__(self) -> None:
        self._customers: dict[tuple[str, str | None], dict[str, Any]] = {}
        self._lines: dict[tuple[int, str], tuple[tuple[OrderLine, ...], list[dict[str, Any]]]] = {}
        # By instant and offset: 05:00Z and 00:00-05:00 are equal, and written apart.
        self._times: dict[tuple[datetime, timedelta | None], Any] = {}
        self._amounts: dict[str, Any] = {}  # by text

    def encoded(self, checked: _Checked) -> Encoded:
        """The canonical JSON of the row's event, and its hash (`Purchase.encode`)."""
        return self.stored(checked)[0]

    def stored(self, checked: _Checked) -> tuple[Encoded, OrderState]:
        """The row's event encoded, and its order as refunds will need it
        (`events.new_order`), the row's lines looked up once for both."""
        row = checked.row
        amount = str(row.amount)
        lines, dumped = self._lines_of(row, amount)
        order = OrderState(row.order_id, checked.at, checked.amount_minor, row.currency, lines)
        return self._encode(checked, amount, dumped), order

    def _encode(self, checked: _Checked, amount: str, lines: list[dict[str, Any]]) -> Encoded:
        """`amount` is the row's amount as text, which tells apart 3.5 and 3.50 (equal, but
        not written the same): serialized once per text."""
        row = checked.row
        instant = (checked.at, checked.at.utcoffset())
        at = self._times.get(instant)
        if at is None:
            at = self._times[instant] = _INSTANT.dump_python(checked.at, mode="json")
        dumped_amount = self._amounts.get(amount)
        if dumped_amount is None:
            dumped_amount = self._amounts[amount] = _AMOUNT.dump_python(row.amount, mode="json")
        content = {
            "amount": dumped_amount,
            "currency": row.currency,
            "customer": self._customer(row),
            "lines": lines,
            "occurred_at": at,
            "order_id": row.order_id,
            "type": "purchase",
        }
        canonical = orjson.dumps(content, option=orjson.OPT_SORT_KEYS).decode()
        return Encoded(canonical, content_hash(canonical))

    def _customer(self, row: PurchaseRow) -> dict[str, Any]:
        dumped = self._customers.get((row.customer_id, row.email))
        if dumped is None:
            ref = CustomerRef.model_construct(
                customer_id=row.customer_id, email=row.email, member_id=None
            )
            dumped = self._customers[(row.customer_id, row.email)] = ref.model_dump(mode="json")
        return dumped

    def _lines_of(
        self, row: PurchaseRow, amount: str
    ) -> tuple[tuple[OrderLine, ...], list[dict[str, Any]]]:
        """The order lines of a row, and as serialized: one line when the row counts its
        units, else none. `amount` is the row's amount as text."""
        if not row.quantity:
            return (), []
        key = (row.quantity, amount)
        lines = self._lines.get(key)
        if lines is None:
            line = OrderLine.model_construct(
                sku=None, category=None, quantity=row.quantity, amount=row.amount
            )
            lines = self._lines[key] = ((line,), [line.model_dump(mode="json")])
        return lines


_INSTANT = TypeAdapter(Instant)  # how Purchase serializes its fields
_AMOUNT = TypeAdapter(NonNegative)


def _fresh(
    uow: UnitOfWork, program_id: ProgramId, checked: list[_Checked], purchases: _Purchases
) -> list[_Checked]:
    """The rows not imported before, in date order; refuse rows that clash with the store."""
    known = uow.events.hashes(program_id, [c.key for c in checked])
    problems = [
        Problem(f"line {c.row.line}", f"{c.key} was imported with other content")
        for c in checked
        if c.key in known and known[c.key] != purchases.encoded(c).content_hash
    ]
    fresh = [c for c in checked if c.key not in known]
    taken = uow.events.existing_orders(program_id, [c.row.order_id for c in fresh])
    problems.extend(
        Problem(f"line {c.row.line}.order_id", f"order {c.row.order_id} is already recorded")
        for c in fresh
        if c.row.order_id in taken
    )
    owners = uow.customers.external_ids_by_email(
        program_id, {c.row.email for c in fresh if c.row.email}
    )
    problems.extend(
        Problem(f"line {c.row.line}.email", f"{c.row.email} belongs to another customer")
        for c in fresh
        if c.row.email and owners.get(c.row.email, c.row.customer_id) != c.row.customer_id
    )
    if problems:
        raise ImportInvalid("rows", problems)
    fresh.sort(key=lambda c: (c.at, c.row.line))
    return fresh


def _customers(
    uow: UnitOfWork, program_id: ProgramId, fresh: list[_Checked]
) -> dict[str, CustomerId]:
    wanted = {c.row.customer_id for c in fresh}
    known = uow.customers.ids_by_external(program_id, wanted)
    first_seen: dict[str, tuple[datetime, str | None]] = {}
    for c in fresh:
        customer = c.row.customer_id
        if customer not in known:
            at, email = first_seen.get(customer, (c.at, None))
            first_seen[customer] = (at, email or c.row.email)
    known.update(uow.customers.add_many(program_id, first_seen))
    return known


def _record_row(
    program: Program,
    version: int,
    changes: Changes,
    checked: _Checked,
    purchases: _Purchases,
    customer_id: CustomerId,
    state: MemberState | None,
    spent: dict[str, int],
) -> None:
    member_id = state.member_id if state is not None else None
    encoded, order = purchases.stored(checked)
    cause = stored_event(
        checked.key, "purchase", checked.at, encoded, customer_id, member_id, version
    )
    changes.events.append(cause)
    changes.new_orders.append((order, customer_id, member_id, cause))
    outcome = member_rules.Outcome()
    if state is not None and member_id is not None:
        outcome = member_rules.purchase(program, state, order, checked.row.amount, spent=spent)
        changes.record(member_id, state, outcome, cause)
    cause.result = event_result(program, cause, outcome, state)
