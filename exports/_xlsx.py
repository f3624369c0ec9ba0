"""Shared workbook plumbing: streaming sheets, formats, print setup, deterministic save.

Every workbook is ``write_only`` (rows stream to temporary files, memory stays bounded by
one row plus the style table). Saving goes through a temporary zip that is then rewritten
entry by entry with fixed timestamps, so the same data gives the same bytes.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta, timezone
from typing import IO, Any, BinaryIO
from zipfile import ZIP_DEFLATED, ZipFile, ZipInfo

from openpyxl import Workbook
from openpyxl.cell import Cell, WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles.cell_style import StyleArray
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet
from openpyxl.worksheet.properties import PageSetupProperties
from openpyxl.worksheet.worksheet import Worksheet
from openpyxl.writer.excel import ExcelWriter

from .labels import Lang, label

Out = BinaryIO | IO[bytes] | str | os.PathLike[str]

MONEY = '#,##0 "₸"'
INTEGER = "#,##0"
DATE = "dd.mm.yyyy"
DAY_OF_MONTH = "dd"
TIME = "hh:mm"
PERCENT = "0.0%"
# Kazakhstan is UTC+5 all year since 2024-03-01; dates before that are not exported.
KZ_TIME = timezone(timedelta(hours=5))

TITLE_FONT = Font(bold=True, size=13)
BOLD = Font(bold=True)
SMALL = Font(size=8, italic=True)
HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
TOTAL_FILL = PatternFill("solid", fgColor="F2F2F2")
_THIN = Side(style="thin", color="808080")
BOX = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
WRAP = Alignment(wrap_text=True, vertical="center", horizontal="center")
CENTER = Alignment(horizontal="center")

_SHEET_NAME_BAD = str.maketrans({c: "_" for c in "[]:*?/\\"})
TEXT_CHARS_MAX = 32_767  # a spreadsheet cell holds no more


class Formula(str):
    """Text the writer means as a formula. Any other text is data, printed as typed even
    when it starts with '=' (a pupil named "=HYPERLINK(...)" must not become a formula)."""


def as_text(ws: WriteOnlyWorksheet, value: str) -> str | Cell:
    """Data text made safe for a cell: no XML-illegal characters, never a formula."""
    value = ILLEGAL_CHARACTERS_RE.sub("", value)[:TEXT_CHARS_MAX]
    if not value.startswith("="):
        return value
    cell = Cell(ws, row=1, column=1, value=value)
    cell.data_type = "s"
    return cell


def new_workbook(generated_at: datetime) -> Workbook:
    wb = Workbook(write_only=True)
    stamp = generated_at.astimezone(timezone.utc).replace(tzinfo=None, microsecond=0)
    wb.properties.created = stamp
    wb.properties.modified = stamp
    wb.properties.creator = "Tamaq Ledger"
    wb.properties.lastModifiedBy = "Tamaq Ledger"
    wb.calculation.fullCalcOnLoad = True  # no cached values: make every reader compute
    wb.properties.description = GENERATOR
    return wb


def _generator() -> str:
    """The library versions the bytes depend on (lxml or not changes the XML, zlib the
    deflate stream): an auditor reproducing a file byte for byte needs the same ones."""
    import zlib

    import openpyxl
    from openpyxl import LXML
    xml = "et_xmlfile"
    if LXML:
        from lxml import etree
        xml = "lxml " + ".".join(map(str, etree.LXML_VERSION[:3]))
    return f"Tamaq Ledger exports; openpyxl {openpyxl.__version__}; {xml}; zlib {zlib.ZLIB_VERSION}"


GENERATOR = _generator()


def sheet_title(name: str, taken: set[str]) -> str:
    """A valid (<= 31 chars, no []:*?/\\), unique (case-insensitive) sheet title."""
    base = (name.translate(_SHEET_NAME_BAD).strip("'") or "_")[:31]
    title, n = base, 1
    while title.lower() in taken:
        n += 1
        title = f"{base[:31 - len(str(n)) - 1]}~{n}"
    taken.add(title.lower())
    return title


def add_sheet(wb: Workbook, title: str, widths: Sequence[float], *, landscape: bool,
              header_row: int, freeze_col: int = 1) -> WriteOnlyWorksheet:
    """A streaming sheet with column widths, frozen header, A4 fit-to-width print setup."""
    ws: WriteOnlyWorksheet = wb.create_sheet(title)
    for idx, width in enumerate(widths, 1):
        ws.column_dimensions[get_column_letter(idx)].width = width
    ws.freeze_panes = f"{get_column_letter(freeze_col)}{header_row + 1}"
    ws.page_setup.paperSize = Worksheet.PAPERSIZE_A4
    ws.page_setup.orientation = "landscape" if landscape else "portrait"
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)
    ws.print_title_rows = f"{header_row}:{header_row}"
    if freeze_col > 1:
        ws.print_title_cols = f"A:{get_column_letter(freeze_col - 1)}"
    return ws


def finish(ws: WriteOnlyWorksheet) -> None:
    """Close a finished chart-less sheet now: its temporary file is closed instead of held
    open until save (a 1,000-class register would otherwise hold 1,000 open files)."""
    if not ws._charts:
        ws.close()


def set_footer(ws: WriteOnlyWorksheet, lang: Lang, position: int, chain_head: str) -> None:
    """Print the event-log position and chain head on every page (auditors reproduce it)."""
    ws.oddFooter.left.text = f"{label('position', lang)}: {position}; " \
                             f"{label('chain_head', lang)}: {chain_head}"[:200]
    ws.oddFooter.left.size = 7
    ws.oddFooter.right.text = label("page", lang)
    ws.oddFooter.right.size = 7


class Rows:
    """Appends rows to a streaming sheet and remembers the current row number."""

    def __init__(self, ws: WriteOnlyWorksheet) -> None:
        self.ws = ws
        self.row = 0

    def add(self, values: Iterable[Any] = ()) -> int:
        ws = self.ws
        self.ws.append([as_text(ws, v) if type(v) is str else v for v in values])
        self.row += 1
        return self.row

    def blank(self) -> int:
        return self.add(())


def styled(ws: WriteOnlyWorksheet, value: Any, *, fmt: str | None = None,
           font: Font | None = None, fill: PatternFill | None = None,
           align: Alignment | None = None, border: Border | None = None) -> Cell:
    """A cell with a style. Style objects must be this module's constants: the resolved
    style is cached per workbook by their identity, because resolving a style is most of
    the cost of a streamed row."""
    cache: dict[tuple[Any, ...], StyleArray] = ws.parent.__dict__.setdefault(
        "_tamaq_style_cache", {})
    key = (fmt, id(font), id(fill), id(align), id(border))
    style = cache.get(key)
    if style is None:
        proto = WriteOnlyCell(ws)
        if fmt is not None:
            proto.number_format = fmt
        if font is not None:
            proto.font = font
        if fill is not None:
            proto.fill = fill
        if align is not None:
            proto.alignment = align
        if border is not None:
            proto.border = border
        style = cache[key] = proto._style
    if type(value) is str:
        value = ILLEGAL_CHARACTERS_RE.sub("", value)[:TEXT_CHARS_MAX]
    cell = Cell(ws, row=1, column=1, value=value, style_array=style)
    if type(value) is str and value.startswith("="):
        cell.data_type = "s"
    return cell


def header_cells(ws: WriteOnlyWorksheet, titles: Iterable[Any]) -> list[Cell]:
    return [styled(ws, t, font=BOLD, fill=HEADER_FILL, align=WRAP, border=BOX) for t in titles]


def money(ws: WriteOnlyWorksheet, value: int | str, *, bold: bool = False) -> Cell:
    return styled(ws, value, fmt=MONEY, font=BOLD if bold else None)


def integer(ws: WriteOnlyWorksheet, value: int | str, *, bold: bool = False) -> Cell:
    return styled(ws, value, fmt=INTEGER, font=BOLD if bold else None)


def day_cell(ws: WriteOnlyWorksheet, value: date) -> Cell:
    return styled(ws, value, fmt=DATE)


def col_sum(col: str, first: int, last: int) -> str | int:
    """``=SUM(F9:F40)``, or 0 when the range is empty (an empty range is not valid)."""
    return Formula(f"=SUM({col}{first}:{col}{last})") if last >= first else 0


def quote_sheet(title: str) -> str:
    return "'" + title.replace("'", "''") + "'"


def local_time(instant: datetime | None) -> datetime | None:
    """A UTC instant as a naive Kazakhstan wall-clock time (Excel has no time zones)."""
    if instant is None:
        return None
    return instant.astimezone(KZ_TIME).replace(tzinfo=None)


def stamp_line(lang: Lang, generated_at: datetime, position: int, chain_head: str) -> list[str]:
    when = generated_at.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    return [f"{label('generated_at', lang)}: {when}",
            f"{label('position', lang)}: {position}",
            f"{label('chain_head', lang)}: {chain_head}"]


def save(wb: Workbook, out: Out, generated_at: datetime) -> None:
    """Write ``wb`` to ``out`` (path or binary stream), byte-identical for the same data.

    The zip is built in a temporary file, then copied entry by entry into a second
    temporary file with every timestamp set to ``generated_at`` and fixed attributes, and
    that file is copied to ``out``; ZipFile writes different headers to unseekable streams,
    so ``out`` never sees a ZipFile directly.
    """
    utc = generated_at.astimezone(timezone.utc)
    date_time = (max(utc.year, 1980), utc.month, utc.day, utc.hour, utc.minute, utc.second)
    with tempfile.TemporaryFile() as raw, tempfile.TemporaryFile() as final:
        ExcelWriter(wb, ZipFile(raw, "w", ZIP_DEFLATED, allowZip64=True)).save()
        raw.seek(0)
        with ZipFile(raw) as src, ZipFile(final, "w", ZIP_DEFLATED, allowZip64=True) as dst:
            for info in src.infolist():
                entry = ZipInfo(info.filename, date_time=date_time)
                entry.compress_type = ZIP_DEFLATED
                entry.create_system = 3
                entry.external_attr = 0o644 << 16
                with src.open(info) as s, dst.open(entry, "w", force_zip64=False) as d:
                    shutil.copyfileobj(s, d, 1 << 20)
        final.seek(0)
        copy_to(final, out)


def copy_to(src: IO[bytes], out: Out) -> None:
    if isinstance(out, (str, os.PathLike)):
        with open(out, "wb") as fh:
            shutil.copyfileobj(src, fh, 1 << 20)
    else:
        shutil.copyfileobj(src, out, 1 << 20)
