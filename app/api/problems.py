"""RFC 9457 problem details: every error the service answers goes through here, mapped by class in one table."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.domain import json_input
from app.domain.errors import (
    Conflict,
    DomainError,
    Forbidden,
    InvalidInput,
    NotAcceptable,
    NotAuthenticated,
    NotFound,
    PayloadTooLarge,
    QueryParameterError,
    QueryTooLarge,
    RateLimited,
    SubscriptionError,
    UnsupportedMediaType,
)

log = logging.getLogger("passport")

STATUS: dict[type[DomainError], int] = {
    QueryParameterError: 400,  # EPCIS: QueryParameterException
    QueryTooLarge: 413,  # EPCIS: QueryTooLargeException
    SubscriptionError: 400,  # EPCIS: SubscriptionControlsException
    InvalidInput: 422,
    NotAuthenticated: 401,
    Forbidden: 403,
    NotFound: 404,
    NotAcceptable: 406,
    Conflict: 409,
    PayloadTooLarge: 413,
    UnsupportedMediaType: 415,
    RateLimited: 429,
}
_HTTP_CODES = {
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "RFC 9457 problem details with a stable machine `code`; some problems add fields (e.g. `errors`).",
    "type": "object",
    "required": ["type", "title", "status", "detail", "code"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "code": {"type": "string"},
    },
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` declaring the problems a router's routes can answer (given once per router)."""
    return {
        status: {"description": HTTPStatus(status).phrase, "content": {PROBLEM_MEDIA_TYPE: {"schema": PROBLEM_SCHEMA}}}
        for status in statuses
    }


# Routes that take an API key: none or a wrong one, wrong role or foreign data, nothing there, a rule refusing,
# a body over the limit, an invalid request. Public routes: no key, so no 401/403.
KEYED_PROBLEMS = problem_responses(401, 403, 404, 409, 413, 422)
PUBLIC_PROBLEMS = problem_responses(404, 413, 422)


def status_of(error: DomainError) -> int:
    for cls in type(error).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 400


def problem(status: int, code: str, title: str, detail: str, **extra: Any) -> JSONResponse:
    body = {
        "type": f"/problems/{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        **extra,
    }
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type="application/problem+json", headers=headers)


def domain_problem(error: DomainError) -> JSONResponse:
    extra = {**error.extra, "type": error.problem_type} if error.problem_type else error.extra
    response = problem(status_of(error), error.code, error.title, error.detail, **extra)
    if isinstance(error, RateLimited):
        response.headers["Retry-After"] = str(error.retry_after)
    return response


def _location(loc: tuple[Any, ...]) -> str:
    parts = loc[1:] if loc and loc[0] in ("body", "query", "path") else loc  # a body field may be named "query"
    return ".".join(str(part) for part in parts)


def _not_json(error: Any, body: Any) -> JSONResponse:
    loc = tuple(error.get("loc", ()))
    position = loc[-1] if loc and isinstance(loc[-1], int) else -1
    message = str((error.get("ctx") or {}).get("error") or "not JSON")
    return domain_problem(json_input.syntax_error(message, body if isinstance(body, str) else None, position))


def install(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(_request: Request, exc: DomainError) -> JSONResponse:
        return domain_problem(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        unparsed = next((err for err in exc.errors() if err.get("type") == "json_invalid"), None)
        if unparsed is not None:  # FastAPI's json.loads failed: say what and where, as for hand-read bodies
            return _not_json(unparsed, exc.body)
        errors = [
            {
                "field": _location(tuple(err.get("loc", ()))),
                "message": err.get("msg", ""),
                "type": err.get("type"),
            }
            for err in exc.errors()
        ]
        first = errors[0] if errors else {"field": "", "message": "invalid request"}
        detail = f"{first['field']}: {first['message']}" if first["field"] else str(first["message"])
        return problem(422, "validation_error", "Invalid request", detail, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and isinstance(exc.__cause__, (ValueError, RecursionError)):
            # FastAPI answers 400 "error parsing the body" when reading a JSON body raised anything but a
            # JSONDecodeError: invalid UTF-8, nesting past the recursion limit, an integer too long to convert.
            return domain_problem(json_input.explain(exc.__cause__))
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        return problem(exc.status_code, code, str(exc.detail), str(exc.detail))

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return problem(500, "internal_error", "Internal error", "the request failed; nothing was recorded")
