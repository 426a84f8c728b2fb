"""`fidela demo`: load the café program and CDNOW's history, and the shop's story, then
serve the API."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fidela.cli.common import (
    _engine,
    _engine_url,
    _errors,
    _now,
    _print_json,
    _progress,
    _read,
    _uow,
    out,
)
from fidela.services import imports
from fidela.store.database import upgrade


def demo(
    program_file: Annotated[Path, typer.Option()] = Path("examples/cafe-usd.yaml"),
    shop_file: Annotated[Path, typer.Option(help="The shop program of the second story.")] = Path(
        "examples/shop.yaml"
    ),
    history: Annotated[Path, typer.Option()] = Path("data/cdnow/CDNOW_master.txt"),
    until: Annotated[
        str, typer.Option(help="run-due up to this instant")
    ] = "1998-07-01T00:00:00-04:00",
    serve: Annotated[bool, typer.Option(help="Then serve the API with the demo keys.")] = True,
    port: Annotated[int, typer.Option()] = 8000,
) -> None:
    """Load the demo: the café program in USD over CDNOW's real history, and the shop
    program with one member's autumn through every mechanic; run-due; then the API."""
    from fidela.services import demo as demo_service

    with _errors():
        out.print(f"database: {_engine_url()}")
        upgrade(_engine())
        uow = _uow()
        rows = imports.read(history, "cdnow")
        bar, advance = _progress("demo: import, then run-due", None)
        with bar:
            report = demo_service.load(
                uow, _read(program_file), rows, until=_now(until), now=_now(None), progress=advance
            )
        shop = demo_service.shop_story(uow, _read(shop_file), now=_now(None))
        for title, data in [*report.items(), *((f"shop: {k}", v) for k, v in shop.items())]:
            out.rule(title)
            _print_json(data)
    if serve:
        shown = next(
            title.removeprefix("member ") for title in report if title.startswith("member ")
        )
        _serve_demo(report["program"]["id"], report["api keys"], shown, port)


def _serve_demo(program_id: str, api_keys: dict[str, str], member_id: str, port: int) -> None:
    import uvicorn

    from fidela.api.app import create_app

    base = f"http://127.0.0.1:{port}"
    out.rule("the API")
    out.print(f"OpenAPI: {base}/openapi.json   interactive docs: {base}/docs")
    out.print(f"admin key:       {api_keys['admin']}")
    out.print(f"integration key: {api_keys['integration']}")
    out.print(
        f"try: curl -H 'Authorization: Bearer {api_keys['integration']}' "
        f"'{base}/v1/programs/{program_id}/members/{member_id}/balance?by_member_id=true'",
        soft_wrap=True,
    )
    out.print("Ctrl-C stops the server.")
    uvicorn.run(create_app(_engine()), host="127.0.0.1", port=port, log_level="warning")
