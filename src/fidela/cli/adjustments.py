"""`fidela adjust`: add or take points by hand, with a reason."""

from __future__ import annotations

from typing import Annotated

import typer

from fidela.cli.common import (
    MemberArgument,
    NowOption,
    ProgramOption,
    _errors,
    _member,
    _now,
    _print_json,
)
from fidela.services import adjustments


def adjust(
    member: MemberArgument,
    points: Annotated[int, typer.Argument(help="Points to add (or take, if negative).")],
    reason: Annotated[str, typer.Option(help="Why: recorded in the member's history.")],
    actor: Annotated[str, typer.Option(envvar="USER", help="Who: recorded with the reason.")],
    program: ProgramOption = None,
    now: NowOption = None,
) -> None:
    """Add or take points by hand, with a mandatory reason."""
    with _errors():
        uow, program_id, member_id = _member(member, program)
        _print_json(
            adjustments.adjust(
                uow, program_id, member_id, points, actor=actor, reason=reason, now=_now(now)
            )
        )
