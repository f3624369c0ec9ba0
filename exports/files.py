"""What the API and the CLI need around the writers: kinds, content types, file names,
and one ``write_report`` that dispatches on the data's type."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Literal

from ._xlsx import Out
from .attendance import write_attendance, write_attendance_csv
from .free_meals import write_free_meals, write_free_meals_csv
from .labels import Lang, check_lang
from .model import AttendanceReport, FreeMealsReport, MealRegister, RegionalSavings, TenantStatement
from .register import write_meal_register, write_meal_register_csv
from .savings import write_regional_savings, write_regional_savings_csv
from .statement import write_statement, write_statement_csv

Format = Literal["xlsx", "csv"]
ReportKind = Literal["statement", "register", "free-meals", "attendance", "regional-savings"]
Report = TenantStatement | MealRegister | FreeMealsReport | AttendanceReport | RegionalSavings

CONTENT_TYPES: dict[str, str] = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv; charset=utf-8",
}

_Writer = Callable[..., None]
_WRITERS: dict[type[Any], tuple[ReportKind, _Writer, _Writer]] = {
    TenantStatement: ("statement", write_statement, write_statement_csv),
    MealRegister: ("register", write_meal_register, write_meal_register_csv),
    FreeMealsReport: ("free-meals", write_free_meals, write_free_meals_csv),
    AttendanceReport: ("attendance", write_attendance, write_attendance_csv),
    RegionalSavings: ("regional-savings", write_regional_savings, write_regional_savings_csv),
}
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


class UnsupportedExport(ValueError):
    """Unknown report type or format (the message lists what is supported)."""


def report_kind(data: Report) -> ReportKind:
    try:
        return _WRITERS[type(data)][0]
    except KeyError:
        raise UnsupportedExport(f"no writer for {type(data).__name__}: expected one of "
                                f"{', '.join(t.__name__ for t in _WRITERS)}") from None


def check_format(fmt: str) -> Format:
    if fmt not in CONTENT_TYPES:
        raise UnsupportedExport(f"unsupported export format {fmt!r}: use 'xlsx' or 'csv'")
    return fmt  # type: ignore[return-value]


def write_report(data: Report, out: Out, *, fmt: Format = "xlsx", lang: Lang = "kk") -> None:
    """Write any report to ``out`` in ``fmt`` (xlsx or csv) and ``lang`` (kk or ru)."""
    check_format(fmt)
    check_lang(lang)
    report_kind(data)
    _, xlsx, csv = _WRITERS[type(data)]
    (xlsx if fmt == "xlsx" else csv)(data, out, lang=lang)


def filename(data: Report, *, fmt: Format = "xlsx", lang: Lang = "kk") -> str:
    """ASCII download name, e.g. ``tamaq-statement-sch-42-2025-09-kk.xlsx`` or
    ``tamaq-regional-savings-reg-1-2025-01_2025-12-ru.csv``."""
    check_format(fmt)
    check_lang(lang)
    kind = report_kind(data)
    if isinstance(data, RegionalSavings):
        subject, months = data.region.id, sorted(data.months)
        period = months[0] if len(months) == 1 else f"{months[0]}_{months[-1]}"
    else:
        subject, period = data.school.id, data.month
    subject = _UNSAFE.sub("-", subject).strip("-.")[:60] or "x"
    return f"tamaq-{kind}-{subject}-{period}-{lang}.{fmt}"


def content_disposition(name: str) -> str:
    return f'attachment; filename="{name}"'
