"""Tenant statement (акт) for the canteen operator: one school, one month."""

from __future__ import annotations

from typing import Any


from . import _xlsx as x
from ._csv import csv_writer
from .labels import Lang, check_lang, label, month_name
from .model import BANDS, TenantStatement

_WIDTHS = (13, 30, 30, 14, 14, 18)
_HEADER_ROW = 8
_BAND_ORDER = {b: i for i, b in enumerate(BANDS)}


def write_statement(data: TenantStatement, out: x.Out, *, lang: Lang = "kk") -> None:
    """Write the statement as xlsx: daily rows, band totals (SUMIF), adjustments, amount
    paid and outstanding (formulas), signatures and the event-log footer."""
    lang = check_lang(lang)
    wb = x.new_workbook(data.generated_at)
    ws = x.add_sheet(wb, label("statement.sheet", lang), _WIDTHS, landscape=False,
                     header_row=_HEADER_ROW)
    x.set_footer(ws, lang, data.position, data.chain_head)
    rows = x.Rows(ws)
    _write_heading(rows, data, lang)
    first, last = _write_days(rows, data, lang)
    total_row = _write_band_totals(rows, data, lang, first, last)
    adj_total_row = _write_adjustments(rows, data, lang)
    _write_balance(rows, data, lang, total_row, adj_total_row)
    _write_signatures(rows, data, lang)
    rows.blank()
    for line in x.stamp_line(lang, data.generated_at, data.position, data.chain_head):
        rows.add([x.styled(ws, line, font=x.SMALL)])
    x.save(wb, out, data.generated_at)


def _write_heading(rows: x.Rows, data: TenantStatement, lang: Lang) -> None:
    ws, s = rows.ws, data.school
    status = label("statement.closed" if data.closed else "statement.open", lang)
    rows.add([x.styled(ws, label("statement.title", lang), font=x.TITLE_FONT)])
    rows.add([label("school", lang), f"{s.name} ({s.id})"])
    rows.add([label("region", lang), s.region, label("district", lang), s.district])
    rows.add([label("period", lang), month_name(data.month, lang)])
    rows.add([label("statement.operator", lang), data.operator_name])
    rows.add([label("statement.status", lang), x.styled(ws, status, font=x.BOLD)])
    rows.blank()
    assert rows.row + 1 == _HEADER_ROW
    rows.add(x.header_cells(ws, [label("date", lang), label("band", lang),
                                 label("statement.funding", lang), label("statement.meals", lang),
                                 label("statement.rate", lang), label("amount", lang)]))


def _write_days(rows: x.Rows, data: TenantStatement, lang: Lang) -> tuple[int, int]:
    ws = rows.ws
    ordered = sorted(data.rows, key=lambda r: (r.day, _BAND_ORDER[r.band], r.funding_source))
    first = rows.row + 1
    for r in ordered:
        rows.add([x.day_cell(ws, r.day), label(f"band.{r.band}", lang), r.funding_source,
                  x.integer(ws, r.meals), x.money(ws, r.rate_kzt), x.money(ws, r.amount_kzt)])
    return first, rows.row


def _write_band_totals(rows: x.Rows, data: TenantStatement, lang: Lang,
                       first: int, last: int) -> int:
    """Per-band SUMIF lines then the grand total; returns the grand total's row."""
    ws = rows.ws
    rows.blank()
    present = sorted({r.band for r in data.rows}, key=_BAND_ORDER.__getitem__)
    for band in present:
        name = label(f"band.{band}", lang)
        crit = f'"{name}"'
        meals = x.Formula(f"=SUMIF(B{first}:B{last},{crit},D{first}:D{last})")
        amount = x.Formula(f"=SUMIF(B{first}:B{last},{crit},F{first}:F{last})")
        rows.add([None, label("total_for", lang, what=name), None,
                  x.integer(ws, meals), None, x.money(ws, amount)])
    fill = x.TOTAL_FILL
    return rows.add([
        x.styled(ws, label("total", lang), font=x.BOLD, fill=fill), None, None,
        x.styled(ws, x.col_sum("D", first, last), fmt=x.INTEGER, font=x.BOLD, fill=fill), None,
        x.styled(ws, x.col_sum("F", first, last), fmt=x.MONEY, font=x.BOLD, fill=fill)])


def _write_adjustments(rows: x.Rows, data: TenantStatement, lang: Lang) -> int:
    ws = rows.ws
    rows.blank()
    rows.add([x.styled(ws, label("statement.adjustments", lang), font=x.BOLD)])
    rows.add(x.header_cells(ws, [label("statement.adj_day", lang), label("statement.adj_ref", lang),
                                 label("statement.adj_desc", lang),
                                 label("statement.adj_month", lang), None, label("amount", lang)]))
    first = rows.row + 1
    for a in sorted(data.adjustments, key=lambda a: (a.original_day, a.original_ref)):
        rows.add([x.day_cell(ws, a.original_day), a.original_ref, a.description, a.from_month,
                  None, x.money(ws, a.amount_kzt)])
    last = rows.row
    return rows.add([x.styled(ws, label("statement.adj_total", lang), font=x.BOLD), None, None,
                     None, None, x.money(ws, x.col_sum("F", first, last), bold=True)])


def _write_balance(rows: x.Rows, data: TenantStatement, lang: Lang,
                   total_row: int, adj_total_row: int) -> None:
    ws = rows.ws
    rows.blank()
    accrued = rows.add([x.styled(ws, label("statement.accrued", lang), font=x.BOLD), None, None,
                        None, None, x.money(ws, x.Formula(f"=F{total_row}+F{adj_total_row}"), bold=True)])
    paid = rows.add([label("statement.paid", lang), None, None, None, None,
                     x.money(ws, data.paid_kzt)])
    rows.add([x.styled(ws, label("statement.outstanding", lang), font=x.BOLD), None, None, None,
              None, x.money(ws, x.Formula(f"=F{accrued}-F{paid}"), bold=True)])


def _write_signatures(rows: x.Rows, data: TenantStatement, lang: Lang) -> None:
    ws, sig = rows.ws, data.signatories
    rows.blank()
    rows.add([x.styled(ws, label("statement.signatures", lang), font=x.BOLD)])
    people = (("statement.director", sig.director), ("statement.accountant", sig.accountant),
              ("statement.operator", sig.operator))
    for key, name in people:
        rows.blank()
        rows.add([label(key, lang), None, "______________________",
                  f"/ {name} /" if name else "/ ______________________ /"])
        rows.add([None, None, x.styled(ws, label("statement.sign", lang), font=x.SMALL),
                  x.styled(ws, label("statement.name", lang), font=x.SMALL)])
    rows.add([label("statement.stamp", lang)])


def write_statement_csv(data: TenantStatement, out: x.Out, *, lang: Lang = "kk",
                        delimiter: str = ",") -> None:
    """Daily rows then adjustments as one table (section column), UTF-8 with BOM."""
    lang = check_lang(lang)
    with csv_writer(out, delimiter) as w:
        w.writerow([label("statement.sheet", lang), label("date", lang), label("band", lang),
                    label("statement.funding", lang), label("statement.meals", lang),
                    label("statement.rate", lang), label("amount", lang),
                    label("statement.adj_ref", lang), label("statement.adj_desc", lang),
                    label("statement.adj_month", lang)])
        for r in sorted(data.rows, key=lambda r: (r.day, _BAND_ORDER[r.band], r.funding_source)):
            w.writerow(["", r.day.isoformat(), label(f"band.{r.band}", lang), r.funding_source,
                        r.meals, r.rate_kzt, r.amount_kzt, "", "", ""])
        section = label("statement.adjustments", lang)
        for a in sorted(data.adjustments, key=lambda a: (a.original_day, a.original_ref)):
            w.writerow([section, a.original_day.isoformat(), "", "", "", "", a.amount_kzt,
                        a.original_ref, a.description, a.from_month])
        _summary(w, data, lang)


def _summary(w: Any, data: TenantStatement, lang: Lang) -> None:
    blank = [""] * 6
    w.writerow([label("total", lang), *blank[:5], data.total_kzt, "", "", ""])
    w.writerow([label("statement.adj_total", lang), *blank[:5], data.adjustments_kzt, "", "", ""])
    w.writerow([label("statement.paid", lang), *blank[:5], data.paid_kzt, "", "", ""])
    w.writerow([label("statement.outstanding", lang), *blank[:5], data.outstanding_kzt,
                "", "", ""])

