"""`fidela webhooks`: subscribe URLs, deliver what is due, inspect and replay deliveries."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from fidela.cli.common import ProgramOption, _errors, _now, _print_json, _program, _uow, err, out
from fidela.notify.webhooks import post, utc_now
from fidela.services import webhooks

webhooks_app = typer.Typer(help="Webhook subscriptions and their deliveries.", no_args_is_help=True)


@webhooks_app.command("add")
def webhooks_add(
    url: str,
    event: Annotated[
        list[str] | None, typer.Option(help="An event kind to send (repeat it); all if none.")
    ] = None,
    program: ProgramOption = None,
) -> None:
    """Subscribe a URL; prints the secret that signs its deliveries."""
    with _errors():
        uow = _uow()
        subscribed = webhooks.subscribe(uow, _program(uow, program), url, event, now=_now(None))
        _print_json(subscribed)
        err.print("Give the secret to the receiver: it verifies signatures with it.")


@webhooks_app.command("list")
def webhooks_list(program: ProgramOption = None) -> None:
    """The program's subscriptions, without secrets."""
    with _errors():
        uow = _uow()
        _print_json(webhooks.subscriptions(uow, _program(uow, program)))


@webhooks_app.command("remove")
def webhooks_remove(subscription_id: int, program: ProgramOption = None) -> None:
    """Stop a subscription; nothing more is sent to it."""
    with _errors():
        uow = _uow()
        webhooks.unsubscribe(uow, _program(uow, program), subscription_id, now=_now(None))
        out.print(f"subscription {subscription_id} stopped")


@webhooks_app.command("deliveries")
def webhooks_deliveries(
    status: Annotated[str | None, typer.Option(help="pending, delivered or failed")] = None,
    after: Annotated[int, typer.Option(help="The `next` of the previous page.")] = 0,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 100,
    program: ProgramOption = None,
) -> None:
    """Deliveries with every attempt, a page at a time."""
    with _errors():
        uow = _uow()
        program_id = _program(uow, program)
        _print_json(webhooks.deliveries(uow, program_id, status=status, after=after, limit=limit))


@webhooks_app.command("replay")
def webhooks_replay(delivery_id: int, program: ProgramOption = None) -> None:
    """Send a delivery again, with a fresh retry schedule."""
    with _errors():
        uow = _uow()
        webhooks.replay(uow, _program(uow, program), delivery_id, now=_now(None))
        out.print(f"delivery {delivery_id} will be sent again")


@webhooks_app.command("deliver")
def webhooks_deliver(
    watch: Annotated[
        bool, typer.Option(help="Keep delivering, once a second, until interrupted.")
    ] = False,
) -> None:
    """Deliver what is due, for every program (`fidela serve` does this by itself)."""
    with _errors():
        while True:
            report = webhooks.deliver_due(_uow(), post, now=utc_now)
            if report.counts() or not watch:
                _print_json(report.counts())
            if not watch:
                return
            time.sleep(1)
