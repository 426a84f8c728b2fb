"""`fidela ledger`: verify the ledger and print its totals."""

from __future__ import annotations

import typer
from rich.table import Table

from fidela.cli.common import (
    JsonOption,
    ProgramOption,
    _complain,
    _errors,
    _print_json,
    _program,
    _progress,
    _uow,
    out,
)
from fidela.services import ledger

ledger_app = typer.Typer(help="Verify and summarize the ledger.", no_args_is_help=True)


@ledger_app.command("verify")
def ledger_verify(program: ProgramOption = None) -> None:
    """Check the hash chain, that each transaction sums to zero, and every cached balance."""
    with _errors():
        uow = _uow()
        program_id = _program(uow, program)
        bar, advance = _progress(f"verify {program_id}", None)
        with bar:
            result = ledger.verify(uow, program_id, progress=advance)
        if result.ok:
            out.print(f"ledger ok: {result.transactions} transactions verified")
            return
        _complain(f"ledger broken: {result.problem}")
        raise typer.Exit(1)


@ledger_app.command("summary")
def ledger_summary(program: ProgramOption = None, as_json: JsonOption = False) -> None:
    """The program's totals: issued, redeemed, expired, reversed, outstanding, liability."""
    with _errors():
        uow = _uow()
        totals = ledger.summary(uow, _program(uow, program))
        if as_json:
            _print_json(totals)
            return
        table = Table("total", "value", title=f"ledger of {totals['program']}")
        for key, value in totals.items():
            if isinstance(value, dict):  # the credit's totals
                for part, amount in value.items():
                    table.add_row(f"{key} {part}", str(amount))
            else:
                table.add_row(key, str(value))
        out.print(table)
