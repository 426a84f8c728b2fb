"""API keys: who may call the HTTP API for a program, and in which role.

A key is shown once, as `fdl_<key id>_<secret>`. Only the secret's SHA-256 is kept:
the secret is 32 random bytes, so a slow hash would add nothing but latency.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from fidela.domain.errors import Unauthorized

PREFIX = "fdl"
KEY_ID_BYTES = 6  # the public id: 12 hex digits
SECRET_BYTES = 32


class Role(StrEnum):
    """What a key may do: `admin` everything; `integration` what a shop or POS needs;
    `member` (a short-lived token) one member's own account, for an app or portal."""

    ADMIN = "admin"
    INTEGRATION = "integration"
    MEMBER = "member"


KEY_ROLES = (Role.ADMIN, Role.INTEGRATION)  # the roles of lasting keys, made by an operator
TOKEN_TTL = timedelta(minutes=15)  # a member token's default life
TOKEN_TTL_MAX = timedelta(hours=24)


@dataclass(frozen=True)
class Token:
    """A key as given to its holder: its public id and its secret."""

    key_id: str
    secret: str

    def __str__(self) -> str:
        return f"{PREFIX}_{self.key_id}_{self.secret}"


def new_token() -> Token:
    """A fresh key: a public id to find it by, and a random secret shown once."""
    return Token(secrets.token_hex(KEY_ID_BYTES), secrets.token_urlsafe(SECRET_BYTES))


def parse_token(text: str) -> Token:
    """Split a presented key into id and secret; refuse anything not shaped like a key."""
    prefix, _, rest = text.partition("_")
    key_id, _, secret = rest.partition("_")
    if prefix != PREFIX or len(key_id) != 2 * KEY_ID_BYTES or not secret:
        raise Unauthorized("authorization", "is not a Fidela API key")
    return Token(key_id, secret)


def digest(secret: str) -> str:
    """What is stored of a secret."""
    return hashlib.sha256(secret.encode()).hexdigest()


def matches(secret: str, stored_digest: str) -> bool:
    """Compare in constant time, so that timing reveals nothing of the stored digest."""
    return hmac.compare_digest(digest(secret), stored_digest)
