"""The unit of work: one connection, one transaction, and the repositories that use it.

Leaving the `with` block without `commit()` rolls everything back, so a crash in
the middle of a use case leaves the database as it was. A lock waited for longer than
the engine allows ends the use case the same way, with DatabaseBusy.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar

from sqlalchemy import Engine
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from fidela.store.customers import CustomerRepository
from fidela.store.database import as_busy, busy_raised, error_code
from fidela.store.events import EventRepository
from fidela.store.flags import FlagRepository
from fidela.store.idempotency import IdempotencyRepository
from fidela.store.keys import KeyRepository
from fidela.store.ledger import LedgerRepository
from fidela.store.members import MemberRepository
from fidela.store.pilots import PilotRepository
from fidela.store.privacy import PrivacyRepository
from fidela.store.programs import ProgramRepository
from fidela.store.reads import Read, read_together
from fidela.store.redemptions import RedemptionRepository
from fidela.store.referrals import ReferralRepository
from fidela.store.segments import SegmentRepository
from fidela.store.webhooks import WebhookRepository

T = TypeVar("T")


class UnitOfWork:
    """Opened once per use case: `with uow: ... uow.commit()`."""

    programs: ProgramRepository
    customers: CustomerRepository
    members: MemberRepository
    events: EventRepository
    ledger: LedgerRepository
    redemptions: RedemptionRepository
    referrals: ReferralRepository
    keys: KeyRepository
    idempotency: IdempotencyRepository
    webhooks: WebhookRepository
    privacy: PrivacyRepository
    pilots: PilotRepository
    segments: SegmentRepository
    flags: FlagRepository

    def __init__(self, engine: Engine, *, read_only: bool = False, single: bool = False) -> None:
        self.engine = engine
        self.read_only = read_only
        self.single = single
        self._connection: Connection | None = None
        # Written in the next transaction that commits, as its last statement (an
        # idempotency key's claim, which must commit with the work or not at all).
        self.before_commit: Callable[[UnitOfWork], None] | None = None

    def reading(self, *, single: bool = False) -> UnitOfWork:
        """A unit of work for reads only: on SQLite it does not take the write lock.

        `single` says the work is one statement, which sees one snapshot by itself: on
        PostgreSQL it then runs outside a transaction, without the round trips of BEGIN
        and ROLLBACK (every request's key check is such a read).
        """
        return UnitOfWork(self.engine, read_only=True, single=single)

    def __enter__(self) -> UnitOfWork:
        connection = self.engine.connect()
        if self.read_only:
            # One snapshot for the whole read (SQLite's deferred transaction already is one).
            isolation = (
                {}
                if connection.dialect.name == "sqlite"
                else {"isolation_level": "AUTOCOMMIT" if self.single else "REPEATABLE READ"}
            )
            connection = connection.execution_options(fidela_read_only=True, **isolation)
        try:
            with busy_raised():
                connection.begin()  # SQLite's writers wait for the write lock here
        except BaseException:
            connection.close()
            raise
        self._connection = connection
        self.programs = ProgramRepository(connection)
        self.customers = CustomerRepository(connection)
        self.members = MemberRepository(connection)
        self.events = EventRepository(connection)
        self.ledger = LedgerRepository(connection)
        self.redemptions = RedemptionRepository(connection)
        self.referrals = ReferralRepository(connection)
        self.keys = KeyRepository(connection)
        self.idempotency = IdempotencyRepository(connection)
        self.webhooks = WebhookRepository(connection)
        self.privacy = PrivacyRepository(connection)
        self.pilots = PilotRepository(connection)
        self.segments = SegmentRepository(connection)
        self.flags = FlagRepository(connection)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        connection = self.connection
        self._connection = None
        try:
            self.ledger.close()  # a write in flight must end before the rollback
        finally:
            try:
                if connection.in_transaction():
                    connection.rollback()
            finally:
                connection.close()
        if isinstance(exc, DBAPIError) and (busy := as_busy(exc)) is not None:
            raise busy from exc

    @property
    def connection(self) -> Connection:
        if self._connection is None:
            raise RuntimeError("the unit of work is used outside its `with` block")
        return self._connection

    def read(self, *reads: Read[Any]) -> None:
        """Read these queries together (one round trip on PostgreSQL); each then has its
        `value`."""
        read_together(self.connection, reads)

    def commit(self) -> None:
        self.ledger.wait()
        if self.before_commit is not None:
            self.before_commit(self)
        self.connection.commit()
        self.before_commit = None  # it committed


# Runs of a use case that keeps losing races: a batch that lost a deadlock may then find
# the winner's new rows not yet committed, and lose a unique race once more.
ATTEMPTS = 3
LOST_RACE = {  # PostgreSQL's codes
    "23505",  # unique violation: another writer inserted the same key first
    "40P01",  # deadlock detected: the database failed this transaction to end one
    "40001",  # serialization failure
}
UNIQUE_ON_SQLITE = {"SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY"}


def run(uow: UnitOfWork, work: Callable[[UnitOfWork], T]) -> T:
    """Run `work` in a fresh transaction; run it again (ATTEMPTS in all) if a concurrent
    writer won a race: a unique key it inserted first, or a deadlock the database broke
    by failing this transaction (two batches adding the same new customers in opposite
    orders).

    The retry sees what the other writer committed, so a duplicate event or enrollment
    returns the first result instead of failing.
    """
    left = ATTEMPTS
    while True:
        left -= 1
        try:
            with uow:
                return work(uow)
        except DBAPIError as error:
            if not left or not _lost_race(error):
                raise


def _lost_race(error: DBAPIError) -> bool:
    code = error_code(error)
    return code in LOST_RACE or code in UNIQUE_ON_SQLITE
