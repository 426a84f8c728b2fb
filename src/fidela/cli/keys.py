"""`fidela keys`: create, list and revoke API keys."""

from __future__ import annotations

from typing import Annotated

import typer

from fidela.cli.common import ProgramOption, _errors, _now, _print_json, _program, _uow, err, out
from fidela.services import keys

keys_app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)


@keys_app.command("create")
def keys_create(
    role: Annotated[str, typer.Option(help="admin or integration")],
    name: Annotated[str, typer.Option(help="Who or what uses the key, e.g. 'web shop'.")],
    program: ProgramOption = None,
) -> None:
    """Create an API key; it is printed once and cannot be shown again."""
    with _errors():
        uow = _uow()
        created = keys.create(uow, _program(uow, program), role=role, name=name, now=_now(None))
        _print_json(created)
        err.print("Keep the key now: Fidela stores only its digest.", style="yellow")


@keys_app.command("list")
def keys_list(program: ProgramOption = None) -> None:
    """The program's keys, revoked ones too; never their secrets."""
    with _errors():
        uow = _uow()
        _print_json(keys.listed(uow, _program(uow, program)))


@keys_app.command("revoke")
def keys_revoke(key_id: str, program: ProgramOption = None) -> None:
    """Revoke a key at once."""
    with _errors():
        uow = _uow()
        keys.revoke(uow, _program(uow, program), key_id, now=_now(None))
        out.print(f"key {key_id} revoked")
