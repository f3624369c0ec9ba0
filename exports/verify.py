"""Recompute an exported workbook's formulas without a spreadsheet application.

openpyxl stores formulas without values; ``Evaluator`` computes the small formula language
the writers emit (SUM, SUMIF, COUNTIF, IF, + - * /, comparisons, cell and range references
with optional 'Sheet'! prefix) so tests, and the filing endpoint if it wants, can check
that a file's totals equal the ledger's figures. Anything else raises ``FormulaError``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from openpyxl.utils import range_boundaries
from openpyxl.workbook import Workbook

_TOKEN = re.compile(r"""
    \s*(?:
      (?P<str>"(?:[^"]|"")*")
    | (?P<ref>(?:'(?:[^']|'')+'!|[A-Za-z0-9_]+!)?\$?[A-Z]{1,3}\$?\d+(?::\$?[A-Z]{1,3}\$?\d+)?)
    | (?P<func>[A-Z][A-Z0-9.]*)\(
    | (?P<num>\d+(?:\.\d+)?)
    | (?P<op><=|>=|<>|[-+*/(),<>=])
    )""", re.VERBOSE)
_CELLS_PER_RANGE_MAX = 1_000_000


class FormulaError(ValueError):
    """A formula outside the supported subset, or a reference cycle."""


def _tokens(formula: str) -> list[tuple[str, str]]:
    out, pos, text = [], 0, formula.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise FormulaError(f"cannot parse {formula!r} at {text[pos:pos + 12]!r}")
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


class Evaluator:
    """``Evaluator(load_workbook(path)).value("Акт", "F42")`` -> the computed number."""

    def __init__(self, wb: Workbook) -> None:
        self.wb = wb
        self._cache: dict[tuple[str, str], Any] = {}
        self._busy: set[tuple[str, str]] = set()

    def value(self, sheet: str, coord: str) -> Any:
        key = (sheet, coord.replace("$", ""))
        if key in self._cache:
            return self._cache[key]
        if key in self._busy:
            raise FormulaError(f"reference cycle at {sheet}!{coord}")
        cell = self.wb[sheet][key[1]]
        raw = cell.value
        if cell.data_type == "f" and isinstance(raw, str):
            self._busy.add(key)
            try:
                raw = _Parser(self, sheet, _tokens(raw[1:])).parse()
            finally:
                self._busy.discard(key)
        self._cache[key] = raw
        return raw

    def range_values(self, sheet: str, ref: str) -> list[Any]:
        min_col, min_row, max_col, max_row = range_boundaries(ref.replace("$", ""))
        assert min_col and min_row and max_col and max_row
        if (max_col - min_col + 1) * (max_row - min_row + 1) > _CELLS_PER_RANGE_MAX:
            raise FormulaError(f"range {ref} is larger than {_CELLS_PER_RANGE_MAX} cells")
        ws = self.wb[sheet]
        out = []
        for row in range(min_row, max_row + 1):
            for col in range(min_col, max_col + 1):
                out.append(self.value(sheet, ws.cell(row, col).coordinate))
        return out


def _num(v: Any) -> int | float:
    if v is None or v == "":
        return 0
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise FormulaError(f"arithmetic on non-number {v!r}")
    return v


def _matches(v: Any, crit: Any) -> bool:
    if isinstance(crit, str):
        return isinstance(v, str) and v.casefold() == crit.casefold()
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v == crit


def _numbers(values: list[Any]) -> Iterator[int | float]:
    return (v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool))


class _Parser:
    def __init__(self, ev: Evaluator, sheet: str, tokens: list[tuple[str, str]]) -> None:
        self.ev, self.sheet, self.toks, self.i = ev, sheet, tokens, 0

    def parse(self) -> Any:
        value = self.compare()
        if self.i != len(self.toks):
            raise FormulaError(f"unexpected {self.toks[self.i][1]!r}")
        return value

    def peek(self) -> str | None:
        return self.toks[self.i][1] if self.i < len(self.toks) else None

    def take(self, expected: str | None = None) -> tuple[str, str]:
        if self.i >= len(self.toks):
            raise FormulaError("formula ends too early")
        tok = self.toks[self.i]
        if expected is not None and tok[1] != expected:
            raise FormulaError(f"expected {expected!r}, got {tok[1]!r}")
        self.i += 1
        return tok

    def compare(self) -> Any:
        left = self.additive()
        if self.peek() in ("<", ">", "<=", ">=", "=", "<>"):
            op = self.take()[1]
            a, b = _num(left), _num(self.additive())
            return {"<": a < b, ">": a > b, "<=": a <= b, ">=": a >= b, "=": a == b,
                    "<>": a != b}[op]
        return left

    def additive(self) -> Any:
        value = self.term()
        while self.peek() in ("+", "-"):
            op, rhs = self.take()[1], self.term()
            value = _num(value) + _num(rhs) if op == "+" else _num(value) - _num(rhs)
        return value

    def term(self) -> Any:
        value = self.unary()
        while self.peek() in ("*", "/"):
            op, rhs = self.take()[1], _num(self.unary())
            if op == "/" and rhs == 0:
                raise FormulaError("#DIV/0!")
            value = _num(value) * rhs if op == "*" else _num(value) / rhs
        return value

    def unary(self) -> Any:
        if self.peek() == "-":
            self.take()
            return -_num(self.unary())
        return self.primary()

    def primary(self) -> Any:
        kind, text = self.take()
        if kind == "num":
            return float(text) if "." in text else int(text)
        if kind == "str":
            return text[1:-1].replace('""', '"')
        if kind == "ref":
            sheet, ref = self._split(text)
            return self.ev.range_values(sheet, ref) if ":" in ref else self.ev.value(sheet, ref)
        if kind == "func":
            return self.call(text)
        if text == "(":
            value = self.compare()
            self.take(")")
            return value
        raise FormulaError(f"unexpected {text!r}")

    def _split(self, text: str) -> tuple[str, str]:
        if "!" not in text:
            return self.sheet, text
        sheet, ref = text.rsplit("!", 1)
        if sheet.startswith("'"):
            sheet = sheet[1:-1].replace("''", "'")
        return sheet, ref

    def args(self) -> list[Any]:
        out = []
        if self.peek() != ")":
            out.append(self.compare())
            while self.peek() == ",":
                self.take()
                out.append(self.compare())
        self.take(")")
        return out

    def call(self, name: str) -> Any:
        if name == "IF":  # evaluate only the chosen branch, as spreadsheets do
            cond = self.compare()
            self.take(",")
            if cond:
                value = self.compare()
                self.take(",")
                self._skip_arg()
            else:
                self._skip_arg()
                self.take(",")
                value = self.compare()
            self.take(")")
            return value
        a = self.args()
        if name == "SUM":
            return sum(sum(_numbers(x)) if isinstance(x, list) else _num(x) for x in a)
        if name == "COUNTIF" and len(a) == 2:
            return sum(1 for v in a[0] if _matches(v, a[1]))
        if name == "SUMIF" and len(a) == 3:
            return sum(_num(s) for v, s in zip(a[0], a[2], strict=True) if _matches(v, a[1]))
        raise FormulaError(f"unsupported function {name} with {len(a)} arguments")

    def _skip_arg(self) -> None:
        depth = 0
        while self.i < len(self.toks):
            text = self.toks[self.i][1]
            if depth == 0 and text in (",", ")"):
                return None
            if self.toks[self.i][0] == "func" or text == "(":
                depth += 1
            elif text == ")":
                depth -= 1
            self.i += 1
        raise FormulaError("IF without closing parenthesis")


def find_cell(ws: Any, text: str, column: str | None = None) -> Any:
    """The first cell (row by row, only in ``column`` if given) whose value equals ``text``."""
    rows = ws.iter_rows() if column is None else ws[f"{column}1:{column}{ws.max_row}"]
    for row in rows:
        for cell in row:
            if cell.value == text:
                return cell
    raise KeyError(f"no cell with {text!r} on sheet {ws.title!r}")


def formula_cells(wb: Workbook) -> Iterator[tuple[str, str, str]]:
    """(sheet title, coordinate, formula) of every formula in the workbook."""
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                if cell.data_type == "f" and isinstance(cell.value, str):
                    yield ws.title, cell.coordinate, cell.value
