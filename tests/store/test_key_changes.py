"""PostgreSQL tells a listener of every change to a key, whoever makes it; a listener
that may have missed one says so until it listens again."""

from __future__ import annotations

import queue
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text

from fidela.domain.ids import ProgramId
from fidela.services import keys
from fidela.store.keys import KeyListener
from fidela.store.unit_of_work import UnitOfWork
from tests.conftest import T0

WAIT = 5.0  # seconds: a notification comes within milliseconds
# Only PostgreSQL tells one process of another's changes.
pytestmark = pytest.mark.parametrize("engine", ["postgresql"], indirect=True)


class Told:
    """What the listener said, in order."""

    def __init__(self) -> None:
        self.said: queue.Queue[tuple[str, ...]] = queue.Queue()

    def listening(self) -> None:
        self.said.put(("listening",))

    def forget(self, key_id: str) -> None:
        self.said.put(("forget", key_id))

    def deaf(self) -> None:
        self.said.put(("deaf",))

    def next(self) -> tuple[str, ...]:
        return self.said.get(timeout=WAIT)

    def next_for(self, key_id: str) -> tuple[str, ...]:
        """The next word about this key or about listening: tests of other workers
        change their own keys on the same database, and the channel is shared."""
        while (word := self.next())[0] == "forget" and word[1] != key_id:
            pass
        return word


@pytest.fixture
def listened(engine: Engine) -> Iterator[tuple[KeyListener, Told]]:
    told = Told()
    listener = KeyListener(engine, told, retry=0.05)
    listener.start()
    assert told.next() == ("listening",)
    yield listener, told
    listener.stop()


def _new_key(uow: UnitOfWork, program_id: ProgramId) -> str:
    """A new key's id: a new key needs no telling, as nobody remembers it yet."""
    return str(keys.create(uow, program_id, role="admin", name="till", now=T0)["key_id"])


def _rename(engine: Engine, key_id: str) -> None:
    """Change a key by plain SQL, as an operator might."""
    with engine.begin() as connection:
        renamed = text("UPDATE api_keys SET name = 'office' WHERE id = :id")
        connection.execute(renamed, {"id": key_id})


def test_each_change_to_a_key_is_told_whoever_makes_it(
    engine: Engine, uow: UnitOfWork, cafe: ProgramId, listened: tuple[KeyListener, Told]
) -> None:
    _, told = listened
    key_id = _new_key(uow, cafe)
    _rename(engine, key_id)
    assert told.next_for(key_id) == ("forget", key_id)
    keys.revoke(uow, cafe, key_id, now=T0)
    assert told.next_for(key_id) == ("forget", key_id)
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM api_keys WHERE id = :id"), {"id": key_id})
    assert told.next_for(key_id) == ("forget", key_id)


def test_a_lost_connection_makes_it_deaf_until_it_listens_again(
    engine: Engine, uow: UnitOfWork, cafe: ProgramId, listened: tuple[KeyListener, Told]
) -> None:
    listener, told = listened
    first = listener.backend
    with engine.begin() as connection:
        connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
    assert told.next_for("none") == ("deaf",)
    assert told.next_for("none") == ("listening",)
    assert listener.backend not in (None, first)
    key_id = _new_key(uow, cafe)
    _rename(engine, key_id)
    assert told.next_for(key_id) == ("forget", key_id)


def test_stopping_says_deaf_and_closes_its_connection(engine: Engine) -> None:
    told = Told()
    listener = KeyListener(engine, told)
    listener.start()
    assert told.next() == ("listening",)
    backend = listener.backend
    listener.stop()
    assert told.next_for("none") == ("deaf",)
    deadline = time.monotonic() + WAIT  # the server process ends just after the client
    while _alive(engine, backend) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not _alive(engine, backend)


def _alive(engine: Engine, backend: int | None) -> bool:
    with engine.connect() as connection:
        found = connection.execute(
            text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"), {"pid": backend}
        ).scalar_one()
    return bool(found)


def test_a_schema_without_the_trigger_is_never_listened_to(engine: Engine) -> None:
    """Before migration 0018 nothing would tell of changes: the cache must not serve."""
    renamed = "ALTER TRIGGER {} ON api_keys RENAME TO {}"
    with engine.begin() as connection:
        connection.execute(text(renamed.format("api_keys_changed", "api_keys_changed_off")))
    try:
        told = Told()
        listener = KeyListener(engine, told, retry=0.05)
        listener.start()
        try:
            assert [told.next_for("none") for _ in range(3)] == [("deaf",)] * 3
        finally:
            listener.stop()
    finally:
        with engine.begin() as connection:
            connection.execute(text(renamed.format("api_keys_changed_off", "api_keys_changed")))
