"""Every error as an RFC 9457 problem document (`application/problem+json`).

Fidela's typed errors keep their status, field and reason; request validation names
each bad field; anything unexpected is logged with the request id and answered with
a 500 that says nothing about its cause. The OpenAPI description declares them too.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from fidela.domain.errors import FidelaError, ProgramInvalid
from fidela.services.imports import ImportInvalid

MEDIA_TYPE = "application/problem+json"
LISTED = 100  # located mistakes listed in `errors` (of a program file, of a history)
TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    422: "Invalid input",
    429: "Too many requests",
    500: "Internal error",
    503: "Unavailable",
}
# What any operation under /v1 may answer besides its own statuses: it takes a key and input.
PROBLEMS = {
    401: "No key, or a malformed, unknown or revoked one.",
    403: "A key of another program, or of a role that may not do this.",
    404: "Something this program does not have.",
    409: "A conflict with what is stored: an idempotency key, a used voucher, points short.",
    422: "Invalid input; `errors` lists every mistake.",
    503: "The database is busy: another write held a lock this request needs for longer"
    " than the server waits. Nothing was kept; retry after the Retry-After seconds.",
}
BODY_PROBLEMS = {400: "A body that can't be read: bytes that aren't UTF-8, say."}
FASTAPI_422 = "Validation Error"  # how FastAPI describes the 422 it declares by itself
log = logging.getLogger("fidela.api")


class ProblemError(BaseModel):
    field: str = Field(description="Where: a dotted path, or `body.…`, `query.…` for the request.")
    reason: str


class Problem(BaseModel):
    """An RFC 9457 problem document: what every 4xx and 5xx answer carries."""

    type: str
    title: str
    status: int
    detail: str
    instance: str = Field(description="The path that was asked.")
    request_id: str | None = Field(description="As in the X-Request-Id header, and in the logs.")
    field: str | None = Field(default=None, description="The first field at fault.")
    reason: str | None = Field(default=None, description="What is wrong with it.")
    errors: list[ProblemError] | None = Field(default=None, description="Every mistake found.")


def response(description: str) -> dict[str, Any]:
    """An OpenAPI response answering `description` with a problem document."""
    schema = {"$ref": "#/components/schemas/Problem"}
    return {"description": description, "content": {MEDIA_TYPE: {"schema": schema}}}


def declared(description: dict[str, Any]) -> dict[str, Any]:
    """`description` (an OpenAPI document) with the problems of every operation under /v1.

    They replace FastAPI's own 422, whose body is not the one Fidela sends; a route's own
    description of one of these statuses is kept. Changes `description` in place, and
    doing it twice changes nothing.
    """
    for path, operations in description["paths"].items():
        if not path.startswith("/v1/"):
            continue
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            problems = PROBLEMS | (BODY_PROBLEMS if "requestBody" in operation else {})
            for status, meaning in problems.items():
                own = responses.get(str(status), {}).get("description", FASTAPI_422)
                responses[str(status)] = response(meaning if own == FASTAPI_422 else own)
            operation["responses"] = dict(sorted(responses.items()))
    schemas = description.setdefault("components", {}).setdefault("schemas", {})
    problem = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas |= problem.pop("$defs") | {"Problem": problem}
    for name in ("HTTPValidationError", "ValidationError"):  # FastAPI's, for its own 422
        if f'"#/components/schemas/{name}"' not in json.dumps(description):
            schemas.pop(name, None)
    return description


def problem(request: Request, status: int, detail: str, **extra: Any) -> JSONResponse:
    """A problem document for `request`, with its request id and any extra members."""
    body = {
        "type": "about:blank",
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "instance": request.url.path,
        "request_id": getattr(request.state, "request_id", None),
        **extra,
    }
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def install(app: FastAPI) -> None:
    """Register the handlers that turn every error into a problem document, and declare them."""
    openapi = app.openapi  # FastAPI's own, which caches the description it makes

    def openapi_with_problems() -> dict[str, Any]:
        return declared(openapi())

    app.openapi = openapi_with_problems  # type: ignore[method-assign]  # as FastAPI's docs do

    @app.exception_handler(FidelaError)
    async def fidela_error(request: Request, error: FidelaError) -> JSONResponse:
        errors = [{"field": error.field, "reason": error.reason}]
        if isinstance(error, ProgramInvalid | ImportInvalid):
            listed = error.problems[:LISTED]
            errors = [{"field": p.location, "reason": p.message} for p in listed]
        response = problem(
            request, error.status, str(error), field=error.field, reason=error.reason, errors=errors
        )
        if error.retry_after is not None:
            response.headers["Retry-After"] = str(error.retry_after)
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        errors = [
            {"field": ".".join(str(part) for part in item["loc"]), "reason": item["msg"]}
            for item in error.errors()
        ]
        first = errors[0] if errors else {"field": "", "reason": "is invalid"}
        return problem(request, 422, f"{first['field']}: {first['reason']}", **first, errors=errors)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> JSONResponse:
        response = problem(request, error.status_code, str(error.detail))
        response.headers.update(error.headers or {})  # e.g. the Allow of a 405
        return response

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        request_id = getattr(request.state, "request_id", None)
        log.exception("unexpected error", extra={"request_id": request_id})
        response = problem(request, 500, f"an unexpected error; its request id is {request_id}")
        if request_id:  # this answer bypasses the middleware that would add it
            response.headers["X-Request-Id"] = request_id
        return response
