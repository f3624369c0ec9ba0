"""Input data model of the exports: what a writer needs, nothing more.

The lead fills these frozen Structs from the read models (projections); the writers in
this package never look at the domain or the event store. Every report carries:

* ``generated_at``: a tz-aware instant stamped into the workbook properties and the zip
  entries. Set it from the data (e.g. the recorded time of the event at ``position``), not
  from the clock, so the same data gives a byte-identical file an auditor can reproduce.
* ``position`` / ``chain_head`` (where the report is computed from the event log): printed
  in the footer.

Money is whole tenge (``int``, ``*_kzt``). Sequences are tuples (lists are accepted too).
Construction validates the invariants a writer relies on and raises ``ExportDataError``.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

__all__ = [
    "AMOUNT_KZT_MAX", "Adjustment", "AttendanceDay", "AttendanceEntry", "AttendanceReport",
    "Band", "BANDS", "ClassSheet", "Dish", "ExportDataError", "FreeMealsReport", "FreeMealsRow",
    "Mark", "MARKS", "MealRegister", "PersonKind", "PupilRow", "RegionRef", "RegionalSavings",
    "SchoolMonthSaving", "SchoolRef", "SchoolSaving", "Signatories", "StatementRow",
    "TenantStatement",
]

Band = Literal["preschool", "primary", "senior"]
BANDS: tuple[Band, ...] = ("preschool", "primary", "senior")
Mark = Literal["funded", "paid", "refused", "absent", "unfunded"]
MARKS: tuple[Mark, ...] = ("funded", "paid", "refused", "absent", "unfunded")
PersonKind = Literal["pupil", "staff"]

# Limits: far above any real school or region, low enough to keep a file openable.
AMOUNT_KZT_MAX = 10**12
STATEMENT_ROWS_MAX = 2_000
ADJUSTMENTS_MAX = 5_000
PUPILS_MAX = 50_000
CLASSES_MAX = 1_000
SCHOOL_DAYS_MAX = 31
ATTENDANCE_ENTRIES_MAX = 1_000_000  # an xlsx sheet holds 1,048,576 rows
DISHES_MAX = 10_000
SCHOOLS_MAX = 5_000
MONTHS_MAX = 36

Kzt = Annotated[int, Meta(ge=-AMOUNT_KZT_MAX, le=AMOUNT_KZT_MAX)]
NonNegKzt = Annotated[int, Meta(ge=0, le=AMOUNT_KZT_MAX)]
Count = Annotated[int, Meta(ge=0, le=10**9)]
MonthStr = Annotated[str, Meta(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")]
_MONTH_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


class ExportDataError(ValueError):
    """The report data breaks an invariant the writer relies on (the message says which)."""


def _check_month(month: str, what: str) -> None:
    if not _MONTH_RE.match(month):
        raise ExportDataError(f"{what}: month must be YYYY-MM, got {month!r}")


def _check_aware(instant: datetime | None, what: str) -> None:
    if instant is not None and instant.utcoffset() is None:
        raise ExportDataError(f"{what}: datetime must be timezone-aware (UTC), got {instant!r}")


def _check_len(items: tuple[object, ...] | list[object], limit: int, what: str) -> None:
    if len(items) > limit:
        raise ExportDataError(f"{what}: {len(items)} items exceeds the limit of {limit}")


def _check_in_month(day: date, month: str, what: str) -> None:
    if f"{day.year:04d}-{day.month:02d}" != month:
        raise ExportDataError(f"{what}: date {day.isoformat()} is outside month {month}")


class SchoolRef(msgspec.Struct, frozen=True):
    id: str
    name: str
    region: str
    district: str


class RegionRef(msgspec.Struct, frozen=True):
    id: str
    name: str


class Signatories(msgspec.Struct, frozen=True):
    director: str | None = None
    accountant: str | None = None
    operator: str | None = None


# ---------------------------------------------------------------- tenant statement (акт)

class StatementRow(msgspec.Struct, frozen=True):
    """Funded meals of one school day and band: amount_kzt = meals * rate_kzt."""

    day: date
    band: Band
    funding_source: str
    meals: Count
    rate_kzt: NonNegKzt
    amount_kzt: NonNegKzt

    def __post_init__(self) -> None:
        if self.band not in BANDS:
            raise ExportDataError(f"statement row {self.day}: unknown band {self.band!r}")
        if self.meals * self.rate_kzt != self.amount_kzt:
            raise ExportDataError(
                f"statement row {self.day} {self.band}: amount_kzt {self.amount_kzt} != "
                f"meals {self.meals} x rate_kzt {self.rate_kzt}; the ledger derives amounts, "
                "fix the projection")


class Adjustment(msgspec.Struct, frozen=True):
    """A correction of a meal from an earlier month, settled in this statement."""

    original_ref: str
    original_day: date
    description: str
    amount_kzt: Kzt
    from_month: MonthStr

    def __post_init__(self) -> None:
        _check_month(self.from_month, f"adjustment {self.original_ref}")


class TenantStatement(msgspec.Struct, frozen=True):
    school: SchoolRef
    month: MonthStr
    operator_name: str
    rows: tuple[StatementRow, ...]
    paid_kzt: NonNegKzt
    closed: bool
    position: Annotated[int, Meta(ge=0)]
    chain_head: str
    generated_at: datetime
    adjustments: tuple[Adjustment, ...] = ()
    signatories: Signatories = Signatories()

    def __post_init__(self) -> None:
        _check_month(self.month, "tenant statement")
        _check_aware(self.generated_at, "tenant statement generated_at")
        _check_len(self.rows, STATEMENT_ROWS_MAX, "tenant statement rows")
        _check_len(self.adjustments, ADJUSTMENTS_MAX, "tenant statement adjustments")
        for row in self.rows:
            _check_in_month(row.day, self.month, "tenant statement row")

    @property
    def total_kzt(self) -> int:
        return sum(r.amount_kzt for r in self.rows)

    @property
    def adjustments_kzt(self) -> int:
        return sum(a.amount_kzt for a in self.adjustments)

    @property
    def outstanding_kzt(self) -> int:
        return self.total_kzt + self.adjustments_kzt - self.paid_kzt


# ---------------------------------------------------------------- meal register (табель)

class PupilRow(msgspec.Struct, frozen=True):
    child_id: str
    display_name: str
    marks: dict[date, Mark]


class ClassSheet(msgspec.Struct, frozen=True):
    class_name: str
    pupils: tuple[PupilRow, ...]


class MealRegister(msgspec.Struct, frozen=True):
    school: SchoolRef
    month: MonthStr
    school_days: tuple[date, ...]
    classes: tuple[ClassSheet, ...]
    generated_at: datetime
    position: Annotated[int, Meta(ge=0)] = 0
    chain_head: str = ""

    def __post_init__(self) -> None:
        _check_month(self.month, "meal register")
        _check_aware(self.generated_at, "meal register generated_at")
        _check_len(self.school_days, SCHOOL_DAYS_MAX, "meal register school_days")
        _check_len(self.classes, CLASSES_MAX, "meal register classes")
        if list(self.school_days) != sorted(set(self.school_days)):
            raise ExportDataError("meal register: school_days must be sorted and distinct")
        for day in self.school_days:
            _check_in_month(day, self.month, "meal register school day")
        days = set(self.school_days)
        pupils = 0
        for sheet in self.classes:
            pupils += len(sheet.pupils)
            for pupil in sheet.pupils:
                stray = [d for d in pupil.marks if d not in days]
                if stray:
                    raise ExportDataError(
                        f"meal register: pupil {pupil.child_id} has a mark on {stray[0]}, "
                        "which is not a school day of the month")
                bad = [m for m in pupil.marks.values() if m not in MARKS]
                if bad:
                    raise ExportDataError(f"meal register: unknown mark {bad[0]!r}")
        if pupils > PUPILS_MAX:
            raise ExportDataError(f"meal register: {pupils} pupils exceeds {PUPILS_MAX}")


# ---------------------------------------------------------------- order 456 p.9

class FreeMealsRow(msgspec.Struct, frozen=True):
    """Pupils and meals of one band and social category ('universal' for grades 1-4)."""

    band: Band
    category: str
    pupils: Count
    meals: Count
    amount_kzt: NonNegKzt


class Dish(msgspec.Struct, frozen=True):
    day: date
    name: str
    price_kzt: NonNegKzt
    free_meal: bool


class FreeMealsReport(msgspec.Struct, frozen=True):
    school: SchoolRef
    month: MonthStr
    rows: tuple[FreeMealsRow, ...]
    dishes: tuple[Dish, ...]
    generated_at: datetime
    position: Annotated[int, Meta(ge=0)] = 0
    chain_head: str = ""

    def __post_init__(self) -> None:
        _check_month(self.month, "free meals report")
        _check_aware(self.generated_at, "free meals report generated_at")
        _check_len(self.rows, STATEMENT_ROWS_MAX, "free meals report rows")
        _check_len(self.dishes, DISHES_MAX, "free meals report dishes")
        for dish in self.dishes:
            _check_in_month(dish.day, self.month, "free meals report dish")


# ---------------------------------------------------------------- order 456 p.12

class AttendanceEntry(msgspec.Struct, frozen=True):
    day: date
    kind: PersonKind
    person_id: str
    label: str
    first_in: datetime | None
    last_out: datetime | None


class AttendanceDay(msgspec.Struct, frozen=True):
    day: date
    pupils_present: Count
    staff_present: Count


class AttendanceReport(msgspec.Struct, frozen=True):
    school: SchoolRef
    month: MonthStr
    entries: tuple[AttendanceEntry, ...]
    days: tuple[AttendanceDay, ...]
    generated_at: datetime
    position: Annotated[int, Meta(ge=0)] = 0
    chain_head: str = ""

    def __post_init__(self) -> None:
        _check_month(self.month, "attendance report")
        _check_aware(self.generated_at, "attendance report generated_at")
        _check_len(self.entries, ATTENDANCE_ENTRIES_MAX, "attendance report entries")
        _check_len(self.days, SCHOOL_DAYS_MAX, "attendance report days")
        for entry in self.entries:
            _check_aware(entry.first_in, f"attendance entry {entry.person_id} first_in")
            _check_aware(entry.last_out, f"attendance entry {entry.person_id} last_out")


# ---------------------------------------------------------------- regional savings

class SchoolSaving(msgspec.Struct, frozen=True):
    """Planned-by-list minus actually served, for one school over the report's months."""

    school_id: str
    school_name: str
    district: str
    planned_kzt: NonNegKzt
    actual_kzt: NonNegKzt
    saving_kzt: Kzt

    def __post_init__(self) -> None:
        if self.planned_kzt - self.actual_kzt != self.saving_kzt:
            raise ExportDataError(
                f"school {self.school_id}: saving_kzt {self.saving_kzt} != planned_kzt "
                f"{self.planned_kzt} - actual_kzt {self.actual_kzt}")


class SchoolMonthSaving(msgspec.Struct, frozen=True):
    school_id: str
    month: MonthStr
    planned_kzt: NonNegKzt
    actual_kzt: NonNegKzt
    saving_kzt: Kzt

    def __post_init__(self) -> None:
        if self.planned_kzt - self.actual_kzt != self.saving_kzt:
            raise ExportDataError(
                f"school {self.school_id} {self.month}: saving_kzt != planned_kzt - actual_kzt")


class RegionalSavings(msgspec.Struct, frozen=True):
    """No child data: the region sees figures, not children. ``monthly`` is optional."""

    region: RegionRef
    months: tuple[MonthStr, ...]
    schools: tuple[SchoolSaving, ...]
    generated_at: datetime
    monthly: tuple[SchoolMonthSaving, ...] = ()
    position: Annotated[int, Meta(ge=0)] = 0
    chain_head: str = ""

    def __post_init__(self) -> None:
        _check_aware(self.generated_at, "regional savings generated_at")
        if not self.months:
            raise ExportDataError("regional savings: months must not be empty")
        _check_len(self.months, MONTHS_MAX, "regional savings months")
        _check_len(self.schools, SCHOOLS_MAX, "regional savings schools")
        _check_len(self.monthly, SCHOOLS_MAX * MONTHS_MAX, "regional savings monthly")
        for month in self.months:
            _check_month(month, "regional savings")
        self._check_monthly_adds_up()

    def _check_monthly_adds_up(self) -> None:
        if not self.monthly:
            return
        months = set(self.months)
        sums: dict[str, list[int]] = {}
        for m in self.monthly:
            if m.month not in months:
                raise ExportDataError(f"regional savings: monthly row {m.month} not in months")
            acc = sums.setdefault(m.school_id, [0, 0])
            acc[0] += m.planned_kzt
            acc[1] += m.actual_kzt
        unknown = set(sums) - {s.school_id for s in self.schools}
        if unknown:
            raise ExportDataError(f"regional savings: monthly rows for unknown school {min(unknown)}")
        for s in self.schools:
            planned, actual = sums.get(s.school_id, [0, 0])
            if (planned, actual) != (s.planned_kzt, s.actual_kzt):
                raise ExportDataError(
                    f"regional savings: monthly rows of school {s.school_id} sum to "
                    f"planned {planned} / actual {actual}, the school row says "
                    f"{s.planned_kzt} / {s.actual_kzt}")
