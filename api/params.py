"""Path and query parameters parsed with a clear 4xx naming the parameter."""

from __future__ import annotations

from datetime import date, datetime

from ledger import limits
from ledger.dates import parse_month
from ledger.errors import InvalidInput


def parse_date_param(name: str, text: str) -> date:
    try:
        value = date.fromisoformat(text)
    except (TypeError, ValueError):
        raise InvalidInput(name, f"must be a date as YYYY-MM-DD, got {text!r}") from None
    return limits.check_date(name, value)


def parse_instant_param(name: str, text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        raise InvalidInput(name, f"must be an RFC 3339 instant, got {text!r}") from None
    if value.tzinfo is None:
        raise InvalidInput(name, "must include a time zone, e.g. 2025-10-05T00:00:00+05:00")
    return value


def month_param(text: str | None) -> str:
    if text is None:
        raise InvalidInput("month", "is required, as YYYY-MM")
    return parse_month("month", text)
