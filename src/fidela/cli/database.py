"""`fidela init`: create or upgrade the schema."""

from __future__ import annotations

from fidela.cli.common import _engine, _errors, out
from fidela.store.database import upgrade


def init() -> None:
    """Create or upgrade the database schema."""
    with _errors():
        before, after = upgrade(_engine())
    if before == after:
        out.print(f"schema is current ({after})")
    else:
        out.print(f"schema upgraded from {before or 'nothing'} to {after}")
