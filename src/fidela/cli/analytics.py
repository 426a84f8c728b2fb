"""`fidela clv`: customer value, fitted on a program's history (more reports to come)."""

from __future__ import annotations

from typing import Annotated

import typer

from fidela.cli.common import (
    JsonOption,
    ProgramOption,
    _date,
    _errors,
    _now,
    _print_json,
    _program,
    _uow,
    out,
)
from fidela.services import analytics

clv_app = typer.Typer(
    help="Predictive customer value (BG/NBD and Gamma-Gamma).", no_args_is_help=True
)

Until = Annotated[str, typer.Option(help="The end of the calibration period, YYYY-MM-DD.")]


@clv_app.command("fit")
def clv_fit(
    until: Until,
    program: ProgramOption = None,
    holdout_until: Annotated[
        str | None, typer.Option(help="Also compare predicted and actual purchases to this date.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Fit BG/NBD and Gamma-Gamma on the purchases up to --until; print the parameters."""
    with _errors():
        uow = _uow()
        holdout = _date(holdout_until, "--holdout-until") if holdout_until else None
        report = analytics.clv_fit(
            uow,
            _program(uow, program),
            _date(until, "--until"),
            holdout_until=holdout,
            now=_now(None),
        )
        if as_json:
            _print_json(report)
            return
        bgnbd, spend = report["bgnbd"], report["gamma_gamma"]
        out.print(f"{report['customers']} customers, {report['repeat_customers']} bought again")
        out.print(
            "BG/NBD      " + "  ".join(f"{k} {v:.4f}" for k, v in bgnbd.items()), soft_wrap=True
        )
        out.print("Gamma-Gamma " + "  ".join(f"{k} {v:.4f}" for k, v in spend.items()))
        if "holdout" in report:
            held = report["holdout"]
            out.print(f"to {held['until']}: predicted {held['predicted']}, actual {held['actual']}")


@clv_app.command("members")
def clv_members(
    until: Until,
    program: ProgramOption = None,
    weeks: Annotated[float, typer.Option(min=1, help="The horizon of the prediction.")] = 52.0,
) -> None:
    """Each member's expected purchases over --weeks, P(alive) and CLV, as JSON."""
    with _errors():
        uow = _uow()
        rows = analytics.clv_members(
            uow, _program(uow, program), _date(until, "--until"), weeks, now=_now(None)
        )
        _print_json(rows)
