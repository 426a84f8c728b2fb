"""Scheduled work on demand, for operators: everything due up to now."""

from __future__ import annotations

from fastapi import APIRouter

from fidela.api.dependencies import Admin, Now, Uow
from fidela.services import jobs

router = APIRouter(prefix="/v1/programs/{program_id}", tags=["operations"])


@router.post("/run-due")
def run_due(caller: Admin, uow: Uow, now: Now) -> dict[str, int]:
    """Expire, release, review tiers and grant birthdays due by now; running twice adds nothing."""
    return jobs.run_due(uow, caller.program_id, now=now)
