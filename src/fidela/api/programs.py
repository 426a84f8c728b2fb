"""Programs: the current version and rewards catalog, the history, applying a new file."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Response, status

from fidela.api.dependencies import Admin, Anyone, Now, Uow
from fidela.services import programs

router = APIRouter(prefix="/v1/programs/{program_id}", tags=["programs"])


@router.get("")
def current(caller: Anyone, uow: Uow) -> dict[str, Any]:
    """The version that evaluates events now, with the sections not active yet."""
    return programs.described(uow, caller.program_id)


@router.get("/versions")
def versions(caller: Admin, uow: Uow) -> list[dict[str, Any]]:
    """Every version applied, oldest first: events record which one evaluated them."""
    return [
        {
            "version": stored.version,
            "applied_at": stored.applied_at.isoformat(),
            "name": stored.program.name,
            "inactive": stored.inactive,
        }
        for stored in programs.history(uow, caller.program_id)
    ]


@router.post(
    "/versions",
    status_code=status.HTTP_201_CREATED,
    responses={200: {"description": "The same file as the current version: nothing stored."}},
)
def apply(
    caller: Admin,
    uow: Uow,
    now: Now,
    response: Response,
    source: Annotated[
        str, Body(media_type="application/yaml", description="The program file, as YAML.")
    ],
) -> dict[str, Any]:
    """Store a new version of this program from its YAML file; earlier versions are kept."""
    applied = programs.apply(uow, source, now=now, only=caller.program_id)
    if applied.unchanged:
        response.status_code = status.HTTP_200_OK
    return {
        "program": applied.program_id,
        "version": applied.version,
        "unchanged": applied.unchanged,
        "inactive": applied.inactive,
    }
