"""Program versions: each apply keeps the earlier ones; each event names the version it met."""

from datetime import timedelta

from sqlalchemy import select

from fidela.services import programs
from fidela.store.tables import events
from fidela.store.unit_of_work import UnitOfWork
from tests.conftest import T0, example
from tests.services.helpers import enroll, purchase


def test_each_event_is_evaluated_by_the_version_current_when_it_arrives(uow: UnitOfWork) -> None:
    first = programs.apply(uow, example("cafe.yaml"), now=T0)
    enroll(uow, first.program_id, "ana@example.com", T0)
    before = purchase(uow, first.program_id, "ana@example.com", "A1", "10.00", T0)
    doubled = example("cafe.yaml").replace("points_per_unit: 1 ", "points_per_unit: 2 ")
    second = programs.apply(uow, doubled, now=T0 + timedelta(days=1))
    after = purchase(
        uow, first.program_id, "ana@example.com", "A2", "10.00", T0 + timedelta(days=2)
    )
    assert (first.version, second.version) == (1, 2)
    assert (before.result["points"], after.result["points"]) == (10, 20)
    with uow:
        versions = (
            uow.connection.execute(select(events.c.program_version).order_by(events.c.event_no))
            .scalars()
            .all()
        )
    assert versions == [1, 2]
    history = programs.history(uow, first.program_id)
    assert [(v.version, v.program.earn[0].points_per_unit) for v in history] == [(1, 1), (2, 2)]


def test_applying_the_same_file_again_adds_no_version(uow: UnitOfWork) -> None:
    programs.apply(uow, example("shop.yaml"), now=T0)
    again = programs.apply(uow, example("shop.yaml"), now=T0 + timedelta(days=1))
    assert again.unchanged
    assert again.version == 1
    assert again.inactive == []  # every section of the shop is active
