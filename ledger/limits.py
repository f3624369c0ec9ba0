"""Limits on everything (TIGER_STYLE): amounts, sizes, dates. One place, named units."""

from __future__ import annotations

import re
from datetime import date, datetime

from ledger.errors import InvalidInput

ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
ID_LEN_MAX = 64
NAME_LEN_MAX = 120
TEXT_LEN_MAX = 500
IIN_PATTERN = re.compile(r"^[0-9]{12}$")

RATE_KZT_MAX = 100_000
PRICE_KZT_MAX = 100_000
TOP_UP_KZT_MAX = 1_000_000
TENANT_PAYMENT_KZT_MAX = 10_000_000_000
OVERDRAFT_KZT_MAX = 50_000

GRADE_MIN, GRADE_MAX = 0, 11
SHIFT_MIN, SHIFT_MAX = 1, 3
BATCH_ITEMS_MAX = 5_000
SAVE_EVENTS_MAX = 5_000  # one save() stays far below the ~25 k that hangs psycopg's pipeline
MEAL_ITEMS_MAX = 20
MENU_ITEMS_MAX = 100
ALLERGENS_MAX = 30
CATEGORIES_MAX = 20
SHIFTS_MAX = 3

DATE_MIN = date(2015, 1, 1)
DATE_MAX = date(2045, 12, 31)


def check_id(field: str, value: str) -> str:
    if not isinstance(value, str) or not ID_PATTERN.match(value):
        raise InvalidInput(field, "must be 1-64 letters, digits, '-' or '_'")
    return value


def check_text(field: str, value: str, *, max_len: int = NAME_LEN_MAX) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(field, "must be a non-empty string")
    if len(value) > max_len:
        raise InvalidInput(field, f"must be at most {max_len} characters")
    return value


def check_kzt(field: str, value: int, *, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidInput(field, "must be a whole number of tenge")
    if not low <= value <= high:
        raise InvalidInput(field, f"must be between {low} and {high} tenge, got {value}")
    return value


def check_date(field: str, value: date) -> date:
    if not isinstance(value, date) or isinstance(value, datetime):
        raise InvalidInput(field, "must be a date (YYYY-MM-DD)")
    if not DATE_MIN <= value <= DATE_MAX:
        raise InvalidInput(field, f"must be between {DATE_MIN} and {DATE_MAX}, got {value}")
    return value


def check_instant(field: str, value: datetime) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise InvalidInput(field, "must be an instant with a time zone (RFC 3339)")
    check_date(field, value.date())
    return value


def check_grade(value: int) -> int:
    if not isinstance(value, int) or not GRADE_MIN <= value <= GRADE_MAX:
        raise InvalidInput("grade", f"must be {GRADE_MIN}-{GRADE_MAX} (0 = preschool class)")
    return value


def check_shift(value: int) -> int:
    if not isinstance(value, int) or not SHIFT_MIN <= value <= SHIFT_MAX:
        raise InvalidInput("shift", f"must be {SHIFT_MIN}-{SHIFT_MAX}")
    return value
