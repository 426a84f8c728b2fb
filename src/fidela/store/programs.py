"""Programs and their versions; a version is immutable once stored."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import Row, bindparam, insert, select, update
from sqlalchemy.engine import Connection

from fidela.domain.errors import NotFound
from fidela.domain.ids import ProgramId
from fidela.domain.ledger import GENESIS
from fidela.domain.program import Program, program_from_definition
from fidela.store.reads import Query, Read, read_one
from fidela.store.tables import ledger_heads, program_versions, programs


@dataclass(frozen=True)
class StoredVersion:
    program_id: ProgramId
    version: int
    program: Program
    applied_at: datetime
    inactive: list[str]


# A version's columns but its definition and source: what `stored` needs of a row.
CURRENT_VERSION = [c for c in program_versions.c if c.name not in ("definition", "source")]
# Every request reads it: built once, and read with an event's other look-ups.
_CURRENT = Query(
    lambda _dialect: (
        select(*CURRENT_VERSION)
        .join(programs, programs.c.id == program_versions.c.program_id)
        .where(
            programs.c.id == bindparam("program_id"),
            program_versions.c.version == programs.c.version,
        )
    )
)


class ProgramRepository:
    # Versions never change, so their parsed form is cached by content digest.
    _parsed: ClassVar[dict[str, Program]] = {}

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def add_version(
        self,
        program: Program,
        *,
        source: str,
        digest: str,
        inactive: list[str],
        applied_at: datetime,
    ) -> int:
        """Store a new version (creating the program on its first); return its number."""
        program_id = program.program
        current = self.connection.execute(
            select(programs.c.version).where(programs.c.id == program_id).with_for_update()
        ).scalar()
        if current is None:
            version = 1
            self.connection.execute(
                insert(programs).values(
                    id=program_id, name=program.name, version=1, created_at=applied_at
                )
            )
            self.connection.execute(
                insert(ledger_heads).values(
                    program_id=program_id,
                    last_seq=0,
                    last_hash=GENESIS,
                    last_lot_no=0,
                    last_event_no=0,
                )
            )
        else:
            version = current + 1
            self.connection.execute(
                update(programs)
                .where(programs.c.id == program_id)
                .values(version=version, name=program.name)
            )
        self.connection.execute(
            insert(program_versions).values(
                program_id=program_id,
                version=version,
                source=source,
                digest=digest,
                definition=program.model_dump(mode="json", by_alias=True),
                inactive=inactive,
                applied_at=applied_at,
            )
        )
        return version

    def latest_digest(self, program_id: ProgramId) -> str | None:
        return self.connection.execute(
            select(program_versions.c.digest)
            .join(programs, programs.c.id == program_versions.c.program_id)
            .where(programs.c.id == program_id, program_versions.c.version == programs.c.version)
        ).scalar()

    def current(self, program_id: ProgramId) -> StoredVersion:
        """The version that evaluates events now (its definition read only if not cached)."""
        return read_one(self.connection, self.current_read(program_id))

    def current_read(self, program_id: ProgramId) -> Read[StoredVersion]:
        """`current` as a read to send with others (NotFound once read, if no program)."""

        def meaning(rows: list[Row[Any]]) -> StoredVersion:
            if not rows:
                raise NotFound("program", f"no program {program_id}: apply its file first")
            return self.stored(rows[0])

        return Read(_CURRENT, meaning, program_id=program_id)

    def versions(self, program_id: ProgramId) -> list[StoredVersion]:
        rows = self.connection.execute(
            select(program_versions)
            .where(program_versions.c.program_id == program_id)
            .order_by(program_versions.c.version)
        )
        return [self.stored(row) for row in rows]

    def ids(self) -> list[ProgramId]:
        rows = self.connection.execute(select(programs.c.id).order_by(programs.c.id))
        return [ProgramId(program_id) for program_id in rows.scalars()]

    def stored(self, row: Any) -> StoredVersion:
        """A version from a row of its columns (CURRENT_VERSION at least); the definition,
        if the row lacks it, is read when needed."""
        program = self._parsed.get(row.digest)
        if program is None:
            definition = getattr(row, "definition", None)
            if definition is None:
                definition = self.connection.execute(
                    select(program_versions.c.definition).where(
                        program_versions.c.program_id == row.program_id,
                        program_versions.c.version == row.version,
                    )
                ).scalar_one()
            program = self._parsed[row.digest] = program_from_definition(definition)
        return StoredVersion(
            ProgramId(row.program_id), row.version, program, row.applied_at, list(row.inactive)
        )
