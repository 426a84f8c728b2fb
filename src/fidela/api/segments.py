"""RFM segments: their sizes, and recomputing them on demand."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from fidela.api.dependencies import Admin, Now, Uow
from fidela.services import segments

router = APIRouter(prefix="/v1/programs/{program_id}", tags=["segments"])


@router.get("/segments")
def segment_sizes(caller: Admin, uow: Uow) -> dict[str, Any]:
    """How many members each RFM segment holds, as last computed."""
    return segments.sizes(uow, caller.program_id)


@router.post("/segments/recompute")
def recompute_segments(caller: Admin, uow: Uow, now: Now) -> dict[str, Any]:
    """Score every buyer again now; members whose segment changed move."""
    return segments.recompute(uow, caller.program_id, now=now)
