"""Paid memberships: a trial, paid periods the shop reports, cancellation, lapse.

Fidela records memberships; it charges no card. A member holds at most one
membership at a time:

- **join** starts the free trial (`trial_days`), once per plan: without a trial, or
  joining a plan again, needs the first payment at once;
- a **payment** the shop reports converts a trial (the paid period starts when the
  trial ends), renews an active membership (from the end of its period), or starts the
  membership again after it lapsed (from the payment);
- **cancel** keeps the membership to the end of the period (or trial), then it lapses;
- at the end of a period with no payment, the membership **lapses**.

While it runs (trial included) the membership's `earn_multiplier` applies, and its
`monthly_points` are granted at the start and on each monthly anniversary in the
program's time zone.
"""

from __future__ import annotations

from calendar import monthrange
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from fidela.domain.errors import Conflict, InvalidInput, NotFound
from fidela.domain.events import Text, invalid_input
from fidela.domain.program import Membership, NonNegative, Program

Status = Literal["trial", "active", "lapsed"]


@dataclass
class Subscription:
    """A member's membership: which one, and where it stands."""

    plan: str  # the membership's id
    status: Status
    started_at: datetime
    period_ends_at: datetime  # of the trial, or of the period paid
    cancel_at_period_end: bool = False
    next_grant_at: datetime | None = None  # of monthly_points

    @property
    def running(self) -> bool:
        return self.status != "lapsed"

    def next_change(self) -> datetime | None:
        """When a monthly grant or the end of the period is due, if it runs."""
        if not self.running:
            return None
        if self.grant_due_first:
            return self.next_grant_at
        return self.period_ends_at

    @property
    def grant_due_first(self) -> bool:
        """Whether a monthly grant comes before the end of the period."""
        return self.next_grant_at is not None and self.next_grant_at < self.period_ends_at

    def described(self) -> dict[str, object]:
        """Where it stands, as announced in `membership.changed`."""
        return {
            "membership": self.plan,
            "status": self.status,
            "period_ends_at": self.period_ends_at.isoformat(),
            "cancel_at_period_end": self.cancel_at_period_end,
        }


def plan_of(program: Program, plan: str) -> Membership:
    found = next((m for m in program.memberships if m.id == plan), None)
    if found is None:
        known = ", ".join(m.id for m in program.memberships) or "none"
        raise NotFound("membership_id", f"no membership {plan} in the program (known: {known})")
    return found


def months_after(start: datetime, months: int, zone: ZoneInfo) -> datetime:
    """The same local day and time `months` later in `zone` (the month's last day if
    shorter: 31 January + 1 month is 28 or 29 February)."""
    local = start.astimezone(zone)
    month0 = local.month - 1 + months
    year, month = local.year + month0 // 12, month0 % 12 + 1
    day = min(local.day, monthrange(year, month)[1])
    return local.replace(year=year, month=month, day=day).astimezone(UTC)


def period_after(plan: Membership, start: datetime, zone: ZoneInfo) -> datetime:
    return months_after(start, 1 if plan.period == "month" else 12, zone)


def join(
    program: Program, current: Subscription | None, plan_id: str, at: datetime, *, paid: bool
) -> Subscription:
    """Start a membership: its trial, or (`paid`) its first paid period."""
    plan = plan_of(program, plan_id)
    if current is not None and current.running:
        raise Conflict("membership_id", f"already a member of {current.plan} until it lapses")
    if paid:
        ends = period_after(plan, at, program.zone)
        return Subscription(plan.id, "active", at, ends, next_grant_at=_first_grant(plan, at))
    if not plan.trial_days:
        raise InvalidInput("payment", f"{plan.id} has no free trial: joining needs the payment")
    if current is not None and current.plan == plan.id:
        reason = f"the free trial of {plan.id} was taken once: joining again needs the payment"
        raise InvalidInput("payment", reason)
    ends = at + timedelta(days=plan.trial_days)
    return Subscription(plan.id, "trial", at, ends, next_grant_at=_first_grant(plan, at))


def pay(program: Program, current: Subscription | None, at: datetime) -> Subscription:
    """A payment the shop reports: converts a trial, renews, or starts again after a lapse.
    The caller records the payment itself."""
    if current is None:
        raise Conflict("membership", "the member has no membership: join one first")
    plan = plan_of(program, current.plan)
    if not current.running:
        ends = period_after(plan, at, program.zone)
        return Subscription(plan.id, "active", at, ends, next_grant_at=_first_grant(plan, at))
    current.status = "active"
    current.cancel_at_period_end = False
    current.period_ends_at = period_after(plan, current.period_ends_at, program.zone)
    return current


def cancel(current: Subscription | None) -> Subscription:
    """Stop at the end of the period (or trial): nothing is refunded, benefits go on."""
    if current is None or not current.running:
        raise Conflict("membership", "the member has no running membership to cancel")
    if current.cancel_at_period_end:
        raise Conflict("membership", "is cancelled already: it ends with its period")
    current.cancel_at_period_end = True
    return current


def monthly_grant(program: Program, current: Subscription) -> int:
    """The monthly points due at `next_grant_at`; the grant after it is scheduled."""
    plan = plan_of(program, current.plan)
    assert current.next_grant_at is not None
    months = _months_between(current.started_at, current.next_grant_at, program.zone) + 1
    current.next_grant_at = months_after(current.started_at, months, program.zone)
    return plan.monthly_points


def lapse(current: Subscription) -> None:
    current.status = "lapsed"
    current.next_grant_at = None


def running_plan(program: Program, current: Subscription | None) -> Membership | None:
    """The plan of a running membership, whose benefits apply; None without one."""
    if current is None or not current.running:
        return None
    return next((m for m in program.memberships if m.id == current.plan), None)


def _first_grant(plan: Membership, at: datetime) -> datetime | None:
    return at if plan.monthly_points else None


def _months_between(start: datetime, instant: datetime, zone: ZoneInfo) -> int:
    """Whole monthly anniversaries of `start` from it to `instant` (0 at `start`)."""
    a, b = start.astimezone(zone), instant.astimezone(zone)
    months = (b.year - a.year) * 12 + b.month - a.month
    while months > 0 and months_after(start, months, zone) > instant:
        months -= 1
    return months


class MembershipPayment(BaseModel):
    """A payment for a membership, as the shop reports it (Fidela charges nothing)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    amount: NonNegative
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
    reference: Text | None = None  # the shop's own reference for the payment


def parse_membership_payment(data: dict[str, Any]) -> MembershipPayment:
    """A payment from loose input (the command line): InvalidInput naming the field if bad."""
    try:
        return MembershipPayment.model_validate(data)
    except ValidationError as error:
        raise invalid_input(error) from None
