"""Order 456 reports (free meals p.9, attendance p.12) and regional savings, read back."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any
from zipfile import ZipFile

from openpyxl import Workbook, load_workbook
from openpyxl.chart import BarChart

from exports import write_attendance, write_free_meals, write_regional_savings
from exports._xlsx import MONEY, PERCENT, TIME
from exports.labels import category_label, label
from exports.samples import sample_attendance, sample_free_meals, sample_savings
from exports.verify import Evaluator, find_cell

KZ = timezone(timedelta(hours=5))


def written(writer: Callable[..., None], data: Any, lang: str = "kk") -> Workbook:
    buf = io.BytesIO()
    writer(data, buf, lang=lang)
    buf.seek(0)
    return load_workbook(buf)


def total_row(wb: Workbook, sheet: str, lang: str = "kk") -> int:
    return int(find_cell(wb[sheet], label("total", lang)).row)


# ------------------------------------------------------------------ free meals (p.9)

def test_free_meals_totals_equal_the_pupils_meals_and_amounts_of_the_data() -> None:
    data = sample_free_meals(seed=2)
    wb = written(write_free_meals, data)
    ev, sheet = Evaluator(wb), label("free.sheet", "kk")
    row = total_row(wb, sheet)
    assert wb[sheet][f"E{row}"].value.startswith("=SUM(E")
    assert ev.value(sheet, f"C{row}") == sum(r.pupils for r in data.rows)
    assert ev.value(sheet, f"D{row}") == sum(r.meals for r in data.rows)
    assert ev.value(sheet, f"E{row}") == sum(r.amount_kzt for r in data.rows)
    assert wb[sheet][f"E{row}"].number_format == MONEY


def test_free_meals_band_subtotals_and_categories_are_in_the_report_language() -> None:
    data = sample_free_meals(seed=1)
    for lang in ("kk", "ru"):
        wb = written(write_free_meals, data, lang)
        ev, ws = Evaluator(wb), wb.worksheets[0]
        for r in data.rows:
            find_cell(ws, category_label(r.category, lang))  # type: ignore[arg-type]
        senior = label("total_for", lang, what=label("band.senior", lang))  # type: ignore[arg-type]
        want = sum(r.amount_kzt for r in data.rows if r.band == "senior")
        assert ev.value(ws.title, f"E{find_cell(ws, senior).row}") == want
    assert written(write_free_meals, data, "ru").sheetnames == ["Отчёт", "Меню"]


def test_free_meals_menu_lists_every_dish_with_date_and_price() -> None:
    data = sample_free_meals()
    ws = written(write_free_meals, data)[label("free.dishes_sheet", "kk")]
    header = find_cell(ws, label("free.dish", "kk")).row
    got = sorted((r[0].value, r[1].value, r[2].value, r[3].value)
                 for r in ws.iter_rows(min_row=header + 1))
    want = sorted((datetime(d.day.year, d.day.month, d.day.day), d.name, d.price_kzt,
                   "Иә" if d.free_meal else "Жоқ") for d in data.dishes)
    assert got == want
    assert ws.cell(header + 1, 3).number_format == MONEY


# ------------------------------------------------------------------ attendance (p.12)

def test_attendance_day_totals_equal_the_sum_of_daily_counts() -> None:
    data = sample_attendance(pupils=30, staff=4)
    wb = written(write_attendance, data)
    sheet = label("attendance.days_sheet", "kk")
    row, ev = total_row(wb, sheet), Evaluator(wb)
    assert ev.value(sheet, f"B{row}") == sum(d.pupils_present for d in data.days)
    assert ev.value(sheet, f"C{row}") == sum(d.staff_present for d in data.days)


def test_attendance_entries_show_pupils_and_staff_with_kazakhstan_local_times() -> None:
    data = sample_attendance(pupils=5, staff=2, seed=7)
    ws = written(write_attendance, data, "ru")["Вход-выход"]
    header = find_cell(ws, "Первый вход").row
    rows = list(ws.iter_rows(min_row=header + 1, values_only=True))
    assert len(rows) == len(data.entries)
    for got, e in zip(rows, data.entries, strict=True):
        local_in = e.first_in.astimezone(KZ).replace(tzinfo=None) if e.first_in else None
        local_out = e.last_out.astimezone(KZ).replace(tzinfo=None) if e.last_out else None
        assert got == (datetime(e.day.year, e.day.month, e.day.day),
                       "Учащийся" if e.kind == "pupil" else "Сотрудник", e.person_id, e.label,
                       local_in, local_out)
    assert ws.cell(header + 1, 5).number_format == TIME
    assert {"Учащийся", "Сотрудник"} <= {r[1] for r in rows}


# ------------------------------------------------------------------ regional savings

def test_savings_totals_and_percent_follow_from_planned_and_actual() -> None:
    data = sample_savings(schools=12, months=3)
    wb = written(write_regional_savings, data)
    sheet, ev = label("savings.sheet", "kk"), Evaluator(wb)
    row = total_row(wb, sheet)
    planned = sum(s.planned_kzt for s in data.schools)
    saving = sum(s.saving_kzt for s in data.schools)
    assert ev.value(sheet, f"E{row}") == planned
    assert ev.value(sheet, f"F{row}") == sum(s.actual_kzt for s in data.schools)
    assert ev.value(sheet, f"G{row}") == saving
    assert ev.value(sheet, f"H{row}") == saving / planned
    assert wb[sheet][f"H{row}"].number_format == PERCENT
    header = find_cell(wb[sheet], label("savings.percent", "kk")).row
    for i, s in enumerate(sorted(data.schools, key=lambda s: (s.district, s.school_name)), 1):
        assert wb[sheet][f"D{header + i}"].value == s.school_id
        assert ev.value(sheet, f"H{header + i}") == s.saving_kzt / s.planned_kzt


def test_savings_district_sheet_rolls_schools_up_by_district() -> None:
    data = sample_savings(schools=15, months=2)
    wb = written(write_regional_savings, data)
    sheet, ev = label("savings.districts_sheet", "kk"), Evaluator(wb)
    ws = wb[sheet]
    for district in {s.district for s in data.schools}:
        row = find_cell(ws, district).row
        assert ws[f"B{row}"].value.startswith("=SUM(")
        assert ev.value(sheet, f"D{row}") == sum(s.saving_kzt for s in data.schools
                                                 if s.district == district)
    assert ev.value(sheet, f"B{total_row(wb, sheet)}") == sum(s.planned_kzt for s in data.schools)


def test_savings_monthly_sheet_totals_equal_the_school_totals() -> None:
    data = sample_savings(schools=6, months=4)
    wb = written(write_regional_savings, data, "ru")
    ev = Evaluator(wb)
    row = total_row(wb, "По месяцам", "ru")
    assert ev.value("По месяцам", f"F{row}") == sum(s.saving_kzt for s in data.schools)
    assert wb.sheetnames == ["Экономия", "Районы", "По месяцам"]


def test_savings_sheet_has_a_bar_chart_of_planned_and_actual_per_school() -> None:
    data = sample_savings(schools=60, months=1)
    buf = io.BytesIO()
    write_regional_savings(data, buf)
    buf.seek(0)
    with ZipFile(buf) as z:
        charts = [n for n in z.namelist() if n.startswith("xl/charts/chart")]
        xml = z.read(charts[0]).decode()
    assert len(charts) == 1
    assert "<barChart>" in xml and '<barDir val="bar"/>' in xml
    assert xml.count("<ser>") == 2 and "Жоспар" in xml and "Факт" in xml
    first = 6
    assert f"$E${first}:$E${first + 59}" in xml and f"$F${first}:$F${first + 59}" in xml
    assert f"$C${first}:$C${first + 59}" in xml
    ws = load_workbook(io.BytesIO(buf.getvalue()))[label("savings.sheet", "kk")]
    assert [type(c) for c in ws._charts] == [BarChart]
