"""Properties: whatever the statement data, the file's totals equal the data's sums."""

from __future__ import annotations

import io
from datetime import date

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from exports import write_regional_savings, write_statement
from exports.labels import label
from exports.model import (BANDS, Adjustment, RegionalSavings, RegionRef, SchoolSaving,
                           StatementRow, TenantStatement)
from exports.samples import GENERATED_AT, SCHOOL
from exports.verify import Evaluator, find_cell

DAYS = [date(2025, 9, d) for d in range(1, 31)]
TEXT = st.text(max_size=40)


@st.composite
def statement_rows(draw: st.DrawFn) -> StatementRow:
    meals = draw(st.integers(0, 2_000))
    rate = draw(st.integers(0, 5_000))
    return StatementRow(draw(st.sampled_from(DAYS)), draw(st.sampled_from(BANDS)), draw(TEXT),
                        meals, rate, meals * rate)


adjustments = st.builds(Adjustment, original_ref=TEXT, original_day=st.sampled_from(DAYS),
                        description=TEXT, amount_kzt=st.integers(-10**7, 10**7),
                        from_month=st.sampled_from(["2025-07", "2025-08"]))

statements = st.builds(
    TenantStatement, school=st.just(SCHOOL), month=st.just("2025-09"), operator_name=TEXT,
    rows=st.lists(statement_rows(), max_size=60).map(tuple),
    paid_kzt=st.integers(0, 10**9), closed=st.booleans(), position=st.integers(0, 10**9),
    chain_head=st.text("0123456789abcdef", min_size=64, max_size=64),
    generated_at=st.just(GENERATED_AT), adjustments=st.lists(adjustments, max_size=8).map(tuple))

SETTINGS = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def value_of(ev: Evaluator, ws: object, text: str) -> object:
    return ev.value(ws.title, f"F{find_cell(ws, text, 'A').row}")  # type: ignore[attr-defined]


@SETTINGS
@given(statements, st.sampled_from(["kk", "ru"]))
def test_statement_totals_equal_the_sums_of_the_data(data: TenantStatement, lang: str) -> None:
    buf = io.BytesIO()
    write_statement(data, buf, lang=lang)  # type: ignore[arg-type]
    wb = load_workbook(io.BytesIO(buf.getvalue()))
    ws, ev = wb.active, Evaluator(wb)
    assert value_of(ev, ws, label("total", lang)) == sum(r.amount_kzt for r in data.rows)  # type: ignore[arg-type]
    assert value_of(ev, ws, label("statement.adj_total", lang)) == data.adjustments_kzt  # type: ignore[arg-type]
    assert value_of(ev, ws, label("statement.outstanding", lang)) == data.outstanding_kzt  # type: ignore[arg-type]
    for band in {r.band for r in data.rows}:
        what = label(f"band.{band}", lang)  # type: ignore[arg-type]
        cell = find_cell(ws, label("total_for", lang, what=what), "B")  # type: ignore[arg-type]
        assert ev.value(ws.title, f"F{cell.row}") == sum(r.amount_kzt for r in data.rows
                                                         if r.band == band)
    texts = {c.value for row in ws.iter_rows() for c in row if isinstance(c.value, str)}
    for r in data.rows:  # free text is kept as text (never a formula), minus XML-illegal chars
        clean = ILLEGAL_CHARACTERS_RE.sub("", r.funding_source)
        assert clean == "" or clean in texts


@st.composite
def school_savings(draw: st.DrawFn, i: int) -> SchoolSaving:
    planned = draw(st.integers(0, 10**9))
    actual = draw(st.integers(0, 10**9))
    district = draw(st.sampled_from(["A", "B*", "=", ">5"]))  # no criteria semantics
    return SchoolSaving(f"S{i}", draw(TEXT), district, planned, actual, planned - actual)


@SETTINGS
@given(st.integers(0, 20).flatmap(lambda n: st.tuples(*(school_savings(i) for i in range(n)))))
def test_savings_totals_and_percent_equal_the_data(schools: tuple[SchoolSaving, ...]) -> None:
    data = RegionalSavings(RegionRef("R", "Region"), ("2025-09",), schools, GENERATED_AT)
    buf = io.BytesIO()
    write_regional_savings(data, buf)
    wb = load_workbook(io.BytesIO(buf.getvalue()))
    ev, sheet = Evaluator(wb), label("savings.sheet", "kk")
    row = find_cell(wb[sheet], label("total", "kk"), "B").row
    planned = sum(s.planned_kzt for s in schools)
    assert ev.value(sheet, f"E{row}") == planned
    assert ev.value(sheet, f"G{row}") == sum(s.saving_kzt for s in schools)
    want = sum(s.saving_kzt for s in schools) / planned if planned else 0
    assert ev.value(sheet, f"H{row}") == want
    d_sheet = label("savings.districts_sheet", "kk")
    d_row = find_cell(wb[d_sheet], label("total", "kk"), "A").row
    assert ev.value(d_sheet, f"B{d_row}") == planned
