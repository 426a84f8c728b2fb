"""`fidela serve` and `fidela openapi`: serve the HTTP API, print its description."""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
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
    from fidela.api.metrics import SHARED

    # Several workers count into files of one folder, so that any of them answers a
    # scrape with everyone's counts. Each worker is a new process that reads this
    # variable when it first imports the Prometheus client.
    shared = workers > 1 and SHARED not in os.environ
    if shared:
        os.environ[SHARED] = tempfile.mkdtemp(prefix="fidela-metrics-")
    try:
        uvicorn.run(
            "fidela.api.app:from_settings",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_config=config(),
        )
    finally:
        if shared:
            shutil.rmtree(os.environ.pop(SHARED), ignore_errors=True)


def openapi() -> None:
    """Print the API's OpenAPI description (kept in docs/openapi.json)."""
    from sqlalchemy import create_engine

    from fidela.api.app import create_app

    description = create_app(create_engine("sqlite://")).openapi()  # never connects
    sys.stdout.write(json.dumps(description, indent=2, ensure_ascii=False) + "\n")
