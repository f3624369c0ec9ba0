"""The formula evaluator used to check exported totals without a spreadsheet program."""

from __future__ import annotations

import pytest
from openpyxl import Workbook

from exports.verify import Evaluator, FormulaError


def book(**cells: object) -> Workbook:
    wb = Workbook()
    ws = wb.active
    ws.title = "Үнем'ы"
    for coord, value in cells.items():
        ws[coord] = value
    other = wb.create_sheet("B")
    other["A1"] = "='Үнем''ы'!A1*2"
    return wb


def test_sum_sumif_countif_and_arithmetic_are_computed() -> None:
    wb = book(A1=10, A2=20, A3="x", B1="п", B2="П", B3="н", C1="=SUM(A1:A3)+1",
              C2='=SUMIF(B1:B3,"п",A1:A3)', C3='=COUNTIF(B1:B3,"Н")', C4="=(A2-A1)/4*-2")
    ev = Evaluator(wb)
    assert [ev.value(wb.active.title, c) for c in ("C1", "C2", "C3", "C4")] == [31, 30, 1, -5]
    assert ev.value("B", "A1") == 20


def test_if_evaluates_only_the_branch_it_takes() -> None:
    wb = book(A1=0, A2=5, C1="=IF(A1>0,A2/A1,0)", C2="=IF(A2>0,A2/A2,A2/A1)")
    ev = Evaluator(wb)
    assert ev.value(wb.active.title, "C1") == 0
    assert ev.value(wb.active.title, "C2") == 1


def test_unsupported_functions_and_cycles_raise_formula_error() -> None:
    wb = book(A1="=VLOOKUP(1,A5:A5,1)", A2="=A3", A3="=A2", A4="=A5/0", A5=1)
    ev = Evaluator(wb)
    with pytest.raises(FormulaError, match="VLOOKUP"):
        ev.value(wb.active.title, "A1")
    with pytest.raises(FormulaError, match="cycle"):
        ev.value(wb.active.title, "A2")
    with pytest.raises(FormulaError, match="DIV/0"):
        ev.value(wb.active.title, "A4")
