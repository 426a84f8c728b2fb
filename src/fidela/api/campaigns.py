"""Campaigns: their budgets and what they granted, live."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from fidela.api.dependencies import Admin, Now, Uow
from fidela.services import campaigns

router = APIRouter(prefix="/v1/programs/{program_id}", tags=["campaigns"])


@router.get("/campaigns")
def listed(caller: Admin, uow: Uow, now: Now) -> list[dict[str, Any]]:
    """Each campaign of the current version: window, target, budget, granted and left."""
    return campaigns.listed(uow, caller.program_id, now=now)
