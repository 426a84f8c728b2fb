"""Settings, read from `FIDELA_*` environment variables at the edge and passed down."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_database_url() -> str:
    """SQLite in the user's data directory: $XDG_DATA_HOME/fidela/fidela.db."""
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return f"sqlite:///{Path(data_home) / 'fidela' / 'fidela.db'}"


# Seconds `fidela serve` waits for a lock unless told: its callers wait for the answer,
# and many HTTP clients give up after 30 s.
SERVED_LOCK_WAIT = 15.0


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FIDELA_")

    database_url: str = ""
    # Pooled connections per `fidela serve` worker: as many as requests a worker runs at
    # once (anyio's 40 threads); fewer, and the pool closes and reopens them under load.
    # A worker opens at most 9 more in a burst, and one to hear of changed keys.
    pool_size: int = Field(40, ge=1, le=1000)
    # Seconds a request or a command waits for each lock another write holds (an import,
    # a batch of the scheduler) before it gives up: a 503 with Retry-After, or `error
    # database: is busy` (exit 2). Unset: SERVED_LOCK_WAIT for `fidela serve`, and the
    # engine's own (store.database.LOCK_WAIT, 60 s) for the commands.
    lock_wait: float | None = Field(None, gt=0, le=600)

    @property
    def url(self) -> str:
        return self.database_url or default_database_url()
