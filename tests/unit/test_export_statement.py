"""The tenant statement (акт) read back with openpyxl and checked against its data."""

from __future__ import annotations

import io
from collections import Counter
from dataclasses import dataclass
from datetime import datetime

import pytest
from openpyxl import load_workbook
from openpyxl.worksheet.worksheet import Worksheet

from exports import write_statement
from exports._xlsx import DATE, MONEY
from exports.labels import label
from exports.model import TenantStatement
from exports.samples import sample_statement
from exports.verify import Evaluator, find_cell


@dataclass
class Written:
    ws: Worksheet
    ev: Evaluator

    def value_right_of(self, text: str, col: str = "F") -> object:
        row = find_cell(self.ws, text).row
        return self.ev.value(self.ws.title, f"{col}{row}")

    def formula_right_of(self, text: str, col: str = "F") -> str:
        return str(self.ws[f"{col}{find_cell(self.ws, text).row}"].value)


def written(data: TenantStatement, lang: str = "kk") -> Written:
    buf = io.BytesIO()
    write_statement(data, buf, lang=lang)  # type: ignore[arg-type]
    buf.seek(0)
    wb = load_workbook(buf)
    return Written(wb.active, Evaluator(wb))


def test_grand_total_is_a_sum_formula_equal_to_the_sum_of_row_amounts() -> None:
    data = sample_statement()
    w = written(data)
    first = find_cell(w.ws, label("date", "kk")).row + 1
    last = first + len(data.rows) - 1
    assert w.formula_right_of(label("total", "kk")) == f"=SUM(F{first}:F{last})"
    assert w.value_right_of(label("total", "kk")) == data.total_kzt
    assert w.value_right_of(label("total", "kk"), "D") == sum(r.meals for r in data.rows)


def test_every_day_row_is_written_with_its_date_meals_rate_and_amount() -> None:
    data = sample_statement(seed=3)
    w = written(data)
    first = find_cell(w.ws, label("date", "kk")).row + 1
    got = [tuple(c.value for c in row) for row in
           w.ws.iter_rows(min_row=first, max_row=first + len(data.rows) - 1)]
    want = sorted((datetime(r.day.year, r.day.month, r.day.day), label(f"band.{r.band}", "kk"),
                   r.funding_source, r.meals, r.rate_kzt, r.amount_kzt) for r in data.rows)
    assert sorted(got) == want


def test_band_totals_are_sumif_formulas_equal_to_each_bands_amount() -> None:
    data = sample_statement(seed=1)
    w = written(data)
    by_band = Counter[str]()
    for r in data.rows:
        by_band[r.band] += r.amount_kzt
    for band, amount in by_band.items():
        text = label("total_for", "kk", what=label(f"band.{band}", "kk"))
        assert w.formula_right_of(text).startswith("=SUMIF(")
        assert w.value_right_of(text) == amount


def test_adjustments_paid_and_outstanding_follow_from_the_data() -> None:
    data = sample_statement()
    w = written(data)
    assert w.value_right_of(label("statement.adj_total", "kk")) == data.adjustments_kzt
    assert w.value_right_of(label("statement.accrued", "kk")) == \
        data.total_kzt + data.adjustments_kzt
    assert w.value_right_of(label("statement.paid", "kk")) == data.paid_kzt
    assert w.formula_right_of(label("statement.outstanding", "kk")).startswith("=F")
    assert w.value_right_of(label("statement.outstanding", "kk")) == data.outstanding_kzt


def test_money_cells_are_numbers_in_tenge_format_and_dates_are_dates() -> None:
    w = written(sample_statement())
    first = find_cell(w.ws, label("date", "kk")).row + 1
    row = list(w.ws.iter_rows(min_row=first, max_row=first))[0]
    assert isinstance(row[0].value, datetime) and row[0].number_format == DATE
    for cell in (row[4], row[5]):
        assert isinstance(cell.value, int) and cell.number_format == MONEY
    total = w.ws[f"F{find_cell(w.ws, label('total', 'kk')).row}"]
    assert total.number_format == MONEY


def test_header_row_is_frozen_and_the_page_is_a4_fit_to_width_with_print_titles() -> None:
    w = written(sample_statement())
    header = find_cell(w.ws, label("date", "kk")).row
    assert w.ws.freeze_panes == f"A{header + 1}"
    assert str(w.ws.page_setup.paperSize) == w.ws.PAPERSIZE_A4
    assert w.ws.page_setup.fitToWidth == 1 and w.ws.page_setup.fitToHeight == 0
    assert w.ws.sheet_properties.pageSetUpPr.fitToPage is True
    assert w.ws.print_title_rows == f"${header}:${header}"
    assert all((w.ws.column_dimensions[c].width or 0) >= 10 for c in "ABCDEF")


def test_headers_are_kazakh_by_default_and_russian_on_request() -> None:
    data = sample_statement()
    kk, ru = written(data), written(data, "ru")
    assert find_cell(kk.ws, "Сомасы, ₸") and find_cell(kk.ws, "Төленуге тиіс қалдық")
    assert find_cell(ru.ws, "Сумма, ₸") and find_cell(ru.ws, "Остаток к оплате")
    with pytest.raises(KeyError):
        find_cell(ru.ws, "Сомасы, ₸")
    assert ru.value_right_of("Итого") == data.total_kzt


def test_signatures_block_names_the_director_accountant_and_operator() -> None:
    data = sample_statement()
    w = written(data)
    sig = data.signatories
    block = find_cell(w.ws, label("statement.signatures", "kk")).row
    rows = {r[0].value: r[3].value for r in w.ws.iter_rows(min_row=block)}
    for key, name in (("statement.director", sig.director), ("statement.accountant",
                      sig.accountant), ("statement.operator", sig.operator)):
        assert rows[label(key, "kk")] == f"/ {name} /"
    assert label("statement.stamp", "kk") in rows


def test_footer_prints_the_event_log_position_and_chain_head() -> None:
    data = sample_statement()
    w = written(data)
    assert f"{data.position}" in w.ws.oddFooter.left.text
    assert data.chain_head in w.ws.oddFooter.left.text
    find_cell(w.ws, f"{label('chain_head', 'kk')}: {data.chain_head}")


def test_a_statement_without_meals_or_adjustments_totals_zero() -> None:
    data = sample_statement()
    empty = TenantStatement(school=data.school, month=data.month, operator_name="X", rows=(),
                            paid_kzt=0, closed=False, position=0, chain_head="",
                            generated_at=data.generated_at)
    w = written(empty)
    assert w.value_right_of(label("total", "kk")) == 0
    assert w.value_right_of(label("statement.outstanding", "kk")) == 0
    find_cell(w.ws, label("statement.open", "kk"))
