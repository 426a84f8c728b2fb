"""The program's ledger: its totals, and a full verification of the hash chain."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from fidela.api.dependencies import Admin, Uow
from fidela.services import ledger

router = APIRouter(prefix="/v1/programs/{program_id}/ledger", tags=["ledger"])


@router.get("/summary")
def summary(caller: Admin, uow: Uow) -> dict[str, Any]:
    """Points issued, redeemed, expired, reversed, adjusted, outstanding, and their value."""
    return ledger.summary(uow, caller.program_id)


@router.post("/verify")
def verify(caller: Admin, uow: Uow) -> dict[str, Any]:
    """Check the hash chain, that every transaction balances, and every cached balance."""
    return ledger.verify(uow, caller.program_id).report()
