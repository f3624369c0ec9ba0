"""Every error as RFC 9457 problem details (application/problem+json) with a stable `type`."""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, NotAuthorizedException, PermissionDeniedException, ValidationException

from ledger.errors import (
    ConcurrencyExhausted,
    ConsentWithdrawn,
    IdempotencyConflict,
    InvalidInput,
    LedgerError,
    NotFound,
    RuleViolation,
)

log = logging.getLogger("tamaq.api")
TYPE_BASE = "https://tamaq.kz/problems/"
STATUS = {
    InvalidInput: 422,
    NotFound: 404,
    IdempotencyConflict: 409,
    ConsentWithdrawn: 409,
    RuleViolation: 409,
    ConcurrencyExhausted: 503,
}
TITLES = {400: "Bad request", 401: "Not authenticated", 403: "Forbidden", 404: "Not found",
          405: "Method not allowed", 409: "Conflict", 413: "Body too large",
          422: "Invalid input", 429: "Too many requests", 500: "Internal error",
          503: "Try again"}


def problem(status: int, kind: str, detail: str, **extra: Any) -> Response[dict[str, Any]]:
    body = {"type": TYPE_BASE + kind, "title": TITLES.get(status, "Error"), "status": status,
            "detail": detail, **extra}
    return Response(body, status_code=status, media_type="application/problem+json")


def ledger_error(_: Request[Any, Any, Any], exc: LedgerError) -> Response[dict[str, Any]]:
    status = next((s for cls, s in STATUS.items() if isinstance(exc, cls)), 400)
    extra = {"field": exc.field} if isinstance(exc, InvalidInput) else {}
    return problem(status, exc.code, exc.message, **extra)


def http_error(_: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    status = exc.status_code
    kind = {400: "bad-request", 401: "unauthenticated", 403: "forbidden", 404: "not-found",
            405: "method-not-allowed", 413: "body-too-large", 429: "busy"}.get(status, "http")
    extra: dict[str, Any] = {}
    detail = exc.detail or TITLES.get(status, "Error")
    if isinstance(exc, ValidationException) and exc.extra:
        extra["errors"] = exc.extra
        kind = "validation"
        detail = _first_error(exc.extra) or detail
        where = _location(exc.__cause__)
        if detail.startswith("data:") and where not in (None, "$"):
            detail = f"{where}: {detail.removeprefix('data: ')}"
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, NotAuthorizedException) else {}
    response = problem(status, kind, detail, **extra)
    response.headers.update(headers)
    return response


def _first_error(errors: Any) -> str | None:
    """'grade: Expected `int` <= 11': the detail names the field, not only `errors`."""
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        first = errors[0]
        return f"{first.get('key') or first.get('source') or 'body'}: {first.get('message')}"
    return None


def _location(cause: BaseException | None) -> str | None:
    """msgspec says where inside the body ('$.data[0].kind'); litestar keeps only 'data'."""
    text = str(cause) if cause is not None else ""
    _, found, where = text.partition(" - at `")
    return where.rstrip("`").replace("$.data", "$", 1) if found else None


def internal_error(_: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    log.exception("unhandled error: %s", type(exc).__name__)
    return problem(500, "internal", "an internal error occurred; it has been logged")


EXCEPTION_HANDLERS = {
    LedgerError: ledger_error,
    HTTPException: http_error,
    Exception: internal_error,
}

__all__ = ["EXCEPTION_HANDLERS", "NotAuthorizedException", "PermissionDeniedException", "problem"]
