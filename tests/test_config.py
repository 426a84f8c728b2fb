"""Settings from the environment reach what they configure."""

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from fidela.api.app import YOUNG_GENERATION, from_settings
from fidela.config import SERVED_LOCK_WAIT, Settings


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[tuple[int, ...]]:
    """A served app's database in the environment; the collector's thresholds as they
    were before (yielded), put back after, as `from_settings` changes them."""
    before = gc.get_threshold()
    monkeypatch.setenv("FIDELA_DATABASE_URL", f"sqlite:///{tmp_path / 'fidela.db'}")
    yield before
    gc.set_threshold(*before)


def test_the_pool_size_of_a_served_app_comes_from_fidela_pool_size(
    served: tuple[int, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FIDELA_POOL_SIZE", "7")
    engine = from_settings().state.engine
    assert engine.pool.size() == 7
    engine.dispose()
    monkeypatch.setenv("FIDELA_POOL_SIZE", "0")
    with pytest.raises(ValidationError, match="pool_size"):
        Settings()


def test_a_served_app_lets_the_young_generation_grow_before_collecting(
    served: tuple[int, ...],
) -> None:
    from_settings().state.engine.dispose()
    assert gc.get_threshold() == (YOUNG_GENERATION, *served[1:])


def test_the_lock_wait_of_a_served_app_comes_from_fidela_lock_wait(
    served: tuple[int, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Unset, a served app waits SERVED_LOCK_WAIT; SQLite's busy timeout is in ms."""
    for setting, seconds in ((None, SERVED_LOCK_WAIT), ("2.5", 2.5)):
        if setting is not None:
            monkeypatch.setenv("FIDELA_LOCK_WAIT", setting)
        engine = from_settings().state.engine
        with engine.connect() as connection:
            waited = connection.exec_driver_sql("PRAGMA busy_timeout").scalar()
        engine.dispose()
        assert waited == seconds * 1000
    monkeypatch.setenv("FIDELA_LOCK_WAIT", "0")
    with pytest.raises(ValidationError, match="lock_wait"):
        Settings()
