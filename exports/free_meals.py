"""Monthly free and discounted meals report (order No. 456, point 33-1 item 9).

Sheet 1: pupils, meals and amount by band and social category, band subtotals (SUMIF)
and a grand total (SUM). Sheet 2: the menu: dishes with dates and prices.
Only counts leave the school: no child is named.
"""

from __future__ import annotations

from openpyxl.workbook import Workbook

from . import _xlsx as x
from ._csv import csv_writer
from .labels import Lang, category_label, check_lang, label, month_name
from .model import BANDS, FreeMealsReport, FreeMealsRow

_HEADER_ROW = 5
_BAND_ORDER = {b: i for i, b in enumerate(BANDS)}


def _ordered(rows: tuple[FreeMealsRow, ...]) -> list[FreeMealsRow]:
    return sorted(rows, key=lambda r: (_BAND_ORDER[r.band], r.category != "universal", r.category))


def write_free_meals(data: FreeMealsReport, out: x.Out, *, lang: Lang = "kk") -> None:
    lang = check_lang(lang)
    wb = x.new_workbook(data.generated_at)
    _write_summary(wb, data, lang)
    _write_dishes(wb, data, lang)
    x.save(wb, out, data.generated_at)


def _heading(rows: x.Rows, data: FreeMealsReport, lang: Lang) -> None:
    ws, s = rows.ws, data.school
    rows.add([x.styled(ws, label("free.title", lang), font=x.TITLE_FONT)])
    rows.add([label("school", lang), f"{s.name} ({s.id})", label("district", lang), s.district])
    rows.add([label("period", lang), month_name(data.month, lang), label("region", lang), s.region])
    rows.blank()


def _write_summary(wb: Workbook, data: FreeMealsReport, lang: Lang) -> None:
    ws = x.add_sheet(wb, label("free.sheet", lang), (30, 34, 16, 16, 18),
                     landscape=False, header_row=_HEADER_ROW)
    x.set_footer(ws, lang, data.position, data.chain_head)
    rows = x.Rows(ws)
    _heading(rows, data, lang)
    rows.add(x.header_cells(ws, [label("band", lang), label("free.category", lang),
                                 label("free.pupils", lang), label("free.meals", lang),
                                 label("amount", lang)]))
    first = rows.row + 1
    for r in _ordered(data.rows):
        rows.add([label(f"band.{r.band}", lang), category_label(r.category, lang),
                  x.integer(ws, r.pupils), x.integer(ws, r.meals), x.money(ws, r.amount_kzt)])
    last = rows.row
    rows.blank()
    for band in sorted({r.band for r in data.rows}, key=_BAND_ORDER.__getitem__):
        name = label(f"band.{band}", lang)
        cells = [x.integer(ws, x.Formula(
            f'=SUMIF(A{first}:A{last},"{name}",{c}{first}:{c}{last})'))
                 for c in ("C", "D")]
        amount = x.money(ws, x.Formula(f'=SUMIF(A{first}:A{last},"{name}",E{first}:E{last})'))
        rows.add([None, label("total_for", lang, what=name), *cells, amount])
    rows.add([x.styled(ws, label("total", lang), font=x.BOLD, fill=x.TOTAL_FILL), None,
              x.integer(ws, x.col_sum("C", first, last), bold=True),
              x.integer(ws, x.col_sum("D", first, last), bold=True),
              x.money(ws, x.col_sum("E", first, last), bold=True)])
    rows.blank()
    for line in x.stamp_line(lang, data.generated_at, data.position, data.chain_head):
        rows.add([x.styled(ws, line, font=x.SMALL)])


def _write_dishes(wb: Workbook, data: FreeMealsReport, lang: Lang) -> None:
    ws = x.add_sheet(wb, label("free.dishes_sheet", lang), (13, 44, 14, 16),
                     landscape=False, header_row=_HEADER_ROW)
    x.set_footer(ws, lang, data.position, data.chain_head)
    rows = x.Rows(ws)
    _heading(rows, data, lang)
    rows.add(x.header_cells(ws, [label("date", lang), label("free.dish", lang),
                                 label("free.price", lang), label("free.free_meal", lang)]))
    yes, no = label("yes_word", lang), label("no_word", lang)
    for d in sorted(data.dishes, key=lambda d: (d.day, not d.free_meal, d.name)):
        rows.add([x.day_cell(ws, d.day), d.name, x.money(ws, d.price_kzt),
                  x.styled(ws, yes if d.free_meal else no, align=x.CENTER)])


def write_free_meals_csv(data: FreeMealsReport, out: x.Out, *, lang: Lang = "kk",
                         delimiter: str = ",") -> None:
    """The by-band-and-category table (the menu goes in the xlsx only)."""
    lang = check_lang(lang)
    with csv_writer(out, delimiter) as w:
        w.writerow([label("band", lang), label("free.category", lang), label("free.pupils", lang),
                    label("free.meals", lang), label("amount", lang)])
        for r in _ordered(data.rows):
            w.writerow([label(f"band.{r.band}", lang), category_label(r.category, lang),
                        r.pupils, r.meals, r.amount_kzt])
        w.writerow([label("total", lang), "", sum(r.pupils for r in data.rows),
                    sum(r.meals for r in data.rows), sum(r.amount_kzt for r in data.rows)])
