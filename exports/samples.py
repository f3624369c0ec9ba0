"""Deterministic sample reports (seeded): for tests, demos and memory measurements.

The figures follow the domain brief (585 tenge primary, 710 tenge grades 5-11) but are
invented; nothing here is read by production code paths.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

from .model import (
    MARKS, Adjustment, AttendanceDay, AttendanceEntry, AttendanceReport, ClassSheet, Dish,
    FreeMealsReport, FreeMealsRow, MealRegister, PupilRow, RegionalSavings, RegionRef,
    SchoolMonthSaving, SchoolRef, SchoolSaving, Signatories, StatementRow, TenantStatement,
)

GENERATED_AT = datetime(2025, 10, 1, 4, 0, 0, tzinfo=UTC)
SCHOOL = SchoolRef(id="SCH-042", name="№ 42 мектеп-гимназия", region="Алматы облысы",
                   district="Қонаев қ.")
CHAIN_HEAD = "9f2c" * 16
_NAMES = ("Әлихан", "Аружан", "Нұрсұлтан", "Айым", "Ерасыл", "Жансая", "Дархан", "Томирис")
_SURNAMES = ("Сейтқали", "Омарова", "Жұмабек", "Ким", "Иванова", "Нұрланұлы", "Әбенова")


def school_days(month: str = "2025-09", limit: int = 22) -> tuple[date, ...]:
    year, num = (int(p) for p in month.split("-"))
    day, out = date(year, num, 1), list[date]()
    while day.month == num and len(out) < limit:
        if day.weekday() < 5:
            out.append(day)
        day += timedelta(days=1)
    return tuple(out)


def sample_statement(seed: int = 0, month: str = "2025-09") -> TenantStatement:
    rnd = random.Random(seed)
    rows = []
    for day in school_days(month, 18):
        for band, rate, source in (("primary", 585, "Мемлекеттік бюджет"), ("senior", 710, "ЖБҚ")):
            meals = rnd.randint(150, 256) if band == "primary" else rnd.randint(10, 40)
            rows.append(StatementRow(day, band, source, meals, rate, meals * rate))  # type: ignore[arg-type]
    adjustments = (
        Adjustment("meal-7781", date(2025, 8, 29), "Қайтарылған тамақ / возврат", -585, "2025-08"),
        Adjustment("meal-7790", date(2025, 8, 30), "Кеш тіркелген / поздняя запись", 1420, "2025-08"),
    )
    total = sum(r.amount_kzt for r in rows)
    return TenantStatement(
        school=SCHOOL, month=month, operator_name="ЖШС «Дәмді ас»", rows=tuple(rows),
        paid_kzt=total // 2, closed=True, position=123_456, chain_head=CHAIN_HEAD,
        generated_at=GENERATED_AT, adjustments=adjustments,
        signatories=Signatories(director="Ахметова Г.С.", accountant="Ким Л.В.",
                                operator="Серікбаев Д.Е."))


def sample_register(pupils: int = 120, seed: int = 0, class_size: int = 25,
                    month: str = "2025-09") -> MealRegister:
    rnd = random.Random(seed)
    days = school_days(month)
    classes = []
    for c in range((pupils + class_size - 1) // class_size):
        rows = []
        for p in range(min(class_size, pupils - c * class_size)):
            marks = {d: rnd.choice(MARKS) for d in days if rnd.random() < 0.95}
            name = f"{rnd.choice(_SURNAMES)} {rnd.choice(_NAMES)}"
            rows.append(PupilRow(f"C{c:03d}-{p:02d}", name, marks))
        suffix = '' if c < 77 else str(c // 77)
        classes.append(ClassSheet(f"{1 + c % 11}{'АӘБВГҒД'[c // 11 % 7]}{suffix}", tuple(rows)))
    return MealRegister(SCHOOL, month, days, tuple(classes), GENERATED_AT, 123_456, CHAIN_HEAD)


def sample_free_meals(seed: int = 0, month: str = "2025-09") -> FreeMealsReport:
    rnd = random.Random(seed)
    rows = [FreeMealsRow("primary", "universal", 256, 2395, 2395 * 585)]
    for cat in ("large_family", "low_income", "disability", "guardianship"):
        pupils = rnd.randint(1, 15)
        meals = pupils * rnd.randint(10, 18)
        rows.append(FreeMealsRow("senior", cat, pupils, meals, meals * 710))
    dishes = [Dish(d, name, price, free) for d in school_days(month, 18)
              for name, price, free in (("Палау", 585, True), ("Бауырсақ", 150, False),
                                        ("Борщ", 710, True), ("Компот", 120, False))]
    return FreeMealsReport(SCHOOL, month, tuple(rows), tuple(dishes), GENERATED_AT,
                           123_456, CHAIN_HEAD)


def sample_attendance(pupils: int = 60, staff: int = 8, seed: int = 0,
                      month: str = "2025-09") -> AttendanceReport:
    rnd = random.Random(seed)
    entries, counts = [], []
    for day in school_days(month):
        present = {"pupil": 0, "staff": 0}
        for kind, n in (("pupil", pupils), ("staff", staff)):
            for i in range(n):
                if rnd.random() < 0.1:
                    continue
                start = datetime(day.year, day.month, day.day, 2, 30, tzinfo=UTC)
                first_in = start + timedelta(minutes=rnd.randint(0, 60))
                last_out = first_in + timedelta(hours=rnd.randint(4, 8)) \
                    if rnd.random() < 0.97 else None
                entries.append(AttendanceEntry(day, kind, f"{kind[0].upper()}{i:05d}",  # type: ignore[arg-type]
                                               f"{rnd.choice(_SURNAMES)} {rnd.choice(_NAMES)}",
                                               first_in, last_out))
                present[kind] += 1
        counts.append(AttendanceDay(day, present["pupil"], present["staff"]))
    return AttendanceReport(SCHOOL, month, tuple(entries), tuple(counts), GENERATED_AT,
                            123_456, CHAIN_HEAD)


def sample_savings(schools: int = 60, months: int = 12, seed: int = 0) -> RegionalSavings:
    rnd = random.Random(seed)
    month_list = tuple(f"2025-{m:02d}" for m in range(1, months + 1))
    rows, monthly = [], []
    for s in range(schools):
        sid = f"SCH-{s:03d}"
        planned_total = actual_total = 0
        for month in month_list:
            planned = rnd.randint(200, 300) * 585 * 18
            actual = planned - rnd.randint(-5_000, planned // 2)
            monthly.append(SchoolMonthSaving(sid, month, planned, actual, planned - actual))
            planned_total, actual_total = planned_total + planned, actual_total + actual
        rows.append(SchoolSaving(sid, f"№ {s + 1} мектеп", f"Аудан {s % 7 + 1}", planned_total,
                                 actual_total, planned_total - actual_total))
    return RegionalSavings(RegionRef("REG-19", "Алматы облысы"), month_list, tuple(rows),
                           GENERATED_AT, tuple(monthly), 123_456, CHAIN_HEAD)
