"""Monthly attendance report (order No. 456, point 33-1 item 12): pupils and staff.

Sheet 1: counts per day with SUM totals. Sheet 2: every person-day with the first entry
and last exit, in Kazakhstan time (UTC+5), streamed in the order given.
"""

from __future__ import annotations

from openpyxl.workbook import Workbook

from . import _xlsx as x
from ._csv import csv_writer
from .labels import Lang, check_lang, label, month_name
from .model import AttendanceReport

_HEADER_ROW = 5


def write_attendance(data: AttendanceReport, out: x.Out, *, lang: Lang = "kk") -> None:
    lang = check_lang(lang)
    wb = x.new_workbook(data.generated_at)
    _write_days(wb, data, lang)
    _write_entries(wb, data, lang)
    x.save(wb, out, data.generated_at)


def _heading(rows: x.Rows, data: AttendanceReport, lang: Lang) -> None:
    ws, s = rows.ws, data.school
    rows.add([x.styled(ws, label("attendance.title", lang), font=x.TITLE_FONT)])
    rows.add([label("school", lang), f"{s.name} ({s.id})", label("district", lang), s.district])
    rows.add([label("period", lang), month_name(data.month, lang),
              label("attendance.time_zone", lang)])
    rows.blank()


def _write_days(wb: Workbook, data: AttendanceReport, lang: Lang) -> None:
    ws = x.add_sheet(wb, label("attendance.days_sheet", lang), (14, 22, 22),
                     landscape=False, header_row=_HEADER_ROW)
    x.set_footer(ws, lang, data.position, data.chain_head)
    rows = x.Rows(ws)
    _heading(rows, data, lang)
    rows.add(x.header_cells(ws, [label("date", lang), label("attendance.pupils_present", lang),
                                 label("attendance.staff_present", lang)]))
    first = rows.row + 1
    for d in sorted(data.days, key=lambda d: d.day):
        rows.add([x.day_cell(ws, d.day), x.integer(ws, d.pupils_present),
                  x.integer(ws, d.staff_present)])
    last = rows.row
    rows.add([x.styled(ws, label("total", lang), font=x.BOLD, fill=x.TOTAL_FILL),
              x.integer(ws, x.col_sum("B", first, last), bold=True),
              x.integer(ws, x.col_sum("C", first, last), bold=True)])
    rows.blank()
    for line in x.stamp_line(lang, data.generated_at, data.position, data.chain_head):
        rows.add([x.styled(ws, line, font=x.SMALL)])


def _write_entries(wb: Workbook, data: AttendanceReport, lang: Lang) -> None:
    ws = x.add_sheet(wb, label("attendance.entries_sheet", lang), (13, 14, 14, 34, 18, 18),
                     landscape=False, header_row=_HEADER_ROW)
    x.set_footer(ws, lang, data.position, data.chain_head)
    rows = x.Rows(ws)
    _heading(rows, data, lang)
    rows.add(x.header_cells(ws, [label("date", lang), label("attendance.kind", lang),
                                 label("attendance.person_id", lang),
                                 label("attendance.person", lang),
                                 label("attendance.first_in", lang),
                                 label("attendance.last_out", lang)]))
    kinds = {k: label(f"kind.{k}", lang) for k in ("pupil", "staff")}
    for e in data.entries:
        first_in, last_out = x.local_time(e.first_in), x.local_time(e.last_out)
        rows.add([x.day_cell(ws, e.day), kinds[e.kind], e.person_id, e.label,
                  x.styled(ws, first_in, fmt=x.TIME) if first_in else None,
                  x.styled(ws, last_out, fmt=x.TIME) if last_out else None])


def write_attendance_csv(data: AttendanceReport, out: x.Out, *, lang: Lang = "kk",
                         delimiter: str = ",") -> None:
    """Person-days with local (UTC+5) ISO times; the daily counts are in the xlsx."""
    lang = check_lang(lang)
    kinds = {k: label(f"kind.{k}", lang) for k in ("pupil", "staff")}
    with csv_writer(out, delimiter) as w:
        w.writerow([label("date", lang), label("attendance.kind", lang),
                    label("attendance.person_id", lang), label("attendance.person", lang),
                    label("attendance.first_in", lang), label("attendance.last_out", lang)])
        for e in data.entries:
            times = [t.astimezone(x.KZ_TIME).isoformat() if t else ""
                     for t in (e.first_in, e.last_out)]
            w.writerow([e.day.isoformat(), kinds[e.kind], e.person_id, e.label, *times])
