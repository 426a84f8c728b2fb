"""The schema, as SQLAlchemy Core tables; Alembic migrations create it, never `create_all`.

Every per-member table carries `program_id` and `member_id` so that it can be
distributed by member later. Ledger rows are numbered per program (`seq`, `lot_no`,
`event_no`) under the program's ledger head, which also holds the hash chain's tip.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    ColumnElement,
    Date,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
)
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware datetimes, stored in UTC; naive ones are refused, not guessed."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value} would lose its time zone")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        return _as_utc(value)

    def result_processor(
        self, dialect: Dialect, coltype: object
    ) -> Callable[[Any], datetime | None] | None:
        """On SQLite, read the stored UTC text directly: times repeat, so parse each once.
        psycopg hands back datetimes itself: `_as_utc` alone, without TypeDecorator's
        wrapper around it (a member's state reads thousands of times)."""
        if dialect.name == "sqlite":
            return _utc_from_text
        if dialect.name == "postgresql":
            return _as_utc
        return super().result_processor(dialect, coltype)


def _as_utc(value: Any) -> datetime | None:
    if value is None:
        return None
    assert isinstance(value, datetime)
    if value.tzinfo is UTC:  # as PostgreSQL's sessions, set to UTC, give them
        return value
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@lru_cache(maxsize=1 << 16)
def _utc_from_text(text: str | None) -> datetime | None:
    """An instant stored on SQLite as 'YYYY-MM-DD HH:MM:SS.ffffff' in UTC."""
    return None if text is None else datetime.fromisoformat(text).replace(tzinfo=UTC)


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)
Id = BigInteger().with_variant(Integer(), "sqlite")  # SQLite autoincrements INTEGER keys only

programs = Table(
    "programs",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", Text, nullable=False),
    Column("version", Integer, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

program_versions = Table(
    "program_versions",
    metadata,
    Column("program_id", String(64), ForeignKey("programs.id"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("source", Text, nullable=False),
    Column("digest", String(64), nullable=False),
    Column("definition", JSON, nullable=False),
    Column("inactive", JSON, nullable=False),
    Column("applied_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("program_id", "version"),
)

ledger_heads = Table(
    "ledger_heads",
    metadata,
    Column("program_id", String(64), ForeignKey("programs.id"), primary_key=True),
    Column("last_seq", BigInteger, nullable=False),
    Column("last_hash", String(64), nullable=False),
    Column("last_lot_no", BigInteger, nullable=False),
    Column("last_event_no", BigInteger, nullable=False),
    # Whether the program has a live webhook subscription: the ledger's effects are written
    # to the outbox only then. Changed under this row's lock, which every post holds.
    Column("webhooks_live", Boolean, nullable=False, server_default="0"),
)

customers = Table(
    "customers",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("program_id", String(64), ForeignKey("programs.id"), nullable=False),
    Column("external_id", String(200)),
    Column("email", String(320)),
    Column("first_seen_at", UTCDateTime, nullable=False),
    UniqueConstraint("program_id", "external_id"),
    UniqueConstraint("program_id", "email"),
)

members = Table(
    "members",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("program_id", String(64), ForeignKey("programs.id"), nullable=False),
    Column("customer_id", Id, ForeignKey("customers.id"), nullable=False, unique=True),
    Column("name", String(200)),
    Column("birthday", Date),
    Column("enrolled_at", UTCDateTime, nullable=False),
    Column("available", BigInteger, nullable=False),
    Column("pending", BigInteger, nullable=False),
    Column("held", BigInteger, nullable=False, server_default="0"),
    Column("debt", BigInteger, nullable=False),
    # Store credit (cashback), in minor units of the program's currency.
    Column("credit", BigInteger, nullable=False, server_default="0"),
    Column("credit_pending", BigInteger, nullable=False, server_default="0"),
    Column("credit_debt", BigInteger, nullable=False, server_default="0"),
    Column("tier", String(64)),
    Column("tier_since", UTCDateTime),
    Column("tier_review_at", UTCDateTime),
    Column("purchase_count", Integer, nullable=False),
    Column("last_purchase_at", UTCDateTime),  # an inactivity policy counts from it
    Column("last_birthday_year", Integer),
    Column("reminded_until", UTCDateTime),
    Column("due_at", UTCDateTime),
    Column("erased_at", UTCDateTime),  # personal data removed on request
    Column("leaderboard_name", String(40)),  # set: opted in to the leaderboard, shown so
    Column("cards", JSON),  # punch cards: {card id: [punches, completed]}
    Column("membership", String(64)),  # the paid membership's id, if the member ever joined
    Column("membership_status", String(16)),  # trial, active or lapsed
    Column("membership_started_at", UTCDateTime),
    Column("membership_period_ends_at", UTCDateTime),
    Column("membership_next_grant_at", UTCDateTime),  # of its monthly points
    Column("membership_cancelled", Boolean, nullable=False, server_default="0"),  # at period end
    Column("referral_code", String(16)),  # what the member gives friends; set when first needed
    Index(None, "program_id", "due_at"),
    Index(None, "program_id", "referral_code", unique=True),
)

events = Table(
    "events",
    metadata,
    Column("program_id", String(64), ForeignKey("programs.id"), nullable=False),
    Column("event_no", BigInteger, nullable=False),
    Column("idempotency_key", String(200), nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("type", String(64), nullable=False),
    Column("customer_id", Id, ForeignKey("customers.id")),
    Column("member_id", Id, ForeignKey("members.id")),
    Column("occurred_at", UTCDateTime, nullable=False),
    Column("recorded_at", UTCDateTime, nullable=False),
    Column("program_version", Integer, nullable=False),
    Column("payload", JSON, nullable=False),
    Column("result", JSON, nullable=False),
    PrimaryKeyConstraint("program_id", "event_no"),
    UniqueConstraint("program_id", "idempotency_key"),
    Index(None, "member_id"),
)

orders = Table(
    "orders",
    metadata,
    Column("program_id", String(64), ForeignKey("programs.id"), nullable=False),
    Column("order_ref", String(200), nullable=False),
    Column("customer_id", Id, ForeignKey("customers.id"), nullable=False),
    Column("member_id", Id, ForeignKey("members.id")),
    Column("event_no", BigInteger, nullable=False),
    Column("occurred_at", UTCDateTime, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("refunded_minor", BigInteger, nullable=False),
    Column("refunded_quantities", JSON, nullable=False),
    Column("points", BigInteger, nullable=False),
    Column("reversed_points", BigInteger, nullable=False),
    Column("lines", JSON, nullable=False),
    Column("cashback", BigInteger, nullable=False, server_default="0"),  # minor units
    Column("reversed_cashback", BigInteger, nullable=False, server_default="0"),
    Column("punches", JSON),  # given to each punch card: {card id: punches}
    Column("removed_punches", JSON),  # taken back by refunds
    PrimaryKeyConstraint("program_id", "order_ref"),
    Index(None, "member_id", "occurred_at"),
    Index(None, "customer_id"),
)

transactions = Table(
    "transactions",
    metadata,
    Column("program_id", String(64), ForeignKey("programs.id"), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("member_id", Id, ForeignKey("members.id")),
    Column("kind", String(32), nullable=False),
    Column("occurred_at", UTCDateTime, nullable=False),
    Column("recorded_at", UTCDateTime, nullable=False),
    Column("event_no", BigInteger),
    Column("actor", String(200)),
    Column("reason", Text),
    Column("hash", String(64), nullable=False),
    PrimaryKeyConstraint("program_id", "seq"),
    ForeignKeyConstraint(["program_id", "event_no"], ["events.program_id", "events.event_no"]),
    Index(None, "member_id", "occurred_at"),
)

lines = Table(
    "lines",
    metadata,
    Column("program_id", String(64), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("line_no", Integer, nullable=False),
    # The transaction's member (`ledger verify` checks it), held to the members table by
    # the transaction's own key: a key here would cost a look-up for every line written.
    Column("member_id", Id),
    Column("account", String(32), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("lot_no", BigInteger),
    Column("rule_id", String(64)),
    PrimaryKeyConstraint("program_id", "seq", "line_no"),
    ForeignKeyConstraint(["program_id", "seq"], ["transactions.program_id", "transactions.seq"]),
    Index(None, "member_id"),
)

lots = Table(
    "lots",
    metadata,
    Column("program_id", String(64), nullable=False),
    Column("lot_no", BigInteger, nullable=False),
    Column("member_id", Id, ForeignKey("members.id"), nullable=False),
    Column("points", BigInteger, nullable=False),
    Column("remaining", BigInteger, nullable=False),
    Column("earned_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime),
    Column("pending_until", UTCDateTime),
    Column("rule_id", String(64)),
    Column("order_ref", String(200)),
    Column("held", Boolean, nullable=False, server_default="0"),  # above the daily cap
    Column("unit", String(8), nullable=False, server_default="points"),  # or credit
    # A member's lots lie together: on SQLite the table is clustered by its primary key
    # (no rowid), so a batch of members' lots is read and rewritten in a few pages, not
    # in pages all over the table as lots earned on the same day by others would be.
    PrimaryKeyConstraint("member_id", "lot_no"),
    UniqueConstraint("program_id", "lot_no"),
    Index(None, "member_id", "remaining"),
    Index(None, "program_id", "order_ref"),
    sqlite_with_rowid=False,
)


def line_of_transaction() -> ColumnElement[bool]:
    """The join of a line to its transaction."""
    return and_(lines.c.program_id == transactions.c.program_id, lines.c.seq == transactions.c.seq)


redemptions = Table(
    "redemptions",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("program_id", String(64), ForeignKey("programs.id"), nullable=False),
    Column("member_id", Id, ForeignKey("members.id"), nullable=False),
    Column("reward_id", String(64), nullable=False),
    Column("points", BigInteger, nullable=False),
    Column("seq", BigInteger),  # the spending transaction; None for a punch card's voucher
    Column("status", String(16), nullable=False),  # issued, consumed or cancelled
    Column("voucher_code", String(32), nullable=False, unique=True),
    Column("voucher", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("closed_at", UTCDateTime),
    Column("closed_seq", BigInteger),
    Column("order_ref", String(200)),
    # reward (reward_id names it) or punch_card (reward_id names the card)
    Column("source", String(16), nullable=False, server_default="reward"),
    Index(None, "member_id"),
)

credit_payments = Table(  # store credit spent at checkout; cancelling gives it back
    "credit_payments",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("program_id", String(64), ForeignKey("programs.id"), nullable=False),
    Column("member_id", Id, ForeignKey("members.id"), nullable=False),
    Column("order_ref", String(200)),
    Column("amount_minor", BigInteger, nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),  # paid or cancelled
    Column("created_at", UTCDateTime, nullable=False),
    Column("closed_at", UTCDateTime),
    Column("closed_seq", BigInteger),
    Index(None, "member_id"),
)

membership_payments = Table(  # what shops report paying for memberships
    "membership_payments",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("program_id", String(64), ForeignKey("programs.id"), nullable=False),
    Column("member_id", Id, ForeignKey("members.id"), nullable=False),
    Column("membership", String(64), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("reference", String(200)),  # the shop's payment reference
    Column("paid_at", UTCDateTime, nullable=False),
    Column("period_start", UTCDateTime, nullable=False),  # the period it pays
    Column("period_end", UTCDateTime, nullable=False),
    Index(None, "member_id"),
)

referrals = Table(  # a friend who enrolled with a member's code, and what became of it
    "referrals",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("program_id", String(64), ForeignKey("programs.id"), nullable=False),
    Column("referrer_id", Id, ForeignKey("members.id"), nullable=False),
    Column("referee_id", Id, ForeignKey("members.id"), nullable=False, unique=True),
    Column("code", String(16), nullable=False),
    Column("status", String(16), nullable=False),  # see domain/referrals.py
    Column("reason", Text),  # why it was refused (suspected fraud), failed or cancelled
    Column("enrolled_at", UTCDateTime, nullable=False),
    Column("first_order_ref", String(200)),
    Column("qualifies_at", UTCDateTime),  # the end of the first order's return window
    Column("rewarded_at", UTCDateTime),
    Column("referrer_points", BigInteger, nullable=False),  # as the program said then
    Column("referee_points", BigInteger, nullable=False),
    Column("referrer_seq", BigInteger),  # the rewards' transactions
    Column("referee_seq", BigInteger),
    Column("closed_at", UTCDateTime),
    Index(None, "program_id", "status", "qualifies_at"),
    Index(None, "referrer_id"),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("program_id", String(64), ForeignKey("programs.id"), nullable=False),
    Column("member_id", Id, ForeignKey("members.id")),
    Column("kind", String(64), nullable=False),
    Column("occurred_at", UTCDateTime, nullable=False),
    Column("data", JSON, nullable=False),
    Column("delivered", Boolean, nullable=False),
    Index(None, "delivered", "id"),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(32), primary_key=True),  # the key's public id, as in fdl_<id>_<secret>
    Column("program_id", String(64), ForeignKey("programs.id"), nullable=False),
    Column("name", Text, nullable=False),
    Column("role", String(16), nullable=False),
    Column("secret_digest", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime),
    Column("member_id", Id, ForeignKey("members.id")),  # a member token's member
    Column("expires_at", UTCDateTime),  # member tokens only: they are short-lived
    Index(None, "program_id"),
)

idempotent_requests = Table(
    "idempotent_requests",
    metadata,
    Column("program_id", String(64), ForeignKey("programs.id"), nullable=False),
    Column("key", String(200), nullable=False),
    Column("fingerprint", String(64), nullable=False),  # SHA-256 of method, path and body
    Column("status", Integer),  # None while the first request is being answered
    Column("response", JSON),
    Column("created_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("program_id", "key"),
)

webhook_subscriptions = Table(
    "webhook_subscriptions",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("program_id", String(64), ForeignKey("programs.id"), nullable=False),
    Column("url", Text, nullable=False),
    Column("secret", String(64), nullable=False),  # whsec_…: needed in clear to sign
    Column("kinds", JSON),  # the event kinds sent, or None for all of them
    Column("after_outbox_id", Id, nullable=False),  # only what happens after it was added
    Column("created_at", UTCDateTime, nullable=False),
    Column("disabled_at", UTCDateTime),
    Index(None, "program_id"),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("program_id", String(64), ForeignKey("programs.id"), nullable=False),
    Column("subscription_id", Id, ForeignKey("webhook_subscriptions.id"), nullable=False),
    Column("outbox_id", Id, ForeignKey("outbox.id"), nullable=False),
    Column("status", String(16), nullable=False),  # pending, delivered or failed
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UTCDateTime),  # when pending: not before then
    Column("created_at", UTCDateTime, nullable=False),
    Column("delivered_at", UTCDateTime),
    UniqueConstraint("subscription_id", "outbox_id"),
    Index(None, "status", "next_attempt_at"),
)

webhook_attempts = Table(
    "webhook_attempts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("delivery_id", Id, ForeignKey("webhook_deliveries.id"), nullable=False),
    Column("attempted_at", UTCDateTime, nullable=False),
    Column("status_code", Integer),  # None: no HTTP answer (refused, timed out…)
    Column("error", Text),
    Column("duration_ms", Integer, nullable=False),
    Index(None, "delivery_id"),
)

member_segments = Table(  # each member's RFM segment over time: `until` is None for the current one
    "member_segments",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("program_id", String(64), ForeignKey("programs.id"), nullable=False),
    Column("member_id", Id, ForeignKey("members.id"), nullable=False),
    Column("segment", String(32), nullable=False),
    Column("recency", Integer, nullable=False),
    Column("frequency", Integer, nullable=False),
    Column("monetary", Integer, nullable=False),
    Column("since", UTCDateTime, nullable=False),
    Column("until", UTCDateTime),
    Index(None, "program_id", "until", "segment"),
    Index(None, "member_id", "since"),
)

member_rule_segments = Table(  # each member's rule segments over time: `until` None for now
    "member_rule_segments",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("program_id", String(64), ForeignKey("programs.id"), nullable=False),
    Column("member_id", Id, ForeignKey("members.id"), nullable=False),
    Column("segment", String(64), nullable=False),  # a segment id of the program file
    Column("since", UTCDateTime, nullable=False),
    Column("until", UTCDateTime),
    Index(None, "program_id", "until", "segment"),
    Index(None, "member_id", "since"),
)

pilots = Table(  # a pilot: a seeded, stratified share of customers, against the others
    "pilots",
    metadata,
    Column("program_id", String(64), ForeignKey("programs.id"), nullable=False),
    Column("name", String(64), nullable=False),
    Column("share", Float, nullable=False),
    Column("seed", BigInteger, nullable=False),
    Column("strata", String(16), nullable=False),  # segment, tier or none
    Column("created_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("program_id", "name"),
)

pilot_groups = Table(  # each customer of a pilot, in it or in the control group
    "pilot_groups",
    metadata,
    Column("program_id", String(64), nullable=False),
    Column("pilot", String(64), nullable=False),
    Column("customer_id", Id, ForeignKey("customers.id"), nullable=False),
    Column("stratum", String(64), nullable=False),
    Column("in_pilot", Boolean, nullable=False),
    PrimaryKeyConstraint("program_id", "pilot", "customer_id"),
)

segment_runs = Table(  # when a program's segments were last computed
    "segment_runs",
    metadata,
    Column("program_id", String(64), ForeignKey("programs.id"), primary_key=True),
    Column("computed_at", UTCDateTime, nullable=False),
)

member_badges = Table(  # badges are awarded once: the challenge that did it, and when
    "member_badges",
    metadata,
    Column("program_id", String(64), ForeignKey("programs.id"), nullable=False),
    Column("member_id", Id, ForeignKey("members.id"), nullable=False),
    Column("badge", String(64), nullable=False),
    Column("challenge_id", String(64), nullable=False),
    Column("awarded_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("member_id", "badge"),
)

member_flags = Table(  # members flagged for an admin (refunds); open until decided
    "member_flags",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("program_id", String(64), ForeignKey("programs.id"), nullable=False),
    Column("member_id", Id, ForeignKey("members.id"), nullable=False),
    Column("kind", String(32), nullable=False),  # refund_abuse
    Column("details", JSON, nullable=False),
    Column("flagged_at", UTCDateTime, nullable=False),
    Column("status", String(16), nullable=False),  # open, released or rejected
    Column("decided_at", UTCDateTime),
    Column("decided_by", String(200)),
    Column("reason", Text),
    Index(None, "program_id", "status"),
    Index(None, "member_id", "kind", "status"),
)
