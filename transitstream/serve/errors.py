"""One error body for every failure (`{"error": {"code", "message"}}`), whoever raised it.

FastAPI's defaults differ between 404s (`{"detail": ...}`) and 422s (a list); clients should
not need two parsers, so every HTTP error is rewritten here.
"""

from __future__ import annotations

from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from psycopg_pool import PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from transitstream.serve.models import ErrorBody

CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    422: "invalid_request",
    503: "unavailable",
}


class ApiError(Exception):
    """An expected failure with its HTTP status and a message that says what to do."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def not_found(what: str, hint: str) -> ApiError:
    return ApiError(404, "not_found", f"{what} is not known: {hint}")


def error_response(
    status: int, code: str, message: str, details: list[dict[str, Any]] | None = None
) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        body["details"] = details
    return JSONResponse({"error": body}, status_code=status)


def unavailable(request: Request) -> JSONResponse:
    settings = request.app.state.settings
    return error_response(
        503,
        "unavailable",
        f"Postgres is not reachable at {settings.postgres.masked_conninfo()}: "
        "run `transitstream infra up` (and `transitstream db migrate`), then retry.",
    )


def install(app: FastAPI) -> None:
    async def api_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return error_response(exc.status, exc.code, exc.message)

    async def http_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = CODES.get(exc.status_code, "error")
        response = error_response(exc.status_code, code, str(exc.detail))
        response.headers.update(exc.headers or {})
        return response

    async def invalid(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        details = [
            {"field": ".".join(str(p) for p in e["loc"][1:]) or "request", "problem": e["msg"]}
            for e in exc.errors()
        ]
        message = "; ".join(f"{d['field']}: {d['problem']}" for d in details)
        return error_response(422, "invalid_request", message, details)

    async def db_down(request: Request, _: Exception) -> JSONResponse:
        return unavailable(request)

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(psycopg.OperationalError, db_down)
    app.add_exception_handler(PoolTimeout, db_down)


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "not known"},
    422: {"model": ErrorBody, "description": "a parameter is malformed"},
    503: {"model": ErrorBody, "description": "Postgres is not reachable"},
}
