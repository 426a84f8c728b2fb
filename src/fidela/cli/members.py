"""`fidela member`: enroll, show with the reason of every line, export, erase."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from fidela.cli.common import (
    JsonOption,
    NowOption,
    ProgramOption,
    _errors,
    _member,
    _now,
    _print_json,
    _program,
    _uow,
    out,
)
from fidela.domain.errors import InvalidInput
from fidela.domain.events import parse_enrollment
from fidela.services import challenges, members, privacy, referrals

member_app = typer.Typer(help="Enroll, inspect, export and erase members.", no_args_is_help=True)
MemberRef = Annotated[
    str, typer.Argument(help="E-mail or shop customer id (or member id with --id).")
]
ById = Annotated[bool, typer.Option("--id", help="REF is Fidela's member id.")]


@member_app.command("enroll")
def member_enroll(
    email: Annotated[str, typer.Option(help="The member's e-mail.")],
    program: ProgramOption = None,
    customer_id: Annotated[str | None, typer.Option(help="The shop's own customer id.")] = None,
    name: Annotated[str | None, typer.Option()] = None,
    birthday: Annotated[str | None, typer.Option(help="YYYY-MM-DD")] = None,
    referral_code: Annotated[
        str | None, typer.Option(help="The code of the member who referred them.")
    ] = None,
    now: NowOption = None,
) -> None:
    """Enroll a member (or find the one already enrolled with this e-mail or id)."""
    with _errors():
        uow = _uow()
        at = _now(now)
        enrollment = parse_enrollment(
            {
                "email": email,
                "customer_id": customer_id,
                "name": name,
                "birthday": birthday,
                "referral_code": referral_code,
                "enrolled_at": at,
            }
        )
        enrolled = members.enroll(uow, _program(uow, program), enrollment, now=at)
        verb = "enrolled" if enrolled.created else "already enrolled"
        out.print(f"member {enrolled.member_id} {verb}")
        if enrolled.referral is not None:
            referral = enrolled.referral
            out.print(f"referral {referral['status']}: {referral['reason'] or 'as referred'}")


@member_app.command("referral")
def member_referral(ref: MemberRef, program: ProgramOption = None, by_id: ById = False) -> None:
    """The member's referral code and link, who referred them, and whom they referred."""
    with _errors():
        uow = _uow()
        program_id = _program(uow, program)
        member_id = members.locate(uow, program_id, ref, by_member_id=by_id)
        _print_json(referrals.of_member(uow, program_id, member_id))


@member_app.command("show")
def member_show(
    ref: MemberRef,
    program: ProgramOption = None,
    by_id: ById = False,
    as_json: JsonOption = False,
) -> None:
    """A member's points, tier, lots and history with the reason of every line."""
    with _errors():
        uow = _uow()
        report = members.show(uow, _program(uow, program), ref, by_member_id=by_id)
        if as_json:
            _print_json(report)
        else:
            _print_member(report)


@member_app.command("challenges")
def member_challenges(ref: MemberRef, program: ProgramOption = None, now: NowOption = None) -> None:
    """Where a member stands on each challenge, and the badges they hold."""
    with _errors():
        uow, program_id, member_id = _member(ref, program)
        _print_json(challenges.progress(uow, program_id, member_id, now=_now(now)))


@member_app.command("export")
def member_export(ref: MemberRef, program: ProgramOption = None, by_id: ById = False) -> None:
    """Everything Fidela holds on a member, as JSON (for a data access request)."""
    with _errors():
        uow = _uow()
        program_id = _program(uow, program)
        member_id = members.locate(uow, program_id, ref, by_member_id=by_id)
        _print_json(privacy.export(uow, program_id, member_id))


@member_app.command("erase")
def member_erase(
    ref: MemberRef,
    program: ProgramOption = None,
    by_id: ById = False,
    yes: Annotated[bool, typer.Option("--yes", help="Confirm: this can't be undone.")] = False,
    now: NowOption = None,
) -> None:
    """Forfeit a member's points and erase their personal data; the ledger still verifies."""
    with _errors():
        if not yes:
            raise InvalidInput("--yes", "erasure can't be undone: confirm it with --yes")
        uow = _uow()
        program_id = _program(uow, program)
        member_id = members.locate(uow, program_id, ref, by_member_id=by_id)
        _print_json(privacy.erase(uow, program_id, member_id, actor="cli", now=_now(now)))


def _print_member(report: dict[str, Any]) -> None:
    who = report["email"] or report["customer_id"]
    out.print(f"[bold]member {report['member_id']}[/bold] {who}  enrolled {report['enrolled_at']}")
    tier = report["tier"]
    if tier:
        out.print(f"tier {tier['id']} since {tier['since']} (review {tier['review_at'] or '-'})")
    unit = report["point_name"]
    balance = f"{report['available']} {unit}s available, {report['pending']} pending"
    out.print(f"{balance}, debt {report['debt']}")
    lots = Table("lot", "remaining", "earned", "expires", "rule", "order")
    for lot in report["lots"]:
        lots.add_row(
            str(lot["lot"]),
            str(lot["remaining"]),
            lot["earned_at"],
            lot["expires_at"] or "never",
            lot["rule"] or "",
            lot["order_id"] or "",
        )
    out.print(lots)
    history = Table("seq", "at", "points", "why")
    for entry in report["history"]:
        cause = entry["cause"]
        why = " ".join(str(v) for k, v in cause.items() if k != "idempotency_key")
        if entry["rules"]:
            why += f" (rules: {', '.join(entry['rules'])})"
        history.add_row(str(entry["seq"]), entry["at"], f"{entry['points']:+d}", why)
    out.print(history)
