"""Scheduled work on demand, for operators: everything due up to now."""

from __future__ import annotations

from fastapi import APIRouter

from fidela.api.dependencies import Admin, Now, Uow
from fidela.services import jobs, segments

router = APIRouter(prefix="/v1/programs/{program_id}", tags=["operations"])


@router.post("/run-due")
def run_due(caller: Admin, uow: Uow, now: Now) -> dict[str, int]:
    """Expire, release, review tiers and grant birthdays due by now, and recompute the
    segments if a day has passed; running twice adds nothing."""
    counts = jobs.run_due(uow, caller.program_id, now=now)
    counts["segments_recomputed"] = int(segments.recompute_if_due(uow, caller.program_id, now=now))
    return counts
