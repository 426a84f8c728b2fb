"""`fidela kpi`, `fidela cohorts`, `fidela clv` and `fidela backtest`: reports on a
program's history, and on what another program would have done with it."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any

import typer

from fidela.analytics.cohorts import By
from fidela.analytics.kpis import Granularity
from fidela.cli.common import (
    JsonOption,
    ProgramOption,
    _choice,
    _date,
    _errors,
    _now,
    _print_json,
    _program,
    _read,
    _uow,
    out,
)
from fidela.domain.errors import InvalidInput
from fidela.services import analytics, imports, pilots
from fidela.services import backtest as backtests
from fidela.services.backtest import Model, Redemptions
from fidela.services.pilots import Strata

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
        buckets = _choice(granularity, Granularity, "--granularity")
        report = analytics.kpi(
            uow,
            _program(uow, program),
            _date(first, "--from"),
            _date(last, "--to"),
            buckets,
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
        chosen = _choice(by, By, "--by")
        report = analytics.cohort_retention(uow, _program(uow, program), chosen, now=_now(None))
        _print_json(report)


def backtest(
    program_file: Annotated[Path, typer.Argument(help="The program file to replay.")],
    history: Annotated[Path, typer.Option(help="The purchase history to replay.")],
    history_format: Annotated[str, typer.Option("--format", help="cdnow or csv.")] = "cdnow",
    vs: Annotated[Path | None, typer.Option(help="A second program, side by side.")] = None,
    first: Annotated[str | None, typer.Option("--from", help="The first day replayed.")] = None,
    last: Annotated[str | None, typer.Option("--to", help="The last day replayed.")] = None,
    redeem: Annotated[
        str, typer.Option(help="none, or cheapest: members redeem the cheapest affordable reward.")
    ] = "none",
    share: Annotated[
        float, typer.Option(help="The share of members who redeem when they can, each month.")
    ] = 1.0,
    seed: Annotated[int, typer.Option(help="Draws who redeems, reproducibly.")] = 1,
) -> None:
    """Replay a history through a program file in a store of its own; the months as JSON."""
    with _errors():
        model = _choice(redeem, Model, "--redeem")
        rows = imports.read(history, history_format)
        options: dict[str, Any] = {
            "first": _date(first, "--from") if first else None,
            "last": _date(last, "--to") if last else None,
            "redemptions": Redemptions(model, share, seed),
            "now": _now(None),
        }
        if vs is None:
            _print_json(backtests.backtest(_read(program_file), rows, **options))
        else:
            _print_json(backtests.compare(_read(program_file), _read(vs), rows, **options))


Share = Annotated[str, typer.Option(help="A share, e.g. 0.05 for 5 %.")]


def roi(
    first: Annotated[str, typer.Option("--from", help="The first day of the baseline.")],
    last: Annotated[str, typer.Option("--to", help="The last day of the baseline.")],
    margin: Annotated[str, typer.Option(help="Gross margin on revenue, e.g. 0.4.")],
    program: ProgramOption = None,
    frequency_uplift: Share = "0",
    basket_uplift: Share = "0",
    fixed_cost: Annotated[str, typer.Option(help="The program's yearly fixed cost.")] = "0",
    breakage: Annotated[
        str | None, typer.Option(help="Share of points expiring; default: the history's.")
    ] = None,
) -> None:
    """The liability now, and the program's year modelled: cost, net, ROI, break-even."""
    with _errors():
        uow = _uow()
        report = analytics.roi_model(
            uow,
            _program(uow, program),
            _date(first, "--from"),
            _date(last, "--to"),
            margin=_decimal(margin, "--margin"),
            frequency_uplift=_decimal(frequency_uplift, "--frequency-uplift"),
            basket_uplift=_decimal(basket_uplift, "--basket-uplift"),
            fixed_cost=_decimal(fixed_cost, "--fixed-cost"),
            breakage=_decimal(breakage, "--breakage") if breakage is not None else None,
            now=_now(None),
        )
        _print_json(report)


def _decimal(text: str, option: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise InvalidInput(option, f"{text!r} is not a number") from None
    if not value.is_finite():
        raise InvalidInput(option, f"{text!r} is not a number")
    return value


pilot_app = typer.Typer(help="Pilots against a control group.", no_args_is_help=True)


@pilot_app.command("assign")
def pilot_assign(
    name: Annotated[str, typer.Argument(help="The pilot's name, once per program.")],
    share: Annotated[float, typer.Option(help="The share of customers in the pilot, e.g. 0.2.")],
    program: ProgramOption = None,
    seed: Annotated[int, typer.Option(help="Draws the groups, reproducibly.")] = 1,
    strata: Annotated[str, typer.Option(help="segment, tier or none.")] = "segment",
) -> None:
    """Split the program's customers between the pilot and the control group."""
    with _errors():
        uow = _uow()
        stratified = _choice(strata, Strata, "--strata")
        assigned = pilots.assign(
            uow,
            _program(uow, program),
            name,
            share=share,
            seed=seed,
            strata=stratified,
            now=_now(None),
        )
        _print_json(assigned)


@pilot_app.command("report")
def pilot_report(
    name: Annotated[str, typer.Argument(help="The pilot's name.")],
    first: Annotated[str, typer.Option("--from", help="The first day measured.")],
    last: Annotated[str, typer.Option("--to", help="The last day measured.")],
    program: ProgramOption = None,
) -> None:
    """The pilot against the control group: frequency, spend, retention, with 95 % CIs."""
    with _errors():
        uow = _uow()
        report = pilots.report(
            uow,
            _program(uow, program),
            name,
            _date(first, "--from"),
            _date(last, "--to"),
            now=_now(None),
        )
        _print_json(report)
