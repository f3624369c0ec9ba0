"""Time rules: instants are UTC, a school day is a local date in Asia/Almaty (UTC+5)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo

from ledger.errors import InvalidInput

Band = Literal["preschool", "primary", "senior"]
BANDS: tuple[Band, ...] = ("preschool", "primary", "senior")
MONTH_PATTERN = re.compile(r"^(20[0-9]{2})-(0[1-9]|1[0-2])$")
DEFAULT_TIME_ZONE = "Asia/Almaty"


@lru_cache(maxsize=8)
def zone(name: str = DEFAULT_TIME_ZONE) -> ZoneInfo:
    return ZoneInfo(name)


def utc_now() -> datetime:
    return datetime.now(UTC)


def local_day(instant: datetime, tz: str = DEFAULT_TIME_ZONE) -> date:
    """The school day an instant falls on."""
    return instant.astimezone(zone(tz)).date()


def band_of(grade: int) -> Band:
    if grade == 0:
        return "preschool"
    if 1 <= grade <= 4:
        return "primary"
    if 5 <= grade <= 11:
        return "senior"
    raise InvalidInput("grade", f"must be 0-11, got {grade}")


def parse_month(field: str, text: str) -> str:
    if not isinstance(text, str) or not MONTH_PATTERN.match(text):
        raise InvalidInput(field, f"must be a month as YYYY-MM, got {text!r}")
    return text


def month_of(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def month_bounds(month: str) -> tuple[date, date]:
    """First day and the first day of the next month."""
    year, mon = int(month[:4]), int(month[5:7])
    first = date(year, mon, 1)
    nxt = date(year + (mon == 12), mon % 12 + 1, 1)
    return first, nxt


def month_days(month: str) -> list[date]:
    first, nxt = month_bounds(month)
    return [first + timedelta(days=i) for i in range((nxt - first).days)]


def next_month(month: str) -> str:
    return month_of(month_bounds(month)[1])


def school_year_of(day: date) -> str:
    """The school year a date belongs to: 1 September to 31 August, e.g. '2025-2026'."""
    start = day.year if day.month >= 9 else day.year - 1
    return f"{start}-{start + 1}"


SCHOOL_YEAR_PATTERN = re.compile(r"^(20[0-9]{2})-(20[0-9]{2})$")


def check_school_year(text: str) -> str:
    match = SCHOOL_YEAR_PATTERN.match(text) if isinstance(text, str) else None
    if not match or int(match.group(2)) != int(match.group(1)) + 1:
        raise InvalidInput("school_year", f"must look like 2025-2026, got {text!r}")
    return text
