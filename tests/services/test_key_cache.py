"""The keys a worker remembers: served only while told of every change, never after one."""

from __future__ import annotations

from datetime import timedelta

import pytest

from fidela.domain.errors import Unauthorized
from fidela.domain.ids import MemberId, ProgramId
from fidela.domain.keys import Role, new_token
from fidela.services.keys import Caller, KeyCache
from tests.conftest import T0

TOKEN = new_token()
KEY = str(TOKEN)
CALLER = Caller(ProgramId("cafe"), Role.INTEGRATION, TOKEN.key_id)


def listening(*, fresh_for: float = 10.0, most: int = 10_000) -> KeyCache:
    cache = KeyCache(fresh_for=fresh_for, most=most)
    cache.listening()
    return cache


def test_a_key_checked_while_listening_is_served_until_its_change_is_told() -> None:
    cache = listening()
    assert cache.lookup(KEY, T0) is None
    cache.remember(KEY, CALLER, None, since=cache.generation)
    assert cache.lookup(KEY, T0) == CALLER
    cache.forget("another key")
    assert cache.lookup(KEY, T0) == CALLER
    cache.forget(TOKEN.key_id)
    assert cache.lookup(KEY, T0) is None


def test_nothing_is_remembered_before_listening_or_once_deaf() -> None:
    cache = KeyCache()
    cache.remember(KEY, CALLER, None, since=cache.generation)
    assert cache.lookup(KEY, T0) is None
    cache.listening()
    cache.remember(KEY, CALLER, None, since=cache.generation)
    cache.deaf()  # a change may be missed from now on: everything is forgotten
    assert cache.lookup(KEY, T0) is None
    cache.remember(KEY, CALLER, None, since=cache.generation)
    assert cache.lookup(KEY, T0) is None


def test_a_check_that_read_the_key_before_a_change_was_told_is_not_kept() -> None:
    cache = listening()
    since = cache.generation  # the check starts, and reads the key...
    cache.forget(TOKEN.key_id)  # ...which is revoked, and told, before it answers
    cache.remember(KEY, CALLER, None, since=since)
    assert cache.lookup(KEY, T0) is None


def test_another_secret_under_the_same_key_id_is_not_served() -> None:
    cache = listening()
    cache.remember(KEY, CALLER, None, since=cache.generation)
    forged = f"fdl_{TOKEN.key_id}_{new_token().secret}"
    assert cache.lookup(forged, T0) is None
    with pytest.raises(Unauthorized, match="not a Fidela API key"):
        cache.lookup("fdl_nonsense", T0)


def test_a_member_token_is_served_until_it_expires() -> None:
    cache = listening()
    token = Caller(ProgramId("cafe"), Role.MEMBER, TOKEN.key_id, MemberId(7))
    cache.remember(KEY, token, T0 + timedelta(minutes=15), since=cache.generation)
    assert cache.lookup(KEY, T0 + timedelta(minutes=14)) == token
    assert cache.lookup(KEY, T0 + timedelta(minutes=15)) is None


def test_an_entry_is_asked_again_after_fresh_for_seconds() -> None:
    cache = listening(fresh_for=-1.0)  # already stale when stored
    cache.remember(KEY, CALLER, None, since=cache.generation)
    assert cache.lookup(KEY, T0) is None


def test_a_full_cache_starts_anew() -> None:
    cache = listening(most=2)
    tokens = [new_token() for _ in range(3)]
    for token in tokens:
        caller = Caller(ProgramId("cafe"), Role.ADMIN, token.key_id)
        cache.remember(str(token), caller, None, since=cache.generation)
    assert [cache.lookup(str(token), T0) is not None for token in tokens] == [False, False, True]
