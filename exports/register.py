"""Electronic meal register (табель): one sheet per class, a mark per pupil per school day.

Marks are short letter codes (legend on every sheet); totals per pupil (columns) and per
day (rows) are COUNTIF formulas over the marks, so the sheet recounts itself.
"""

from __future__ import annotations

from openpyxl.utils import get_column_letter
from openpyxl.workbook import Workbook

from . import _xlsx as x
from ._csv import csv_writer
from .labels import Lang, check_lang, label, month_name
from .model import MARKS, ClassSheet, MealRegister

_HEADER_ROW = 5
_FIRST_DAY_COL = 4  # A: №, B: pupil, C: ID


def mark_codes(lang: Lang) -> dict[str, str]:
    """Mark -> the letter printed in a cell."""
    return {m: label(f"code.{m}", lang) for m in MARKS}


def write_meal_register(data: MealRegister, out: x.Out, *, lang: Lang = "kk") -> None:
    """Write the register as xlsx, streaming one class sheet at a time."""
    lang = check_lang(lang)
    wb = x.new_workbook(data.generated_at)
    taken: set[str] = set()
    for sheet in data.classes:
        _write_class(wb, x.sheet_title(sheet.class_name, taken), sheet, data, lang)
    if not data.classes:
        _write_class(wb, label("register.class", lang), ClassSheet("", ()), data, lang)
    x.save(wb, out, data.generated_at)


def _write_class(wb: Workbook, title: str, sheet: ClassSheet, data: MealRegister,
                 lang: Lang) -> None:
    days = data.school_days
    n_days = len(days)
    widths = [5, 32, 12] + [4.5] * n_days + [9] * len(MARKS)
    ws = x.add_sheet(wb, title, widths, landscape=True, header_row=_HEADER_ROW,
                     freeze_col=_FIRST_DAY_COL)
    x.set_footer(ws, lang, data.position, data.chain_head)
    rows = x.Rows(ws)
    codes = mark_codes(lang)
    s = data.school
    rows.add([x.styled(ws, f"{label('register.title', lang)} — {label('register.class', lang)} "
                           f"{sheet.class_name}", font=x.TITLE_FONT)])
    rows.add([label("school", lang), f"{s.name} ({s.id})", None,
              label("period", lang) + ": " + month_name(data.month, lang)])
    legend = "; ".join(f"{codes[m]} — {label(f'mark.{m}', lang)}" for m in MARKS)
    rows.add([label("register.legend", lang), legend])
    rows.blank()
    day_cells = [x.styled(ws, d, fmt=x.DAY_OF_MONTH, font=x.BOLD, fill=x.HEADER_FILL,
                          align=x.CENTER, border=x.BOX) for d in days]
    rows.add([*x.header_cells(ws, [label("no", lang), label("register.pupil", lang),
                                   label("register.child_id", lang)]),
              *day_cells,
              *x.header_cells(ws, [codes[m] for m in MARKS])])
    first_col = get_column_letter(_FIRST_DAY_COL)
    last_col = get_column_letter(_FIRST_DAY_COL + n_days - 1)
    first = rows.row + 1
    for idx, pupil in enumerate(sheet.pupils, 1):
        r = rows.row + 1
        cells = [codes[pupil.marks[d]] if d in pupil.marks else None for d in days]
        totals = [x.Formula(f'=COUNTIF({first_col}{r}:{last_col}{r},"{codes[m]}")') if n_days else 0
                  for m in MARKS]
        rows.add([idx, pupil.display_name, pupil.child_id, *cells, *totals])
    _write_day_totals(rows, codes, lang, n_days, first, rows.row)
    x.finish(ws)


def _write_day_totals(rows: x.Rows, codes: dict[str, str], lang: Lang, n_days: int,
                      first: int, last: int) -> None:
    """One row per mark: COUNTIF down each day column; its own total column sums the row."""
    ws = rows.ws
    rows.blank()
    for k, mark in enumerate(MARKS):
        per_day: list[object] = []
        for c in range(_FIRST_DAY_COL, _FIRST_DAY_COL + n_days):
            col = get_column_letter(c)
            per_day.append(
                x.Formula(f'=COUNTIF({col}{first}:{col}{last},"{codes[mark]}")') if last >= first else 0)
        r = rows.row + 1
        own_total: list[object] = [None] * len(MARKS)
        if n_days:
            a, b = get_column_letter(_FIRST_DAY_COL), get_column_letter(_FIRST_DAY_COL + n_days - 1)
            own_total[k] = x.styled(ws, x.Formula(f"=SUM({a}{r}:{b}{r})"), font=x.BOLD, fill=x.TOTAL_FILL)
        else:
            own_total[k] = 0
        name = label("register.per_day", lang, what=f"{codes[mark]} ({label(f'mark.{mark}', lang)})")
        rows.add([None, x.styled(ws, name, font=x.BOLD), None, *per_day, *own_total])


def write_meal_register_csv(data: MealRegister, out: x.Out, *, lang: Lang = "kk",
                            delimiter: str = ",") -> None:
    """All classes in one table: class, pupil, ID, a code per school day, counts per mark."""
    lang = check_lang(lang)
    codes = mark_codes(lang)
    with csv_writer(out, delimiter) as w:
        w.writerow([label("register.class", lang), label("no", lang), label("register.pupil", lang),
                    label("register.child_id", lang), *(d.isoformat() for d in data.school_days),
                    *(codes[m] for m in MARKS)])
        for sheet in data.classes:
            for idx, pupil in enumerate(sheet.pupils, 1):
                marks = [pupil.marks.get(d) for d in data.school_days]
                w.writerow([sheet.class_name, idx, pupil.display_name, pupil.child_id,
                            *(codes[m] if m else "" for m in marks),
                            *(sum(1 for v in marks if v == m) for m in MARKS)])
