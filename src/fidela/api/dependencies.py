"""What endpoints receive: a unit of work, the clock, and the authorized caller.

Dependencies are `async def`: FastAPI runs them on the event loop, where a plain `def`
would cost each a trip through the thread pool (about 0.6 ms of latency measured on
our two-core machines). The one that may need the database, the key check, goes
there only when the worker's KeyCache does not know the key.

Named `Annotated` aliases, so that an endpoint's signature says what it needs:
`caller: Integration` is a key of the path's program with the integration or admin role.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

import orjson
from fastapi import Depends, Header, Path, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from fidela.domain.errors import Forbidden, Unauthorized
from fidela.domain.ids import ID_MAX, ProgramId
from fidela.domain.keys import Role
from fidela.services import idempotency, keys
from fidela.services.idempotency import Answer
from fidela.services.keys import Caller, KeyCache
from fidela.services.recorder import Recorder
from fidela.store.unit_of_work import UnitOfWork


async def _uow(request: Request) -> UnitOfWork:
    return UnitOfWork(request.app.state.engine)


async def _now(request: Request) -> datetime:
    now: datetime = request.app.state.clock()
    return now


async def _recorder(request: Request) -> Recorder:
    recorder: Recorder = request.app.state.recorder
    return recorder


Uow = Annotated[UnitOfWork, Depends(_uow)]
Now = Annotated[datetime, Depends(_now)]
# The app's one Recorder: events of concurrent requests share a transaction.
Together = Annotated[Recorder, Depends(_recorder)]
ProgramPath = Annotated[str, Path(min_length=1, max_length=64, description="The program's id.")]
MemberRef = Annotated[str, Path(description="The member's e-mail or the shop's customer id.")]
ByMemberId = Annotated[
    bool, Query(description="`ref` is Fidela's member id (the only way to an erased member).")
]
# A page: the items after `after` (the previous answer's `next`), at most `limit` of them.
After = Annotated[int, Query(ge=0, le=ID_MAX, description="The `next` of the previous page.")]
Limit = Annotated[int, Query(ge=1, le=500, description="At most this many.")]


def _allow(*roles: Role) -> Callable[..., Awaitable[Caller]]:
    """A dependency admitting keys of the path's program that hold one of `roles`.

    It depends on nothing else (the unit of work and the clock come from the app): FastAPI
    spends 20-40 µs of a worker's CPU on each dependency it solves, on every request."""

    async def dependency(
        request: Request,
        program_id: ProgramPath,
        authorization: Annotated[
            str | None,
            Header(description="`Bearer fdl_<key id>_<secret>`: an API key or a member token."),
        ] = None,
    ) -> Caller:
        caller = await _caller(request, authorization)
        if caller.program_id != ProgramId(program_id):
            raise Forbidden("program_id", "the key belongs to another program")
        if caller.role not in roles:
            raise Forbidden("authorization", f"needs a key with the role {' or '.join(roles)}")
        return caller

    return dependency


async def _caller(request: Request, authorization: str | None) -> Caller:
    """The caller of the key sent: from the worker's KeyCache, else from the database."""
    scheme, _, presented = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        raise Unauthorized("authorization", "send an API key as `Authorization: Bearer <key>`")
    key = presented.strip()
    now = await _now(request)
    cache: KeyCache | None = request.app.state.keys
    if cache is not None and (known := cache.lookup(key, now)) is not None:
        return known
    uow = await _uow(request)
    return await run_in_threadpool(keys.authenticate, uow, key, now=now, cache=cache)


Integration = Annotated[Caller, Depends(_allow(Role.ADMIN, Role.INTEGRATION))]
Admin = Annotated[Caller, Depends(_allow(Role.ADMIN))]
Anyone = Annotated[Caller, Depends(_allow(Role.ADMIN, Role.INTEGRATION, Role.MEMBER))]
Member = Annotated[Caller, Depends(_allow(Role.MEMBER))]  # with `caller.member_id` set


IdempotencyKey = Annotated[
    str | None,
    Header(
        min_length=1,
        max_length=200,
        description="A retry with the same key and request gets the first answer.",
    ),
]


@dataclass(frozen=True)
class Writer:
    """Answers a write once per Idempotency-Key, if the caller sent one."""

    uow: UnitOfWork
    request: Request
    now: datetime
    key: str | None

    def once(self, caller: Caller, body: Any, work: Callable[[], Answer]) -> JSONResponse:
        """Run `work`, or replay the first answer to this key and request."""
        if self.key is None:
            answer = work()
        else:
            request = f"{self.request.method} {self.request.url.path}\n".encode()
            fingerprint = hashlib.sha256(
                request + orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
            ).hexdigest()
            answer = idempotency.once(
                self.uow, caller.program_id, self.key, fingerprint, work, now=self.now
            )
        return JSONResponse(answer.body, status_code=answer.status)


async def _writer(
    uow: Uow, request: Request, now: Now, idempotency_key: IdempotencyKey = None
) -> Writer:
    return Writer(uow, request, now, idempotency_key)


Idempotent = Annotated[Writer, Depends(_writer)]
