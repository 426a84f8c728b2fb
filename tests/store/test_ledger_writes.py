"""The ledger's batched writes: a failure in a background write rolls everything back."""

import sys

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from fidela.domain.ids import ProgramId
from fidela.store import switching
from fidela.store.ledger import Changes, NewEvent
from fidela.store.tables import events
from fidela.store.unit_of_work import UnitOfWork
from tests.conftest import T0


def event(key: str) -> NewEvent:
    return NewEvent(key, "hash", "visit", None, None, T0, "{}", {}, 1)


def test_a_failed_background_write_surfaces_at_commit_and_leaves_nothing(
    uow: UnitOfWork, cafe: ProgramId
) -> None:
    def write_a_duplicate() -> None:
        with uow:
            program = uow.programs.current(cafe).program
            first = Changes(program, events=[event("a")])
            uow.ledger.post(cafe, first, T0, in_background=True)
            duplicate = Changes(program, events=[event("b"), event("b")])
            uow.ledger.post(cafe, duplicate, T0, in_background=True)
            uow.commit()

    with pytest.raises(IntegrityError):
        write_a_duplicate()
    with uow:
        assert uow.connection.execute(select(func.count()).select_from(events)).scalar() == 0
        assert uow.ledger.head(cafe).last_event_no == 0


def test_background_writes_land_in_order_before_the_commit(
    uow: UnitOfWork, cafe: ProgramId
) -> None:
    with uow:
        program = uow.programs.current(cafe).program
        for n in range(5):
            batch = Changes(program, events=[event(f"k{n}-{i}") for i in range(100)])
            uow.ledger.post(cafe, batch, T0, in_background=True)
        uow.commit()
    with uow:
        numbers = uow.connection.execute(select(events.c.event_no).order_by(events.c.event_no))
        assert list(numbers.scalars()) == list(range(1, 501))
        assert uow.ledger.head(cafe).last_event_no == 500


def test_threads_switch_quickly_while_a_background_write_may_run(
    uow: UnitOfWork, cafe: ProgramId
) -> None:
    before = sys.getswitchinterval()
    with uow:
        program = uow.programs.current(cafe).program
        uow.ledger.post(cafe, Changes(program, events=[event("a")]), T0)
        assert sys.getswitchinterval() == before  # a write in the caller's thread
        uow.ledger.post(cafe, Changes(program, events=[event("b")]), T0, in_background=True)
        assert sys.getswitchinterval() == min(before, switching.SWITCH_INTERVAL)
        uow.commit()
    assert sys.getswitchinterval() == before
