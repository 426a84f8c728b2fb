"""The demo: a café program in USD over CDNOW's real purchase history, and the shop
program (Maison Verte) with one member's story through every mechanic."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from fidela.domain.events import Enrollment, parse_event
from fidela.domain.ids import MemberId, ProgramId
from fidela.domain.memberships import parse_membership_payment
from fidela.services import (
    challenges,
    events,
    imports,
    jobs,
    keys,
    ledger,
    members,
    memberships,
    programs,
    referrals,
    segments,
)
from fidela.services.imports import PurchaseRow
from fidela.store.unit_of_work import UnitOfWork

SHOWN_MEMBERS = 3
DEMO_KEYS = ("admin", "integration")  # one key of each role, named "demo <role>"


def load(
    uow: UnitOfWork,
    program_text: str,
    history: list[PurchaseRow],
    *,
    until: datetime,
    now: datetime,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Apply the program, import the history, run what is due, and report.

    `progress` hears of every batch of imported rows, then of members brought up to date.
    """
    applied = programs.apply(uow, program_text, now=now)
    program_id = applied.program_id
    imported = imports.import_purchases(uow, program_id, history, now=now, progress=progress)
    due = jobs.run_due(uow, program_id, now=until, progress=progress)
    segmented = segments.recompute(uow, program_id, now=until)
    with uow.reading() as reader:
        top = reader.members.richest(program_id, SHOWN_MEMBERS)
    shown = {
        f"member {member_id}": _brief(
            members.show(uow, program_id, str(member_id), by_member_id=True)
        )
        for member_id in top
    }
    verified = ledger.verify(uow, program_id)
    api_keys = fresh_keys(uow, program_id, now=now)
    return {
        "program": {"id": program_id, "version": applied.version, "inactive": applied.inactive},
        "import": imported,
        f"run-due until {until.isoformat()}": due,
        "segments": segmented["sizes"],
        **shown,
        "ledger summary": ledger.summary(uow, program_id),
        "ledger verify": verified.report(),
        "api keys": api_keys,
    }


def fresh_keys(uow: UnitOfWork, program_id: ProgramId, *, now: datetime) -> dict[str, str]:
    """New demo keys, one per role; the previous demo keys are revoked (secrets aren't kept)."""
    names = {f"demo {role}": role for role in DEMO_KEYS}
    for key in keys.listed(uow, program_id):
        if key["name"] in names and key["revoked_at"] is None:
            keys.revoke(uow, program_id, key["key_id"], now=now)
    return {
        role: keys.create(uow, program_id, role=role, name=name, now=now)["key"]
        for name, role in names.items()
    }


def _brief(report: dict[str, Any]) -> dict[str, Any]:
    return {
        "customer_id": report["customer_id"],
        "available": report["available"],
        "tier": report["tier"]["id"] if report["tier"] else None,
        "segment": report["segment"],
        "open_lots": len(report["lots"]),
        "last_changes": [
            {key: entry[key] for key in ("at", "cause", "points", "rules")}
            for entry in report["history"][-3:]
        ],
    }


# Maison Verte's story, in the autumn of 2026 (Paris time): a member with every mechanic.
SHOP_STORY_START = datetime(2026, 9, 1, 10, tzinfo=ZoneInfo("Europe/Paris"))


def shop_story(uow: UnitOfWork, program_text: str, *, now: datetime) -> dict[str, Any]:
    """Apply the shop's program and play one member's autumn: a membership trial then paid,
    a referred friend, a completed punch card, cashback, and a month of orders that earns
    badges; run what is due; report. Loading it again changes nothing."""
    program_id = programs.apply(uow, program_text, now=now).program_id

    def on(days: int) -> datetime:
        return SHOP_STORY_START + timedelta(days=days)

    ana = _enrolled(uow, program_id, "ana@example.com", on(0), name="Ana")
    if memberships.show(uow, program_id, ana)["membership"] is None:
        memberships.join(uow, program_id, ana, "verte-plus", None, now=on(0))  # the trial
    # Weekly orders: a streak of four weeks, and three orders in September.
    _buy(uow, program_id, "MV-1001", "ana@example.com", on(2), [("COFFEE", "coffee", 9, "108")])
    code = referrals.of_member(uow, program_id, ana)["code"]
    eve = _enrolled(uow, program_id, "eve@gmail.com", on(4), referral_code=code)
    _buy(uow, program_id, "MV-1002", "eve@gmail.com", on(7), [("VASE", "home", 1, "50.00")])
    _buy(uow, program_id, "MV-1003", "ana@example.com", on(9), [("LAMP", "home", 1, "79.90")])
    _buy(uow, program_id, "MV-1004", "ana@example.com", on(16), [("SERUM", "beauty", 2, "40")])
    if not memberships.show(uow, program_id, ana)["payments"]:  # the trial converts
        paid = {"amount": "59.00", "currency": "EUR", "reference": "demo-verte-plus"}
        memberships.pay(uow, program_id, ana, parse_membership_payment(paid), now=on(19))
    _buy(uow, program_id, "MV-1005", "ana@example.com", on(23), [("COFFEE", "coffee", 2, "24")])
    due = jobs.run_due(uow, program_id, now=now)
    return {
        "program": program_id,
        f"run-due until {now.isoformat()}": due,
        "ana": _story_member(uow, program_id, ana, now),
        "eve": _story_member(uow, program_id, eve, now),
        "ledger verify": ledger.verify(uow, program_id).report(),
    }


def _enrolled(
    uow: UnitOfWork, program_id: ProgramId, email: str, at: datetime, **extra: str
) -> MemberId:
    form = Enrollment.model_validate({"email": email, "enrolled_at": at, **extra})
    return members.enroll(uow, program_id, form, now=at).member_id


def _buy(
    uow: UnitOfWork,
    program_id: ProgramId,
    order_id: str,
    email: str,
    at: datetime,
    lines: list[tuple[str, str, int, str]],
) -> None:
    sold = [
        {"sku": sku, "category": category, "quantity": quantity, "amount": amount}
        for sku, category, quantity, amount in lines
    ]
    total = sum((Decimal(amount) for *_rest, amount in lines), Decimal(0))
    event = {
        "type": "purchase",
        "idempotency_key": f"demo-{order_id}",
        "customer": {"email": email},
        "order_id": order_id,
        "amount": str(total),
        "currency": "EUR",
        "occurred_at": at.isoformat(),
        "lines": sold,
    }
    events.record(uow, program_id, parse_event(event), now=at)


def _story_member(
    uow: UnitOfWork, program_id: ProgramId, member_id: MemberId, now: datetime
) -> dict[str, Any]:
    shown = members.show(uow, program_id, str(member_id), by_member_id=True)
    membership = shown["membership"]
    return {
        "email": shown["email"],
        "available": shown["available"],
        "pending": shown["pending"],
        "credit": shown["credit"]["available"],
        "tier": shown["tier"]["id"] if shown["tier"] else None,
        "membership": {k: membership[k] for k in ("id", "status", "period_ends_at")}
        if membership
        else None,
        "punch_cards": shown["punch_cards"],
        "vouchers": [(r["reward"], r["voucher_code"], r["status"]) for r in shown["redemptions"]],
        "badges": challenges.progress(uow, program_id, member_id, now=now)["badges"],
        "referrals": [
            (r["referee_id"], r["status"])
            for r in referrals.of_member(uow, program_id, member_id)["referrals"]
        ],
    }
