"""Events a shop sends: purchases, refunds, birthdays and named activities.

Each carries an idempotency key; its content hash tells a retry (same content)
from a conflict (same key, other content).
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Annotated, Any, Literal, NamedTuple

import orjson
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    PositiveInt,
    ValidationError,
    model_validator,
)

from fidela.domain.errors import InvalidInput
from fidela.domain.ids import ID_MAX
from fidela.domain.program import NonNegative, Positive, Slug


def without_nul(text: str) -> str:
    """`text`, refused if it holds NUL (U+0000): PostgreSQL can't store or compare it."""
    if "\x00" in text:
        raise ValueError("must not contain NUL (U+0000)")
    return text


WithoutNul = AfterValidator(without_nul)
Key = Annotated[str, Field(min_length=1, max_length=200), WithoutNul]
Text = Annotated[str, Field(min_length=1, max_length=200), WithoutNul]


def _in_standard_zone(at: datetime) -> datetime:
    """`at` with the standard library's fixed offset in place of pydantic's own: the same
    instant and the same text. Two times compare at once when they share a zone object;
    with pydantic's, every comparison with a stored time (a lot's expiry, a tier's
    window) asks both zones their offset, ten times slower."""
    offset = at.utcoffset()
    assert offset is not None
    return at.replace(tzinfo=timezone(offset))


Instant = Annotated[AwareDatetime, AfterValidator(_in_standard_zone)]


# The years of the dates Fidela takes from a person (a history's, a report's period):
# outside, a date is a typo (and a time computed from it may overflow).
YEARS = range(1900, 2200)


def out_of_range(day: date) -> str:
    """Why a day outside YEARS is refused."""
    return f"{day.isoformat()} is not between {YEARS.start} and {YEARS.stop - 1}"


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CustomerRef(_Input):
    """Who an event is about: the shop's customer id, an e-mail, or a member id."""

    customer_id: Text | None = None
    email: EmailStr | None = None
    member_id: Annotated[int, Field(ge=1, le=ID_MAX)] | None = None

    @model_validator(mode="after")
    def _names_someone(self) -> CustomerRef:
        if self.customer_id is None and self.email is None and self.member_id is None:
            raise ValueError("needs customer_id, email or member_id")
        return self


class OrderLine(_Input):
    sku: Text | None = None
    category: Text | None = None
    quantity: PositiveInt = 1
    amount: NonNegative


class Encoded(NamedTuple):
    """An event's content as stored: canonical JSON, and its hash."""

    canonical: str
    content_hash: str


class _Event(_Input):
    idempotency_key: Key
    customer: CustomerRef
    occurred_at: Instant

    def canonical(self) -> str:
        """Everything but the key, as canonical JSON: what is stored and what is hashed."""
        content = self.model_dump(mode="json", exclude={"idempotency_key"})
        return orjson.dumps(content, option=orjson.OPT_SORT_KEYS).decode()

    def encode(self) -> Encoded:
        """The canonical form and its hash: equal for a retry, different for a conflict."""
        canonical = self.canonical()
        return Encoded(canonical, content_hash(canonical))

    def content_hash(self) -> str:
        return self.encode().content_hash


class Purchase(_Event):
    type: Literal["purchase"] = "purchase"
    order_id: Text
    amount: NonNegative
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
    lines: tuple[OrderLine, ...] = ()

    @model_validator(mode="after")
    def _lines_within_amount(self) -> Purchase:
        if sum((line.amount for line in self.lines), Decimal(0)) > self.amount:
            raise ValueError("the lines add up to more than the order's amount")
        return self


class RefundLine(_Input):
    sku: Text
    quantity: PositiveInt = 1


class Refund(_Event):
    """A refund of a whole order (no amount, no lines), of some of its lines, or of an amount."""

    type: Literal["refund"] = "refund"
    customer: CustomerRef | None = None  # type: ignore[assignment]  # the order names the customer
    order_id: Text
    amount: Positive | None = None
    lines: tuple[RefundLine, ...] = ()

    @model_validator(mode="after")
    def _amount_or_lines(self) -> Refund:
        if self.amount is not None and self.lines:
            raise ValueError("give an amount or lines, not both")
        return self


class Birthday(_Event):
    type: Literal["birthday"] = "birthday"


RESERVED = frozenset({"purchase", "refund", "birthday", "signup"})


class Activity(_Event):
    """A named activity: review, visit, newsletter_signup, social_share or any custom name."""

    type: Slug
    attributes: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _not_reserved(self) -> Activity:
        if self.type in RESERVED:
            raise ValueError(f"{self.type} is not an activity")
        return self


Event = Purchase | Refund | Birthday | Activity
_MODELS: dict[str, type[_Event]] = {"purchase": Purchase, "refund": Refund, "birthday": Birthday}


def parse_event(data: dict[str, Any], *, idempotency_key: str | None = None) -> Event:
    """Validate an event from JSON-like data; raise InvalidInput naming the first bad field.

    `idempotency_key`, if given apart from the data (an HTTP header), stands in for a
    missing one and must equal one that is there.
    """
    if idempotency_key is not None:
        given = data.get("idempotency_key")
        if given not in (None, idempotency_key):
            raise InvalidInput("idempotency_key", "differs from the one given apart (header)")
        data = {**data, "idempotency_key": idempotency_key}
    kind = data.get("type")
    if not isinstance(kind, str) or not kind:
        raise InvalidInput("type", "is required: purchase, refund, birthday or an activity name")
    model = _MODELS.get(kind, Activity)
    try:
        event = model.model_validate(data)
    except ValidationError as error:
        raise invalid_input(error) from None
    assert isinstance(event, Purchase | Refund | Birthday | Activity)
    return event


def invalid_input(error: ValidationError) -> InvalidInput:
    """The first problem of a pydantic error, as Fidela's InvalidInput."""
    first = error.errors()[0]
    field = ".".join(str(part) for part in first["loc"])
    reason = first["msg"].removeprefix("Value error, ")
    return InvalidInput(field or "(input)", reason)


class EnrollmentForm(_Input):
    """What a member gives to join: an e-mail or a shop id, and optionally a name, birthday,
    and the code of the member who referred them."""

    email: EmailStr | None = None
    customer_id: Text | None = None
    name: Text | None = None
    birthday: date | None = None
    referral_code: Annotated[str, Field(min_length=1, max_length=16), WithoutNul] | None = None

    @model_validator(mode="after")
    def _identified(self) -> EnrollmentForm:
        if self.email is None and self.customer_id is None:
            raise ValueError("needs an email or a customer_id")
        return self


def _no_email(name: str) -> str:
    if "@" in name:
        raise ValueError("a leaderboard shows no e-mail: choose a name without @")
    return name


# What the leaderboard shows for an opted-in member: never their e-mail.
DisplayName = Annotated[
    str, Field(min_length=1, max_length=40), WithoutNul, AfterValidator(_no_email)
]


class MemberUpdate(_Input):
    """What a member may change: e-mail, name, birthday, and their name on the leaderboard
    (set to opt in, null to opt out); a field left out stays as it is.

    `name` and `birthday` may be set to null to forget them; the e-mail can't be removed.
    """

    email: EmailStr | None = None
    name: Text | None = None
    birthday: date | None = None
    leaderboard_name: DisplayName | None = None

    @model_validator(mode="after")
    def _changes_something(self) -> MemberUpdate:
        if not self.model_fields_set:
            raise ValueError("changes nothing: give email, name, birthday or leaderboard_name")
        if "email" in self.model_fields_set and self.email is None:
            raise ValueError("email can be changed, not removed")
        return self


class Enrollment(EnrollmentForm):
    """A form, and when the member joined."""

    enrolled_at: Instant


def parse_enrollment(data: dict[str, Any]) -> Enrollment:
    """Validate an enrollment; raise InvalidInput naming the first bad field."""
    try:
        return Enrollment.model_validate({k: v for k, v in data.items() if v is not None})
    except ValidationError as error:
        raise invalid_input(error) from None


def content_hash(canonical: str) -> str:
    return hashlib.sha256(canonical.encode()).hexdigest()


def normalize_email(email: str) -> str:
    """The form e-mails are stored and compared in: trimmed and lower-case."""
    return email.strip().lower()
