"""Regional savings (жоспар / факт / үнем): per school planned, actual, saving, percent.

Sheet 1: schools by district with totals and a bar chart of planned vs actual.
Sheet 2: districts, each a SUMIF over sheet 1. Sheet 3 (when monthly rows are given):
school-months. Percent is always a formula (saving / planned). No child data.
"""

from __future__ import annotations

from openpyxl.cell import Cell
from openpyxl.chart import BarChart, Reference, Series
from openpyxl.workbook import Workbook
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from . import _xlsx as x
from ._csv import csv_writer
from .labels import Lang, check_lang, label, month_name
from .model import RegionalSavings, SchoolSaving

_HEADER_ROW = 5
_CHART_ROWS_PER_SCHOOL_CM = 0.55


def _period(data: RegionalSavings, lang: Lang) -> str:
    months = sorted(data.months)
    if len(months) == 1:
        return month_name(months[0], lang)
    return f"{month_name(months[0], lang)} — {month_name(months[-1], lang)}"


def _ordered(data: RegionalSavings) -> list[SchoolSaving]:
    return sorted(data.schools, key=lambda s: (s.district, s.school_name, s.school_id))


def _percent(ws: WriteOnlyWorksheet, saving: str, planned: str) -> Cell:
    return x.styled(ws, x.Formula(f"=IF({planned}>0,{saving}/{planned},0)"), fmt=x.PERCENT)


def write_regional_savings(data: RegionalSavings, out: x.Out, *, lang: Lang = "kk") -> None:
    lang = check_lang(lang)
    wb = x.new_workbook(data.generated_at)
    schools_title, blocks = _write_schools(wb, data, lang)
    _write_districts(wb, data, lang, schools_title, blocks)
    if data.monthly:
        _write_monthly(wb, data, lang)
    x.save(wb, out, data.generated_at)


def _heading(rows: x.Rows, data: RegionalSavings, lang: Lang) -> None:
    ws = rows.ws
    rows.add([x.styled(ws, label("savings.title", lang), font=x.TITLE_FONT)])
    rows.add([label("region", lang), f"{data.region.name} ({data.region.id})"])
    rows.add([label("period", lang), _period(data, lang)])
    rows.blank()


Blocks = dict[str, tuple[int, int]]  # district -> its first and last row on the schools sheet


def _write_schools(wb: Workbook, data: RegionalSavings, lang: Lang) -> tuple[str, Blocks]:
    """Schools sorted by district, so each district is one contiguous block of rows."""
    title = label("savings.sheet", lang)
    ws = x.add_sheet(wb, title, (5, 22, 34, 14, 18, 18, 18, 11), landscape=True,
                     header_row=_HEADER_ROW, freeze_col=4)
    x.set_footer(ws, lang, data.position, data.chain_head)
    rows = x.Rows(ws)
    _heading(rows, data, lang)
    rows.add(x.header_cells(ws, [label("no", lang), label("district", lang), label("school", lang),
                                 label("savings.school_id", lang), label("savings.planned", lang),
                                 label("savings.actual", lang), label("savings.saving", lang),
                                 label("savings.percent", lang)]))
    first = rows.row + 1
    blocks: Blocks = {}
    for idx, s in enumerate(_ordered(data), 1):
        r = rows.row + 1
        blocks[s.district] = (blocks.get(s.district, (r, r))[0], r)
        rows.add([idx, s.district, s.school_name, s.school_id, x.money(ws, s.planned_kzt),
                  x.money(ws, s.actual_kzt), x.money(ws, s.saving_kzt),
                  _percent(ws, f"G{r}", f"E{r}")])
    last = rows.row
    t = rows.row + 1
    rows.add([None, x.styled(ws, label("total", lang), font=x.BOLD, fill=x.TOTAL_FILL), None, None,
              *(x.money(ws, x.col_sum(c, first, last), bold=True) for c in "EFG"),
              _percent(ws, f"G{t}", f"E{t}")])
    rows.blank()
    for line in x.stamp_line(lang, data.generated_at, data.position, data.chain_head):
        rows.add([x.styled(ws, line, font=x.SMALL)])
    if last >= first:
        ws.add_chart(_chart(ws, lang, first, last), "J5")
    return title, blocks


def _chart(ws: WriteOnlyWorksheet, lang: Lang, first: int, last: int) -> BarChart:
    """Horizontal clustered bars, planned and actual per school (names on the axis)."""
    chart = BarChart()
    chart.type = "bar"
    chart.grouping = "clustered"
    chart.title = label("savings.chart", lang)
    chart.y_axis.title = "₸"
    chart.y_axis.numFmt = "#,##0"
    chart.y_axis.delete = False
    chart.x_axis.delete = False
    chart.legend.position = "b"
    for col, key in ((5, "savings.planned_short"), (6, "savings.actual_short")):
        values = Reference(ws, min_col=col, min_row=first, max_row=last)
        chart.series.append(Series(values, title=label(key, lang)))
    chart.set_categories(Reference(ws, min_col=3, min_row=first, max_row=last))
    chart.width = 24
    chart.height = max(9.0, 2.5 + _CHART_ROWS_PER_SCHOOL_CM * (last - first + 1))
    return chart


def _write_districts(wb: Workbook, data: RegionalSavings, lang: Lang, schools_title: str,
                     blocks: Blocks) -> None:
    """Each district sums its block on the schools sheet: plain SUMs over a range, no
    SUMIF, whose criteria would read a district name like ">5" or "A*" as a pattern."""
    ws = x.add_sheet(wb, label("savings.districts_sheet", lang), (28, 18, 18, 18, 11),
                     landscape=False, header_row=_HEADER_ROW)
    x.set_footer(ws, lang, data.position, data.chain_head)
    rows = x.Rows(ws)
    _heading(rows, data, lang)
    rows.add(x.header_cells(ws, [label("district", lang), label("savings.planned", lang),
                                 label("savings.actual", lang), label("savings.saving", lang),
                                 label("savings.percent", lang)]))
    src = x.quote_sheet(schools_title)
    d_first = rows.row + 1
    for district, (a, b) in blocks.items():
        r = rows.row + 1
        sums = [x.money(ws, x.Formula(f"=SUM({src}!{c}{a}:{c}{b})")) for c in "EFG"]
        rows.add([district, *sums, _percent(ws, f"D{r}", f"B{r}")])
    d_last = rows.row
    t = rows.row + 1
    rows.add([x.styled(ws, label("total", lang), font=x.BOLD, fill=x.TOTAL_FILL),
              *(x.money(ws, x.col_sum(c, d_first, d_last), bold=True) for c in "BCD"),
              _percent(ws, f"D{t}", f"B{t}")])
    x.finish(ws)


def _write_monthly(wb: Workbook, data: RegionalSavings, lang: Lang) -> None:
    ws = x.add_sheet(wb, label("savings.monthly_sheet", lang), (10, 22, 34, 18, 18, 18, 11),
                     landscape=True, header_row=_HEADER_ROW, freeze_col=4)
    x.set_footer(ws, lang, data.position, data.chain_head)
    rows = x.Rows(ws)
    _heading(rows, data, lang)
    rows.add(x.header_cells(ws, [label("savings.month", lang), label("district", lang),
                                 label("school", lang), label("savings.planned", lang),
                                 label("savings.actual", lang), label("savings.saving", lang),
                                 label("savings.percent", lang)]))
    schools = {s.school_id: s for s in data.schools}
    first = rows.row + 1
    for m in sorted(data.monthly, key=lambda m: (m.month, schools[m.school_id].district,
                                                 schools[m.school_id].school_name, m.school_id)):
        s, r = schools[m.school_id], rows.row + 1
        rows.add([m.month, s.district, s.school_name, x.money(ws, m.planned_kzt),
                  x.money(ws, m.actual_kzt), x.money(ws, m.saving_kzt),
                  _percent(ws, f"F{r}", f"D{r}")])
    last = rows.row
    t = rows.row + 1
    rows.add([x.styled(ws, label("total", lang), font=x.BOLD, fill=x.TOTAL_FILL), None, None,
              *(x.money(ws, x.col_sum(c, first, last), bold=True) for c in "DEF"),
              _percent(ws, f"F{t}", f"D{t}")])


def write_regional_savings_csv(data: RegionalSavings, out: x.Out, *, lang: Lang = "kk",
                               delimiter: str = ",") -> None:
    """Per school; percent with one decimal, computed from the integers (display only)."""
    lang = check_lang(lang)
    with csv_writer(out, delimiter) as w:
        w.writerow([label("district", lang), label("school", lang), label("savings.school_id", lang),
                    label("savings.planned", lang), label("savings.actual", lang),
                    label("savings.saving", lang), label("savings.percent", lang)])
        for s in _ordered(data):
            w.writerow([s.district, s.school_name, s.school_id, s.planned_kzt, s.actual_kzt,
                        s.saving_kzt, _pct_text(s.saving_kzt, s.planned_kzt)])
        planned = sum(s.planned_kzt for s in data.schools)
        saving = sum(s.saving_kzt for s in data.schools)
        w.writerow([label("total", lang), "", "", planned,
                    sum(s.actual_kzt for s in data.schools), saving, _pct_text(saving, planned)])


def _pct_text(saving_kzt: int, planned_kzt: int) -> str:
    """Percent to one decimal, rounded half up in integer arithmetic (no float)."""
    if planned_kzt <= 0:
        return "0.0"
    tenths = (abs(saving_kzt) * 1000 * 2 + planned_kzt) // (2 * planned_kzt)
    sign = "-" if saving_kzt < 0 and tenths else ""
    return f"{sign}{tenths // 10}.{tenths % 10}"
