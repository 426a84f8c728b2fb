"""`fidela kpi`, `fidela cohorts` and `fidela clv`: reports on a program's history."""

from __future__ import annotations

from typing import Annotated, cast, get_args

import typer

from fidela.analytics.cohorts import By
from fidela.analytics.kpis import Granularity
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
from fidela.domain.errors import InvalidInput
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
        for name, fitted in (("BG/NBD     ", bgnbd), ("Gamma-Gamma", spend)):
            out.print(name, *(f"{k} {v}" for k, v in fitted.items()), soft_wrap=True)
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


def kpi(
    first: Annotated[str, typer.Option("--from", help="The first day, YYYY-MM-DD.")],
    last: Annotated[str, typer.Option("--to", help="The last day, YYYY-MM-DD (included).")],
    program: ProgramOption = None,
    granularity: Annotated[
        str, typer.Option(help="The series' buckets: day, week or month.")
    ] = "month",
) -> None:
    """The period's KPIs (definitions in docs/analytics.md) and their series, as JSON."""
    with _errors():
        uow = _uow()
        if granularity not in get_args(Granularity):
            raise InvalidInput("--granularity", f"{granularity!r} is not day, week or month")
        report = analytics.kpi(
            uow,
            _program(uow, program),
            _date(first, "--from"),
            _date(last, "--to"),
            cast(Granularity, granularity),
            now=_now(None),
        )
        _print_json(report)


def cohorts(
    program: ProgramOption = None,
    by: Annotated[
        str, typer.Option(help="enrollment (members) or first-purchase (every customer).")
    ] = "enrollment",
) -> None:
    """Retention by cohort month, as JSON: the classic triangle."""
    with _errors():
        uow = _uow()
        chosen = by.replace("-", "_")
        if chosen not in get_args(By):
            raise InvalidInput("--by", f"{by!r} is not enrollment or first-purchase")
        report = analytics.cohort_retention(
            uow, _program(uow, program), cast(By, chosen), now=_now(None)
        )
        _print_json(report)
