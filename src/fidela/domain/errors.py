"""Every error Fidela reports on purpose, each naming the field at fault and the reason.

The CLI maps them to a message and exit code 2; the API (later) to RFC 9457 problems.
"""

from __future__ import annotations

from dataclasses import dataclass


class FidelaError(Exception):
    """Base of the errors a caller can act on; `field` is a dotted path or ''."""

    status = 400
    retry_after: int | None = None  # seconds after which trying again may succeed

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}" if field else reason)
        self.field = field
        self.reason = reason


class InvalidInput(FidelaError):
    """The request or event is malformed or breaks a business rule; nothing was changed."""

    status = 422


class NotFound(FidelaError):
    """The thing referred to does not exist in this program."""

    status = 404


class Unauthorized(FidelaError):
    """No valid credentials: a missing, malformed, unknown or revoked key."""

    status = 401


class Forbidden(FidelaError):
    """Valid credentials that do not allow this: another program's key, or a weaker role."""

    status = 403


class Conflict(FidelaError):
    """The request contradicts what is stored (e.g. an idempotency key reused with new content)."""

    status = 409


class Busy(FidelaError):
    """The server is doing this kind of work already: try again once it is done."""

    status = 429


class InsufficientPoints(FidelaError):
    """A redemption would take the member's balance below zero."""

    status = 409

    def __init__(self, available: int, needed: int) -> None:
        super().__init__("points", f"needs {needed} but only {available} are available")
        self.available = available
        self.needed = needed


class InsufficientCredit(FidelaError):
    """A payment with store credit would take the member's credit below zero."""

    status = 409

    def __init__(self, available: str, needed: str, currency: str) -> None:
        reason = f"needs {needed} {currency} but only {available} {currency} of credit is available"
        super().__init__("amount", reason)


@dataclass(frozen=True)
class Problem:
    """One located mistake in a program file."""

    location: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.location} (line {self.line})" if self.line else self.location
        return f"{where}: {self.message}"


class ProgramInvalid(FidelaError):
    """A program file has one or more mistakes, all listed in `problems`."""

    status = 422

    def __init__(self, problems: list[Problem]) -> None:
        first = problems[0]
        super().__init__(first.location, first.message)
        self.problems = problems

    def __str__(self) -> str:
        return "\n".join(str(problem) for problem in self.problems)


def accountable(actor: str, reason: str, *, why: str) -> tuple[str, str]:
    """Who decides and why, trimmed: an admin's change must name both (`why` says what the
    reason should explain)."""
    actor, reason = actor.strip(), reason.strip()
    if not reason:
        raise InvalidInput("reason", f"is required: say why {why}")
    if not actor:
        raise InvalidInput("actor", "is required: say who decides")
    return actor, reason
