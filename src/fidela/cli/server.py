"""`fidela serve` and `fidela openapi`: serve the HTTP API, print its description."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from fidela.cli.common import _engine, _errors
from fidela.store.database import check_schema


def serve(
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8000,
    workers: Annotated[int, typer.Option(help="Processes answering requests.")] = 1,
) -> None:
    """Serve the HTTP API (OpenAPI at /openapi.json) on the configured database."""
    import uvicorn

    with _errors():
        check_schema(_engine())
    from fidela.api.logs import config

    uvicorn.run(
        "fidela.api.app:from_settings",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=config(),
    )


def openapi() -> None:
    """Print the API's OpenAPI description (kept in docs/openapi.json)."""
    from sqlalchemy import create_engine

    from fidela.api.app import create_app

    description = create_app(create_engine("sqlite://")).openapi()  # never connects
    sys.stdout.write(json.dumps(description, indent=2, ensure_ascii=False) + "\n")
