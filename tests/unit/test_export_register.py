"""The meal register (табель): one sheet per class, marks per cell, COUNTIF totals."""

from __future__ import annotations

import io
from datetime import datetime

from openpyxl import Workbook, load_workbook
from openpyxl.utils import get_column_letter

from exports import write_meal_register
from exports.labels import label
from exports.model import MARKS, ClassSheet, MealRegister, PupilRow
from exports.register import mark_codes
from exports.samples import sample_register
from exports.verify import Evaluator, find_cell

FIRST_DAY_COL = 4


def written(data: MealRegister, lang: str = "kk") -> Workbook:
    buf = io.BytesIO()
    write_meal_register(data, buf, lang=lang)  # type: ignore[arg-type]
    buf.seek(0)
    return load_workbook(buf)


def test_each_class_gets_its_own_sheet_in_order() -> None:
    data = sample_register(pupils=80, class_size=25)
    wb = written(data)
    assert wb.sheetnames == [c.class_name for c in data.classes]


def test_every_mark_is_in_its_pupil_and_day_cell_as_the_legend_code() -> None:
    data = sample_register(pupils=40, seed=5)
    wb = written(data)
    codes = mark_codes("kk")
    for sheet in data.classes:
        ws = wb[sheet.class_name]
        header = find_cell(ws, label("register.pupil", "kk")).row
        days = [ws.cell(header, FIRST_DAY_COL + i).value for i in range(len(data.school_days))]
        assert days == [datetime(d.year, d.month, d.day) for d in data.school_days]
        for i, pupil in enumerate(sheet.pupils, 1):
            row = header + i
            assert ws.cell(row, 3).value == pupil.child_id
            for j, day in enumerate(data.school_days):
                want = codes[pupil.marks[day]] if day in pupil.marks else None
                assert ws.cell(row, FIRST_DAY_COL + j).value == want


def test_per_pupil_totals_are_countif_formulas_equal_to_the_pupils_marks() -> None:
    data = sample_register(pupils=30, seed=2)
    wb = written(data)
    ev = Evaluator(wb)
    sheet = data.classes[0]
    ws = wb[sheet.class_name]
    header = find_cell(ws, label("register.pupil", "kk")).row
    total_col = FIRST_DAY_COL + len(data.school_days)
    for i, pupil in enumerate(sheet.pupils, 1):
        for k, mark in enumerate(MARKS):
            coord = f"{get_column_letter(total_col + k)}{header + i}"
            assert str(ws[coord].value).startswith("=COUNTIF(")
            assert ev.value(ws.title, coord) == list(pupil.marks.values()).count(mark)


def test_per_day_totals_count_each_mark_down_the_day_column() -> None:
    data = sample_register(pupils=25, seed=9)
    wb = written(data)
    ev = Evaluator(wb)
    sheet = data.classes[0]
    ws = wb[sheet.class_name]
    codes = mark_codes("kk")
    for k, mark in enumerate(MARKS):
        name = label("register.per_day", "kk", what=f"{codes[mark]} ({label(f'mark.{mark}', 'kk')})")
        row = find_cell(ws, name).row
        for j, day in enumerate(data.school_days):
            want = sum(1 for p in sheet.pupils if p.marks.get(day) == mark)
            assert ev.value(ws.title, f"{get_column_letter(FIRST_DAY_COL + j)}{row}") == want
        own = f"{get_column_letter(FIRST_DAY_COL + len(data.school_days) + k)}{row}"
        assert ev.value(ws.title, own) == sum(list(p.marks.values()).count(mark)
                                              for p in sheet.pupils)


def test_russian_register_uses_russian_codes_and_headers() -> None:
    data = sample_register(pupils=10, seed=4)
    ws = written(data, "ru").worksheets[0]
    find_cell(ws, "Учащийся")
    find_cell(ws, "Электронный табель питания — Класс " + data.classes[0].class_name)
    codes = {c.value for row in ws.iter_rows(min_row=6, max_row=15, min_col=4,
                                              max_col=3 + len(data.school_days)) for c in row}
    assert codes - {None} <= set(mark_codes("ru").values())


def test_header_is_frozen_with_the_pupil_columns_and_printed_landscape_on_a4() -> None:
    ws = written(sample_register(pupils=5)).worksheets[0]
    header = find_cell(ws, label("register.pupil", "kk")).row
    assert ws.freeze_panes == f"D{header + 1}"
    assert ws.page_setup.orientation == "landscape"
    assert str(ws.page_setup.paperSize) == ws.PAPERSIZE_A4
    assert ws.print_title_rows == f"${header}:${header}"
    assert ws.print_title_cols == "$A:$C"


def test_duplicate_or_invalid_class_names_still_get_distinct_valid_sheet_titles() -> None:
    base = sample_register(pupils=4, class_size=2)
    pupils = base.classes[0].pupils
    classes = (ClassSheet("5/А", pupils), ClassSheet("5/а", pupils), ClassSheet("x" * 40, pupils))
    data = MealRegister(base.school, base.month, base.school_days, classes, base.generated_at)
    names = written(data).sheetnames
    assert len({n.lower() for n in names}) == 3
    assert all(len(n) <= 31 and "/" not in n for n in names)


def test_a_pupil_without_marks_counts_zero_everywhere() -> None:
    base = sample_register(pupils=1)
    data = MealRegister(base.school, base.month, base.school_days,
                        (ClassSheet("1А", (PupilRow("c1", "Бос Бала", {}),)),), base.generated_at)
    wb = written(data)
    ev = Evaluator(wb)
    ws = wb["1А"]
    total_col = FIRST_DAY_COL + len(data.school_days)
    assert [ev.value("1А", f"{get_column_letter(total_col + k)}6") for k in range(5)] == [0] * 5
    assert ws.cell(6, 2).value == "Бос Бала"
