"""How values are shown to callers."""

from __future__ import annotations

from datetime import datetime

from fidela.domain.program import Program


def local_time(program: Program, at: datetime | None) -> str | None:
    """An instant as the program's zone shows it (ISO 8601 with its offset)."""
    return at.astimezone(program.zone).isoformat() if at else None
