"""LibreOffice recalculates every exported formula; its values must equal the data.

openpyxl stores formulas without cached values, so this is the check that a real
spreadsheet program computes the totals the ledger says. CI installs the Debian package
``libreoffice-calc-nogui`` (apt-get install -y --no-install-recommends libreoffice-calc-nogui).
"""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from exports import write_report
from exports.labels import label
from exports.samples import (sample_attendance, sample_free_meals, sample_register,
                             sample_savings, sample_statement)
from exports.verify import Evaluator, find_cell, formula_cells

SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")
pytestmark = pytest.mark.skipif(
    SOFFICE is None, reason="LibreOffice not installed: apt-get install libreoffice-calc-nogui")
CONVERT_TIMEOUT_S = 240
CSV_FILTER = 'csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,false,false'

REPORTS: dict[str, tuple[Any, str]] = {
    "statement": (sample_statement(), "kk"),
    "register": (sample_register(pupils=75), "ru"),
    "free-meals": (sample_free_meals(), "kk"),
    "attendance": (sample_attendance(pupils=15), "ru"),
    "savings": (sample_savings(schools=20, months=3), "kk"),
}


def soffice(src: list[Path], out_dir: Path, target: str, profile: Path) -> None:
    assert SOFFICE is not None
    cmd = [SOFFICE, f"-env:UserInstallation={profile.as_uri()}", "--headless", "--norestore",
           "--convert-to", target, "--outdir", str(out_dir), *map(str, src)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=CONVERT_TIMEOUT_S)
    missing = [p for p in src if not (out_dir / (p.stem + "." + target.split(":")[0])).exists()]
    assert done.returncode == 0 and not missing, f"soffice failed: {done.stdout}{done.stderr}"


@pytest.fixture(scope="module")
def recalculated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    """name -> (file written by us, the same file recalculated and saved by LibreOffice)."""
    base = tmp_path_factory.mktemp("lo")
    src_dir, out_dir = base / "src", base / "out"
    src_dir.mkdir()
    out_dir.mkdir()
    for name, (data, lang) in REPORTS.items():
        write_report(data, src_dir / f"{name}.xlsx", lang=lang)  # type: ignore[arg-type]
    files = sorted(src_dir.iterdir())
    soffice(files, out_dir, "xlsx", base / "profile")
    return {p.stem: (p, out_dir / p.name) for p in files}


@pytest.mark.parametrize("name", REPORTS)
def test_libreoffice_computes_every_formula_to_the_same_value_as_the_data(
        recalculated: dict[str, tuple[Path, Path]], name: str) -> None:
    ours_path, lo_path = recalculated[name]
    ours = load_workbook(ours_path)
    lo = load_workbook(lo_path, data_only=True)
    ev = Evaluator(ours)
    checked = 0
    for sheet, coord, formula in formula_cells(ours):
        got = lo[sheet][coord].value
        assert got == pytest.approx(ev.value(sheet, coord), abs=1e-9), (sheet, coord, formula)
        checked += 1
    assert checked > 0


def test_libreoffice_statement_totals_equal_the_ledger_figures(
        recalculated: dict[str, tuple[Path, Path]]) -> None:
    data, lang = REPORTS["statement"]
    ws = load_workbook(recalculated["statement"][1], data_only=True).active
    at = {key: ws[f"F{find_cell(ws, label(key, lang)).row}"].value
          for key in ("total", "statement.adj_total", "statement.outstanding")}
    assert at == {"total": data.total_kzt, "statement.adj_total": data.adjustments_kzt,
                  "statement.outstanding": data.outstanding_kzt}


def test_libreoffice_savings_totals_and_percent_equal_the_ledger_figures(
        recalculated: dict[str, tuple[Path, Path]]) -> None:
    data, lang = REPORTS["savings"]
    ws = load_workbook(recalculated["savings"][1], data_only=True)[label("savings.sheet", lang)]
    row = find_cell(ws, label("total", lang)).row
    planned = sum(s.planned_kzt for s in data.schools)
    saving = sum(s.saving_kzt for s in data.schools)
    assert (ws[f"E{row}"].value, ws[f"G{row}"].value) == (planned, saving)
    assert ws[f"H{row}"].value == pytest.approx(saving / planned)


def test_libreoffice_register_day_totals_equal_the_marks(
        recalculated: dict[str, tuple[Path, Path]]) -> None:
    data, lang = REPORTS["register"]
    wb = load_workbook(recalculated["register"][1], data_only=True)
    for sheet in data.classes:
        ws = wb[sheet.class_name]
        funded = sum(list(p.marks.values()).count("funded") for p in sheet.pupils)
        row = find_cell(ws, label("register.per_day", lang, what=f"{label('code.funded', lang)}"
                                  f" ({label('mark.funded', lang)})")).row
        assert ws.cell(row, 4 + len(data.school_days)).value == funded


def test_libreoffice_csv_export_of_the_statement_shows_the_computed_totals(
        tmp_path: Path) -> None:
    data, lang = REPORTS["statement"]
    src = tmp_path / "statement.xlsx"
    write_report(data, src, lang=lang)  # type: ignore[arg-type]
    soffice([src], tmp_path / "csv", CSV_FILTER, tmp_path / "profile")
    text = (tmp_path / "csv" / "statement.csv").read_text(encoding="utf-8")
    rows = {r[0]: r for r in csv.reader(io.StringIO(text)) if r and r[0]}
    assert int(rows[label("total", lang)][5]) == data.total_kzt
    assert int(rows[label("statement.outstanding", lang)][5]) == data.outstanding_kzt
