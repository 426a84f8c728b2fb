"""`fidela adjust`: add or take points by hand, with a reason."""

from __future__ import annotations

from typing import Annotated

import typer

from fidela.cli.common import (
    MemberArgument,
    NowOption,
    ProgramOption,
    _errors,
    _now,
    _print_json,
    _program,
    _uow,
)
from fidela.services import adjustments, members


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
        uow = _uow()
        program_id = _program(uow, program)
        member_id = members.locate(uow, program_id, member)
        _print_json(
            adjustments.adjust(
                uow, program_id, member_id, points, actor=actor, reason=reason, now=_now(now)
            )
        )
