"""Fixtures: every service test runs on SQLite and on PostgreSQL, on a schema built by Alembic.

SQLite: the migrated database is built once, then copied for each test.
PostgreSQL: each test worker (of each run) migrates its own schema once; each test starts from
empty tables (TRUNCATE), so concurrency tests can commit across connections.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from fidela.domain.ids import ProgramId
from fidela.services import programs
from fidela.store.database import make_engine, upgrade
from fidela.store.tables import metadata
from fidela.store.unit_of_work import UnitOfWork

ROOT = Path(__file__).parent.parent
EXAMPLES = ROOT / "examples"
CDNOW = ROOT / "data" / "cdnow"
POSTGRES_URL = os.environ.get(
    "FIDELA_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "fidela.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_schema(worker_id: str) -> Iterator[str]:
    schema = f"fidela_test_{worker_id}_{os.getpid()}"  # test runs may overlap
    admin = make_engine(POSTGRES_URL)
    with admin.begin() as connection:
        connection.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    engine = _postgres_engine(schema)
    upgrade(engine)
    engine.dispose()
    yield schema
    with admin.begin() as connection:
        connection.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
    admin.dispose()


def _postgres_engine(schema: str) -> Engine:
    url = f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    return make_engine(url, pool_size=10)


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A migrated, empty database of each kind."""
    if request.param == "sqlite":
        template = request.getfixturevalue("sqlite_template")
        path = tmp_path / "fidela.db"
        shutil.copy(template, path)
        engine = make_engine(f"sqlite:///{path}", pool_size=10)
    else:
        schema = request.getfixturevalue("postgres_schema")
        engine = _postgres_engine(schema)
        tables = ", ".join(table.name for table in metadata.sorted_tables)
        with engine.begin() as connection:
            connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    yield engine
    engine.dispose()


@pytest.fixture
def uow(engine: Engine) -> UnitOfWork:
    return UnitOfWork(engine)


def example(name: str) -> str:
    return (EXAMPLES / name).read_text(encoding="utf-8")


@pytest.fixture
def cafe(uow: UnitOfWork) -> ProgramId:
    """The café program of examples/cafe.yaml, applied."""
    return programs.apply(uow, example("cafe.yaml"), now=T0).program_id
