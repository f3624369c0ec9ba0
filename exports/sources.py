"""Fill the export models from the read models (and, for names the school may see, from the
ledger's decrypted personal data). Every figure comes from the same query functions the API
answers with; a file names the log position and chain head it was computed from."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime
from typing import Any

from ledger.base import stable_id
from ledger.child import Child
from ledger.mapper import decode_stored
from ledger.school import Menu
from ledger.sqldb import Cursor
from projections import reports as r
from projections.lists import on_day
from projections.queries import tracked_position
from projections.views import SOURCES

from . import model as m

KINDS = ("tenant-statement", "meal-register", "free-meals", "attendance")
EPOCH = datetime(2020, 1, 1, tzinfo=UTC)


class Source:
    """What the builders need: a read cursor, the ledger (names, menus), the chain head."""

    def __init__(self, cur: Cursor, ledger: Any, chain_head_at: Any) -> None:
        self.cur, self.ledger, self.chain_head_at = cur, ledger, chain_head_at
        self.position = tracked_position(cur, "meals")

    @property
    def chain_head(self) -> str:
        return self.chain_head_at(self.position) or ""

    @property
    def generated_at(self) -> datetime:
        """The recorded time of the last event the report stands on: same data, same bytes."""
        if self.position <= 0:
            return EPOCH
        notes = self.ledger.recorder.select_notifications(start=self.position, limit=1)
        if not notes:
            return EPOCH
        return decode_stored(notes[0].topic, notes[0].state).timestamp  # type: ignore[no-any-return]

    def school(self, school_id: str) -> m.SchoolRef:
        row = self.cur.fetchone("SELECT s.name, s.district, coalesce(g.name, s.region_id)"
                                " FROM pm_school s LEFT JOIN pm_region g ON g.region_id ="
                                " s.region_id WHERE s.school_id = ?", (school_id,))
        name, district, region = row if row else (school_id, "", "")
        return m.SchoolRef(school_id, name, region, district)

    def operator(self, school_id: str) -> str:
        row = self.cur.fetchone("SELECT operator FROM pm_school WHERE school_id = ?", (school_id,))
        return str(row[0]) if row and row[0] else ""

    def school_days(self, school_id: str, month: str) -> tuple[date, ...]:
        row = self.cur.fetchone("SELECT days FROM pm_calendar WHERE school_id = ? AND month = ?",
                                (school_id, month))
        return tuple(sorted(date.fromisoformat(d) for d in row[0].split(",") if d)) if row else ()


def tenant_statement(src: Source, school_id: str, month: str) -> m.TenantStatement:
    s = r.tenant_statement(src.cur, school_id, month)
    rows = tuple(m.StatementRow(date.fromisoformat(x.day), x.band, x.funding_source,  # type: ignore[arg-type]
                                x.meals, x.rate_kzt, x.amount_kzt) for x in s.lines)
    adjustments = tuple(m.Adjustment(a.event_id or a.meal_id, date.fromisoformat(a.day),
                                     a.description, a.amount_kzt, a.day[:7])
                        for a in s.adjustments)
    return m.TenantStatement(src.school(school_id), month, src.operator(school_id), rows,
                             s.paid_kzt, s.closed, s.position, src.chain_head_at(s.position) or "",
                             src.generated_at, adjustments)


def _name(ledger: Any, child_id: str) -> str:
    child = ledger.load(Child, stable_id("child", child_id))
    if child is None:
        return child_id
    data = ledger.personal_data(child)
    return f"{data.last_name} {data.first_name}"


def meal_register(src: Source, school_id: str, month: str) -> m.MealRegister:
    days = src.school_days(school_id, month)
    cur = src.cur
    pupils = cur.fetchall("SELECT DISTINCT child_id, class_name FROM pm_child_month"
                          " WHERE school_id = ? AND month = ? ORDER BY class_name, child_id",
                          (school_id, month))
    marks: dict[str, dict[date, str]] = defaultdict(dict)
    entered = {(c, d) for c, d in cur.fetchall(
        "SELECT person_id, day FROM pm_pass WHERE school_id = ? AND day LIKE ? AND"
        " direction = 'in' AND person_kind = 'pupil'", (school_id, f"{month}-%"))}
    for child, day in cur.fetchall("SELECT child_id, day FROM pm_refusal WHERE school_id = ? AND"
                                   " day LIKE ? AND kind = 'meal' AND child_id IS NOT NULL",
                                   (school_id, f"{month}-%")):
        marks[child][date.fromisoformat(day)] = "refused"
    for child, day, funding in cur.fetchall(
            "SELECT child_id, day, funding FROM pm_meal WHERE school_id = ? AND month = ? AND"
            " voided_position IS NULL ORDER BY position", (school_id, month)):
        if marks[child].get(date.fromisoformat(day)) != "funded":
            marks[child][date.fromisoformat(day)] = funding
    classes: dict[str, list[m.PupilRow]] = defaultdict(list)
    for child, class_name in pupils:
        own = {d: mark for d, mark in marks.get(child, {}).items() if d in days}
        for day in days:
            if day not in own and (child, day.isoformat()) not in entered:
                own[day] = "absent"
        classes[class_name].append(m.PupilRow(child, _name(src.ledger, child), own))  # type: ignore[arg-type]
    return m.MealRegister(src.school(school_id), month, days,
                          tuple(m.ClassSheet(c, tuple(p)) for c, p in sorted(classes.items())),
                          src.generated_at, src.position, src.chain_head)


def free_meals(src: Source, school_id: str, month: str) -> m.FreeMealsReport:
    rows = src.cur.fetchall(
        "SELECT m.band, coalesce(d.categories, ''), m.child_id, m.funded_kzt FROM pm_meal m"
        f" LEFT JOIN pm_child_month d ON d.child_id = m.child_id AND {on_day('d', 'm.day')}"
        " WHERE m.school_id = ? AND m.month = ? AND m.funding = 'funded' AND"
        " m.voided_position IS NULL", (school_id, month))
    groups: dict[tuple[str, str], list[Any]] = defaultdict(lambda: [set(), 0, 0])
    for band, categories, child, amount in rows:
        category = "universal" if band == "primary" or not categories else categories.split(",")[0]
        group = groups[(band, category)]
        group[0].add(child)
        group[1] += 1
        group[2] += int(amount)
    report_rows = tuple(m.FreeMealsRow(b, c, len(g[0]), g[1], g[2])  # type: ignore[arg-type]
                        for (b, c), g in sorted(groups.items()))
    dishes = []
    for day in src.school_days(school_id, month):
        menu = src.ledger.load(Menu, stable_id("menu", school_id, day.isoformat()))
        for item in (menu.items.values() if menu is not None else ()):
            dishes.append(m.Dish(day, item.name, item.price_kzt, item.free_meal))
    return m.FreeMealsReport(src.school(school_id), month, report_rows, tuple(dishes),
                             src.generated_at, src.position, src.chain_head)


def attendance(src: Source, school_id: str, month: str) -> m.AttendanceReport:
    rows = src.cur.fetchall(
        "SELECT p.day, p.person_kind, p.person_id, p.direction, p.at,"
        " coalesce(c.class_name, s.role, '') FROM pm_pass p"
        " LEFT JOIN pm_child c ON c.child_id = p.person_id AND p.person_kind = 'pupil'"
        " LEFT JOIN pm_staff s ON s.staff_id = p.person_id AND p.person_kind = 'staff'"
        " WHERE p.school_id = ? AND p.day LIKE ? ORDER BY p.at", (school_id, f"{month}-%"))
    people: dict[tuple[str, str, str], list[Any]] = {}
    for day, kind, person, direction, at, label in rows:
        entry = people.setdefault((day, kind, person), [label, None, None])
        instant = datetime.fromisoformat(at)
        if direction == "in" and entry[1] is None:
            entry[1] = instant
        if direction == "out":
            entry[2] = instant
    entries = tuple(m.AttendanceEntry(date.fromisoformat(d), k, p, v[0], v[1], v[2])  # type: ignore[arg-type]
                    for (d, k, p), v in sorted(people.items()))
    days = []
    for day in src.school_days(school_id, month):
        present = [e for e in entries if e.day == day and e.first_in is not None]
        days.append(m.AttendanceDay(day, sum(e.kind == "pupil" for e in present),
                                    sum(e.kind == "staff" for e in present)))
    return m.AttendanceReport(src.school(school_id), month, entries, tuple(days),
                              src.generated_at, src.position, src.chain_head)


def regional_savings(src: Source, region_id: str, months: list[str]) -> m.RegionalSavings:
    row = src.cur.fetchone("SELECT name FROM pm_region WHERE region_id = ?", (region_id,))
    monthly, totals = [], defaultdict(lambda: [0, 0])  # type: ignore[var-annotated]
    names: dict[str, tuple[str, str]] = {}
    for month in months:
        result = r.region_savings(src.cur, region_id, month)
        for s in result.schools:
            names[s.school_id] = (s.name, s.district)
            monthly.append(m.SchoolMonthSaving(s.school_id, month, s.planned_kzt, s.actual_kzt,
                                               s.saving_kzt))
            totals[s.school_id][0] += s.planned_kzt
            totals[s.school_id][1] += s.actual_kzt
    schools = tuple(m.SchoolSaving(sid, names[sid][0], names[sid][1], p, a, p - a)
                    for sid, (p, a) in totals.items())
    return m.RegionalSavings(m.RegionRef(region_id, row[0] if row else region_id), tuple(months),
                             schools, src.generated_at, tuple(monthly), src.position,
                             src.chain_head)


BUILDERS = {"tenant-statement": tenant_statement, "meal-register": meal_register,
            "free-meals": free_meals, "attendance": attendance}
_ = SOURCES
