"""Every error as an RFC 9457 problem document (`application/problem+json`).

Fidela's typed errors keep their status, field and reason; request validation names
each bad field; anything unexpected is logged with the request id and answered with
a 500 that says nothing about its cause.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from fidela.domain.errors import FidelaError, ProgramInvalid

MEDIA_TYPE = "application/problem+json"
TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    422: "Invalid input",
    500: "Internal error",
    503: "Unavailable",
}
log = logging.getLogger("fidela.api")


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
    """Register the handlers that turn every error into a problem document."""

    @app.exception_handler(FidelaError)
    async def fidela_error(request: Request, error: FidelaError) -> JSONResponse:
        errors = [{"field": error.field, "reason": error.reason}]
        if isinstance(error, ProgramInvalid):
            errors = [{"field": p.location, "reason": p.message} for p in error.problems]
        return problem(
            request, error.status, str(error), field=error.field, reason=error.reason, errors=errors
        )

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
