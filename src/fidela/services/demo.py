"""The demo: a café program in USD over CDNOW's real purchase history."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from fidela.domain.ids import ProgramId
from fidela.services import imports, jobs, keys, ledger, members, programs, segments
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
