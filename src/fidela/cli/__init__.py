"""The `fidela` command: thin wrappers that parse arguments, call a service, print.

One module per capability, named as the service it calls. A module holds its command
group (`programs.program_app` is `fidela program`) or its top-level commands; both are
registered on `app` here. `common` holds what the commands share.
"""

from __future__ import annotations

import typer

from fidela.cli import (
    adjustments,
    analytics,
    campaigns,
    credit,
    database,
    demo,
    events,
    held,
    imports,
    jobs,
    keys,
    leaderboard,
    ledger,
    members,
    memberships,
    programs,
    referrals,
    rewards,
    segments,
    server,
    webhooks,
)

app = typer.Typer(
    help="Fidela: a loyalty-program engine with an exact ledger.", no_args_is_help=True
)
for name, sub in (
    ("program", programs.program_app),
    ("member", members.member_app),
    ("event", events.event_app),
    ("reward", rewards.reward_app),
    ("voucher", rewards.voucher_app),
    ("credit", credit.credit_app),
    ("membership", memberships.membership_app),
    ("referrals", referrals.referrals_app),
    ("ledger", ledger.ledger_app),
    ("jobs", jobs.jobs_app),
    ("import", imports.import_app),
    ("keys", keys.keys_app),
    ("webhooks", webhooks.webhooks_app),
    ("held", held.held_app),
    ("flags", held.flags_app),
    ("segments", segments.segments_app),
    ("campaigns", campaigns.campaigns_app),
    ("clv", analytics.clv_app),
    ("pilot", analytics.pilot_app),
):
    app.add_typer(sub, name=name)
app.command()(database.init)
app.command("adjust")(adjustments.adjust)
app.command("leaderboard")(leaderboard.show)
app.command("kpi")(analytics.kpi)
app.command("cohorts")(analytics.cohorts)
app.command("backtest")(analytics.backtest)
app.command("roi")(analytics.roi)
app.command()(demo.demo)
app.command()(server.serve)
app.command()(server.openapi)


def main() -> None:
    app()
