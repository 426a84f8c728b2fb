"""Campaigns: what each has granted so far against its budget, live."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fidela.domain.ids import ProgramId
from fidela.store.unit_of_work import UnitOfWork


def listed(uow: UnitOfWork, program_id: ProgramId, *, now: datetime) -> list[dict[str, Any]]:
    """The current version's campaigns: their window, target and budget, what they granted
    (points issued under their id, held ones too, reversals not given back) and what is
    left."""
    with uow.reading() as reader:
        program = reader.programs.current(program_id).program
        ids = [campaign.id for campaign in program.campaigns]
        spent = reader.ledger.issued_by_rule(program_id, ids) if ids else {}
    return [
        {
            "id": campaign.id,
            "name": campaign.name,
            "starts": campaign.starts.isoformat(),
            "ends": campaign.ends.isoformat(),
            "running": campaign.starts <= now <= campaign.ends,
            "when": campaign.when,
            "segment": campaign.segment,
            "pilot": campaign.pilot,
            "budget_points": campaign.budget_points,
            "granted": spent.get(campaign.id, 0),
            "left": None
            if campaign.budget_points is None
            else max(campaign.budget_points - spent.get(campaign.id, 0), 0),
        }
        for campaign in program.campaigns
    ]
