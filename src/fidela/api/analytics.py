"""Reports for the program's managers: KPIs, cohorts, customer value (CLV), ROI, pilots,
and backtests of a program file over a history."""

from __future__ import annotations

import datetime as dt
import io
import threading
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from fidela.analytics.cohorts import By
from fidela.analytics.kpis import Granularity
from fidela.api import problems
from fidela.api.dependencies import Admin, Now, Uow
from fidela.domain.errors import Busy
from fidela.domain.program import Slug
from fidela.services import analytics, imports, pilots
from fidela.services import backtest as backtests
from fidela.services.backtest import Model, Redemptions
from fidela.services.pilots import Strata

router = APIRouter(prefix="/v1/programs/{program_id}", tags=["analytics"])
Until = Annotated[dt.date, Query(description="The end of the calibration period (included).")]


@router.get("/kpis")
def kpis(
    caller: Admin,
    uow: Uow,
    now: Now,
    first: Annotated[dt.date, Query(alias="from", description="The first day.")],
    last: Annotated[dt.date, Query(alias="to", description="The last day (included).")],
    granularity: Annotated[Granularity, Query(description="The series' buckets.")] = "month",
) -> dict[str, Any]:
    """The KPIs of the period, in the program's zone, and their series for charts."""
    return analytics.kpi(uow, caller.program_id, first, last, granularity, now=now)


@router.get("/cohorts")
def cohorts(
    caller: Admin,
    uow: Uow,
    now: Now,
    by: Annotated[By, Query(description="Month of enrollment, or of first purchase.")] = (
        "enrollment"
    ),
) -> dict[str, Any]:
    """Retention by cohort month: the classic triangle."""
    return analytics.cohort_retention(uow, caller.program_id, by, now=now)


@router.get("/clv")
def clv_fit(
    caller: Admin,
    uow: Uow,
    now: Now,
    until: Until,
    holdout_until: Annotated[
        dt.date | None, Query(description="Compare predicted and actual purchases to this day.")
    ] = None,
) -> dict[str, Any]:
    """BG/NBD and Gamma-Gamma fitted on the purchases up to `until`."""
    return analytics.clv_fit(uow, caller.program_id, until, holdout_until=holdout_until, now=now)


@router.get("/clv/members")
def clv_members(
    caller: Admin,
    uow: Uow,
    now: Now,
    until: Until,
    weeks: Annotated[float, Query(gt=0, le=520, description="The horizon.")] = 52.0,
) -> list[dict[str, Any]]:
    """Each member's expected purchases over `weeks`, P(alive), expected spend and CLV."""
    return analytics.clv_members(uow, caller.program_id, until, weeks, now=now)


Share = Annotated[Decimal, Query(ge=-0.99, le=10, description="A share: 0.05 is 5 %.")]


@router.get("/roi")
def roi(
    caller: Admin,
    uow: Uow,
    now: Now,
    first: Annotated[dt.date, Query(alias="from", description="The baseline's first day.")],
    last: Annotated[dt.date, Query(alias="to", description="The baseline's last day.")],
    margin: Annotated[Decimal, Query(ge=0, le=1, description="Gross margin on revenue.")],
    frequency_uplift: Share = Decimal(0),
    basket_uplift: Share = Decimal(0),
    fixed_cost: Annotated[Decimal, Query(ge=0, le=10**12, description="A year.")] = Decimal(0),
    breakage: Annotated[
        Decimal | None, Query(ge=0, le=1, description="Default: the history's.")
    ] = None,
) -> dict[str, Any]:
    """The liability now, and a year of the program modelled from the period's members:
    reward cost, net, ROI and the break-even revenue uplift."""
    return analytics.roi_model(
        uow,
        caller.program_id,
        first,
        last,
        margin=margin,
        frequency_uplift=frequency_uplift,
        basket_uplift=basket_uplift,
        fixed_cost=fixed_cost,
        breakage=breakage,
        now=now,
    )


class PilotBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Slug
    share: float = Field(gt=0, lt=1, description="The share of customers in the pilot.")
    seed: int = Field(1, ge=0, le=2**63 - 1, description="Draws the groups, reproducibly.")
    strata: Strata = "segment"


@router.post("/pilots", status_code=201)
def assign_pilot(caller: Admin, uow: Uow, now: Now, body: PilotBody) -> dict[str, Any]:
    """Split the program's customers between a new pilot and the control group."""
    return pilots.assign(
        uow,
        caller.program_id,
        body.name,
        share=body.share,
        seed=body.seed,
        strata=body.strata,
        now=now,
    )


@router.get("/pilots/{name}/report")
def pilot_report(
    caller: Admin,
    uow: Uow,
    now: Now,
    name: Annotated[str, Path(min_length=1, max_length=64)],
    first: Annotated[dt.date, Query(alias="from", description="The first day measured.")],
    last: Annotated[dt.date, Query(alias="to", description="The last day measured.")],
) -> dict[str, Any]:
    """The pilot against the control group: frequency, spend and retention, each with
    the difference, its 95 % confidence interval (Welch) and whether it is significant."""
    return pilots.report(uow, caller.program_id, name, first, last, now=now)


PROGRAM_TEXT_MAX = 200_000  # characters of a program file
HISTORY_TEXT_MAX = 10_000_000  # characters of a history: CDNOW's 69,659 rows take 1.95 M
# One backtest at a time in a worker: a replay holds the worker's GIL for seconds, and
# several would slow every other request of the worker down.
REPLAYING = threading.Lock()


class BacktestBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    program: str = Field(
        min_length=1, max_length=PROGRAM_TEXT_MAX, description="The program file to replay (YAML)."
    )
    vs: str | None = Field(
        None, min_length=1, max_length=PROGRAM_TEXT_MAX, description="A second one, side by side."
    )
    history: str = Field(
        min_length=1,
        max_length=HISTORY_TEXT_MAX,
        description="The purchases, as the text of a history file in `format`.",
    )
    format: imports.Format = Field("csv", description="cdnow, or csv (see docs/import.md).")
    first: dt.date | None = Field(None, alias="from", description="The first day replayed.")
    last: dt.date | None = Field(None, alias="to", description="The last day replayed.")
    redeem: Model = Field("none", description="cheapest: members redeem the cheapest reward.")
    share: float = Field(1.0, gt=0, le=1, description="Of the members who can, who redeem.")
    seed: int = Field(1, ge=0, le=2**63 - 1, description="Draws who redeems, reproducibly.")


@router.post(
    "/backtests",
    responses={429: problems.response("Another backtest is running in this worker.")},
)
def backtest(caller: Admin, now: Now, body: BacktestBody) -> dict[str, Any]:
    """Replay a history through a program file in a store of its own, never this program's:
    the months and totals, as `fidela backtest` prints them (with `vs`, both programs).
    The answer comes when the replay is done: CDNOW's whole history takes about 30 s. One
    backtest runs at a time in each worker; another gets a 429 meanwhile."""
    if not REPLAYING.acquire(blocking=False):
        raise Busy("backtests", "another backtest is running: send this one once it is done")
    try:
        rows = imports.parse(io.StringIO(body.history, newline=""), body.format, "history")
        options: dict[str, Any] = {
            "first": body.first,
            "last": body.last,
            "redemptions": Redemptions(body.redeem, body.share, body.seed),
            "now": now,
        }
        if body.vs is None:
            return backtests.backtest(body.program, rows, **options)
        return backtests.compare(body.program, body.vs, rows, **options)
    finally:
        REPLAYING.release()
