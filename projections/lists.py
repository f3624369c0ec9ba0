"""Who is on the list and who is entitled, per child and school day, and the planned cost.

A child's day row is recomputed from the child's and the school's state whenever either
changes (a late voucher activation, a back-dated category, a new calendar or rate), and the
monthly plan is kept up to date by the difference between the old and the new rows."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

from ledger.base import projector, stable_id
from ledger.child import Child
from ledger.dates import band_of, month_of, school_year_of
from ledger.rules import entitled, on_list
from ledger.school import School
from ledger.sqldb import Cursor
from projections.runner import Projection

CHILD_DAY_COLUMNS = ("child_id, day, school_id, month, band, grade, class_name, categories, "
                     "on_list, entitled, home_schooled, voucher_assigned, voucher_active, rate_kzt")
_project_child = projector(Child)
_project_school = projector(School)


def child_day_row(child: Child, school: School, day: date) -> tuple[Any, ...] | None:
    placement = child.placement_on(day)
    if placement is None or placement.school_id != school.school_id:
        return None
    if not school.is_school_day(day):
        return None
    band = band_of(placement.grade)
    listed = on_list(child, school, day)
    year = school_year_of(day)
    assigned = any(v.school_year == year and v.revoked_on is None for v in child.vouchers.values())
    return (child.child_id, day.isoformat(), school.school_id, month_of(day), band,
            placement.grade, placement.class_name, ",".join(child.categories_on(day)),
            int(listed), int(listed and entitled(child, school, day)),
            int(child.home_schooled_on(day)), int(assigned),
            int(child.voucher_active_on(day, year)), school.rate_on(band, day) or 0)


def plan_delta(row: Sequence[Any], sign: int) -> tuple[tuple[str, str, str], list[int]]:
    on_list_, home, rate = row[8], row[10], row[13]
    return (row[2], row[3], row[4]), [sign * on_list_, sign * on_list_ * rate,
                                      sign * on_list_ * home, sign * on_list_ * home * rate]


class Lists(Projection):
    name, tables = "lists", "lists"

    def __init__(self, ledger: Any) -> None:
        self.ledger = ledger
        self.children: dict[str, Child] = {}
        self.schools: dict[str, School] = {}

    def forget(self) -> None:
        self.children.clear()
        self.schools.clear()

    def _load(self, cls: type, kind: str, ident: str, version: int) -> Any:
        if version <= 0:
            return None
        project = _project_child if cls is Child else _project_school
        return self.ledger.repository.get(stable_id(kind, ident), version=version,
                                          projector_func=project)

    def _school(self, cur: Cursor, school_id: str) -> School | None:
        school = self.schools.get(school_id)
        if school is None:
            row = cur.fetchone("SELECT version FROM pm_list_school WHERE school_id = ?", (school_id,))
            if row is None:
                return None
            school = self.schools[school_id] = self._load(School, "school", school_id, row[0])
        return school

    def _child(self, cur: Cursor, child_id: str) -> Child | None:
        child = self.children.get(child_id)
        if child is None:
            row = cur.fetchone("SELECT version FROM pm_child WHERE child_id = ?", (child_id,))
            if row is None:
                return None
            child = self.children[child_id] = self._load(Child, "child", child_id, row[0])
        return child

    def apply(self, cur: Cursor, batch: Sequence[tuple[int, Any]]) -> None:
        dirty_children: set[str] = set()
        dirty_schools: dict[str, set[str] | None] = {}
        school_ids = {str(stable_id("school", s)): s for s in self.schools}
        for _, e in batch:
            if isinstance(e, School.Registered):
                school = _project_school(None, [e])
                self.schools[e.school_id] = school
                school_ids[str(e.originator_id)] = e.school_id
                cur.execute("INSERT INTO pm_list_school (school_id, school_uuid, version) "
                            "VALUES (?, ?, ?)",
                            (e.school_id, str(e.originator_id), e.originator_version))
            elif type(e).__qualname__.startswith("School."):
                school_id = school_ids.get(str(e.originator_id)) or self._school_id(cur, e)
                school = self._school(cur, school_id)
                assert school is not None and school.version == e.originator_version - 1
                school.mutate(e)
                cur.execute("UPDATE pm_list_school SET version = ? WHERE school_id = ?",
                            (e.originator_version, school_id))
                months = {e.month} if isinstance(e, School.CalendarSet) else None
                previous = dirty_schools.get(school_id, set())
                dirty_schools[school_id] = (None if months is None or previous is None
                                            else previous | months)
            elif type(e).__qualname__.startswith("Child."):
                self._apply_child(cur, e)
                dirty_children.add(e.child_id if isinstance(e, Child.Enrolled)
                                   else self._child_id_of(e))
        for school_id, months in dirty_schools.items():
            dirty_children.update(self._recompute_school(cur, school_id, months))
        for child_id in dirty_children:
            self._recompute_child(cur, child_id, None)

    @staticmethod
    def _school_id(cur: Cursor, e: Any) -> str:
        row = cur.fetchone("SELECT school_id FROM pm_list_school WHERE school_uuid = ?",
                           (str(e.originator_id),))
        if row is None:
            raise LookupError(f"school {e.originator_id} unknown to the lists projection")
        return str(row[0])

    def _child_id_of(self, e: Any) -> str:
        for child_id, child in self.children.items():
            if child.id == e.originator_id:
                return child_id
        raise LookupError(f"child of event {e.originator_id} not loaded")

    def _apply_child(self, cur: Cursor, e: Any) -> None:
        if isinstance(e, Child.Enrolled):
            child = _project_child(None, [e])
            self.children[e.child_id] = child
            cur.execute("INSERT INTO pm_child (child_id, child_uuid, school_id, version, "
                        "class_name, grade, withdrawn, allergens) VALUES (?, ?, ?, ?, ?, ?, 0, '')",
                        (e.child_id, str(e.originator_id), e.placement.school_id,
                         e.originator_version,
                         e.placement.class_name, e.placement.grade))
            self._placed(cur, e.child_id, e.placement.school_id)
            return
        child = self._child_by_uuid(cur, e.originator_id)
        assert child.version == e.originator_version - 1, "lists projection out of step"
        child.mutate(e)
        if isinstance(e, Child.PlacementChanged):
            self._placed(cur, child.child_id, e.placement.school_id)
        current = child.current
        cur.execute("UPDATE pm_child SET version = ?, school_id = ?, class_name = ?, grade = ?, "
                    "withdrawn = ?, allergens = ? WHERE child_id = ?",
                    (child.version, current.school_id, current.class_name, current.grade,
                     int(child.withdrawn_on is not None), ",".join(child.allergens),
                     child.child_id))

    @staticmethod
    def _placed(cur: Cursor, child_id: str, school_id: str) -> None:
        cur.execute("INSERT INTO pm_child_placed (child_id, school_id) VALUES (?, ?) "
                    "ON CONFLICT (school_id, child_id) DO NOTHING", (child_id, school_id))

    def _child_by_uuid(self, cur: Cursor, uuid: Any) -> Child:
        for child in self.children.values():
            if child.id == uuid:
                return child
        row = cur.fetchone("SELECT child_id FROM pm_child WHERE child_uuid = ?", (str(uuid),))
        found = self._child(cur, row[0]) if row is not None else None
        if found is None:
            raise LookupError(f"child {uuid} unknown to the lists projection")
        return found

    def _recompute_school(self, cur: Cursor, school_id: str, months: set[str] | None
                          ) -> Iterable[str]:
        # every child ever placed there, not only its current pupils: a child who moved on
        # still has days at this school before the move
        rows = cur.fetchall("SELECT child_id FROM pm_child_placed WHERE school_id = ?",
                            (school_id,))
        for (child_id,) in rows:
            self._recompute_child(cur, child_id, months)
        return ()

    def _recompute_child(self, cur: Cursor, child_id: str, only_months: set[str] | None) -> None:
        child = self._child(cur, child_id)
        if child is None:
            return
        school_ids = {p.school_id for p in child.placements}
        new_rows: dict[str, tuple[Any, ...]] = {}
        for school_id in school_ids:
            school = self._school(cur, school_id)
            if school is None:
                continue
            for month, days in school.calendar.items():
                if only_months is not None and month not in only_months:
                    continue
                for day in days:
                    row = child_day_row(child, school, day)
                    if row is not None:
                        new_rows[row[1]] = row
        where, params = "child_id = ?", [child_id]
        if only_months is not None:
            marks = ",".join("?" * len(only_months))
            where += f" AND month IN ({marks})"
            params += sorted(only_months)
        old_rows = {r[1]: r for r in cur.fetchall(
            f"SELECT {CHILD_DAY_COLUMNS} FROM pm_child_day WHERE {where}", params)}
        deltas: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
        removed = [day for day in old_rows if day not in new_rows]
        changed = [row for day, row in new_rows.items() if old_rows.get(day) != row]
        for day in removed:
            _add(deltas, *plan_delta(old_rows[day], -1))
        for row in changed:
            if row[1] in old_rows:
                _add(deltas, *plan_delta(old_rows[row[1]], -1))
            _add(deltas, *plan_delta(row, +1))
        cur.executemany("DELETE FROM pm_child_day WHERE child_id = ? AND day = ?",
                        [(child_id, day) for day in removed]
                        + [(child_id, row[1]) for row in changed if row[1] in old_rows])
        cur.executemany(f"INSERT INTO pm_child_day ({CHILD_DAY_COLUMNS}) VALUES "
                        "(?,?,?,?,?,?,?,?,?,?,?,?,?,?)", changed)
        cur.executemany(
            "INSERT INTO pm_plan (school_id, month, band, list_days, planned_kzt, home_days,"
            " allowance_kzt) VALUES (?,?,?,?,?,?,?) ON CONFLICT (school_id, month, band) DO UPDATE"
            " SET list_days = pm_plan.list_days + excluded.list_days,"
            " planned_kzt = pm_plan.planned_kzt + excluded.planned_kzt,"
            " home_days = pm_plan.home_days + excluded.home_days,"
            " allowance_kzt = pm_plan.allowance_kzt + excluded.allowance_kzt",
            [(*key, *vals) for key, vals in deltas.items() if any(vals)])
        # a plan row back at zero is no row: otherwise live and rebuilt tables (and the bands
        # a savings report lists) depend on how the log was cut into batches
        cur.executemany(
            "DELETE FROM pm_plan WHERE school_id = ? AND month = ? AND band = ? AND"
            " list_days = 0 AND planned_kzt = 0 AND home_days = 0 AND allowance_kzt = 0",
            [key for key, vals in deltas.items() if any(vals)])


def _add(deltas: dict, key: tuple[str, str, str], values: list[int]) -> None:  # type: ignore[type-arg]
    row = deltas[key]
    for i, value in enumerate(values):
        row[i] += value
