"""Who is on the list and who is entitled, per child and school day, and the planned cost.

A child's day rows are recomputed from the child's and the school's state whenever either
changes (a late voucher activation, a back-dated category, a new calendar or rate), and the
monthly plan is kept up to date by the difference between the old and the new rows. Each
difference is also logged at the position of the event that caused it (`pm_plan_log`), so the
plan as of any position is a sum (projections/history.py answers as-of savings from it).

Cost (measured in bench/projections_bench.py): within a page the touched children's rows
are held in memory, read from the store in bulk once and written once; within a month a
child's row is the same on every school day between two dates at which some state changes
(placements, categories, vouchers, home schooling, rates, eligibility), so the rules run once
per such stretch and the row is stamped for each day (`_month_rows`). The day rows are
stored as month rows (`pm_child_month`): a child's days of a month with the same row are one
row with the days as bits, so a month of 18-22 school days is one row a child, not 18-22
(`month_rows`, `day_rows`; SQL reads a day with `on_day`).
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any
from uuid import UUID

import msgspec

from ledger.base import projector, stable_id
from ledger.child import Child
from ledger.dates import band_of, month_of, school_year_of
from ledger.rules import entitled, on_list
from ledger.school import School
from ledger.sqldb import Cursor
from projections.eventlog import insert_rows, insert_rows_sharing_tails, upsert_rows
from projections.runner import Projection, keep_history, restart_history

# a day row (child_day_row), as the rules and the plan see it
CHILD_DAY_COLUMNS = ("child_id, day, school_id, month, band, grade, class_name, categories, "
                     "on_list, entitled, home_schooled, voucher_assigned, voucher_active, rate_kzt")
# a month row (pm_child_month): a child's day rows of a month that are the same but for the
# day, the days as bits; the columns after `days` and `day_count` are a day row's after `day`
# but for its month
CHILD_MONTH_COLUMNS = ("child_id, month, days, day_count, school_id, band, grade, class_name,"
                       " categories, on_list, entitled, home_schooled, voucher_assigned,"
                       " voucher_active, rate_kzt")
_MONTH_COLUMNS = tuple(c.strip() for c in CHILD_MONTH_COLUMNS.split(","))
IN_CHUNK_MAX = 500  # ids per `IN (...)`: well under SQLite's parameter limit
_project_child = projector(Child)
_project_school = projector(School)
_ONE_DAY = timedelta(days=1)
Months = set[str] | None  # None: every month


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
    return (child.child_id, _iso(day), school.school_id, month_of(day), band,
            placement.grade, placement.class_name, ",".join(child.categories_on(day)),
            int(listed), int(listed and entitled(child, school, day)),
            int(child.home_schooled_on(day)), int(assigned),
            int(child.voucher_active_on(day, year)), school.rate_on(band, day) or 0)


@lru_cache(maxsize=4096)
def _iso(day: date) -> str:
    return day.isoformat()


def day_bit(day: str) -> int:
    """The bit of a day (ISO date) in a month row's `days`: bit d-1 for day d."""
    return int(day[8:10]) - 1


def on_day(alias: str, day: str) -> str:
    """SQL: month row `alias` holds on `day`, an SQL expression of an ISO date (a column, or
    `?` bound twice: the day's month, then its `day_bit`)."""
    if day == "?":
        return f"{alias}.month = ? AND (({alias}.days >> CAST(? AS INTEGER)) & 1) = 1"
    return (f"{alias}.month = substr({day}, 1, 7) AND"
            f" (({alias}.days >> (CAST(substr({day}, 9, 2) AS INTEGER) - 1)) & 1) = 1")


def month_rows(child_id: str | None, rows: Iterable[tuple[Any, ...]]) -> set[tuple[Any, ...]]:
    """A child's day rows (`child_day_row`) as month rows (CHILD_MONTH_COLUMNS)."""
    masks: dict[tuple[Any, ...], int] = {}
    for row in rows:
        tail = row[2:]
        masks[tail] = masks.get(tail, 0) | 1 << day_bit(row[1])
    return {(child_id, tail[1], mask, mask.bit_count(), tail[0], *tail[2:])
            for tail, mask in masks.items()}


def day_rows(row: Sequence[Any]) -> Iterable[tuple[Any, ...]]:
    """A month row's day rows, in the order of their days."""
    child_id, month, days, _count, school_id, *rest = row
    for bit in range(days.bit_length()):
        if days >> bit & 1:
            yield (child_id, f"{month}-{bit + 1:02d}", school_id, month, *rest)


def child_days(cur: Cursor, where: str = "", params: Sequence[Any] = ()
               ) -> list[tuple[Any, ...]]:
    """Day rows (CHILD_DAY_COLUMNS) of the month rows `where` selects (`where` names
    pm_child_month's columns), by child and day."""
    rows = cur.fetchall(f"SELECT {CHILD_MONTH_COLUMNS} FROM pm_child_month"
                        f"{' WHERE ' + where if where else ''}", params)
    return sorted((day for row in rows for day in day_rows(row)), key=lambda r: (r[0], r[1]))


_NO_DATES = (str, int, bytes, UUID, type(None), datetime)  # instants never decide a day's row


def _dates(value: Any, found: set[date]) -> None:
    """Every date inside a piece of aggregate state (fields, lists, dicts, structs)."""
    if isinstance(value, _NO_DATES):
        return
    if isinstance(value, date):
        found.add(value)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            _dates(item, found)
    elif isinstance(value, dict):
        for item in value.values():
            _dates(item, found)
    elif isinstance(value, msgspec.Struct):
        for name in value.__struct_fields__:
            _dates(getattr(value, name), found)


def school_dates(school: School) -> set[date]:
    found: set[date] = set()
    _dates(school.rates, found)
    _dates(school.eligibility, found)
    return found


def change_days(child: Child, school_found: set[date]) -> list[date]:
    """Days on which a row may differ from the day before: every date in the child's state
    and in the school's rates and eligibility (`school_dates`), and the day after it (for
    `day <= until` rules). Month starts (school years start on 1 September) are handled by
    `_month_rows`. A rule that read another date would have to be reachable from these."""
    found: set[date] = set(school_found)
    for name, value in vars(child).items():
        if name not in ("personal", "_pending"):
            _dates(value, found)
    return sorted(found | {d + _ONE_DAY for d in found})


def _month_rows(child: Child, school: School, days: Iterable[date], breaks: list[date]
                ) -> Iterable[tuple[Any, ...]]:
    segment, template = -1, None
    for day in sorted(days):
        here = bisect_right(breaks, day)
        if here != segment:
            segment, template = here, child_day_row(child, school, day)
        if template is not None:
            yield (template[0], _iso(day), *template[2:])


# What of a child's state its day rows cannot depend on (`_profile` leaves it out): who the
# child is, how it is identified, what it may not eat. Everything else is in the profile, so
# a field added to Child later is in it too until it is named here.
_NOT_PROFILE = frozenset(("id", "version", "child_id", "personal", "request_hash",
                          "identifiers", "allergens", "_pending"))
_profile_encoder = msgspec.msgpack.Encoder()
PROFILES_MAX = 20_000


def _profile(child: Child) -> bytes:
    """The child's state as far as its day rows (`child_day_row`) and the days they may
    change on (`change_days`) read it: children of one profile at one school have the same
    rows but for the child's id, so a school's thousand pupils in a handful of grades and
    categories are worked out a handful of times (a catch-up spent half its time here)."""
    return _profile_encoder.encode(
        [(name, value) for name, value in vars(child).items() if name not in _NOT_PROFILE])


def _plan_key(row: Sequence[Any]) -> tuple[Any, ...]:
    """What of a day row the plan counts: school, month, band, on the list, at home, rate."""
    return row[2], row[3], row[4], row[8], row[10], row[13]


class Lists(Projection):
    name, tables = "lists", "lists"
    version = 2  # 2: month rows (pm_child_month) instead of a row per child and day

    def __init__(self, ledger: Any) -> None:
        self.ledger = ledger
        self.children: dict[str, Child] = {}
        self.schools: dict[str, School] = {}
        self.child_ids: dict[UUID, str] = {}
        self.school_ids: dict[UUID, str] = {}
        self._school_dates: dict[str, tuple[int, set[date]]] = {}
        # a month's day rows, but for the child's id, by school state and child profile
        self._tails: dict[tuple[str, int, str, bytes], _Tails] = {}

    def wants(self, cls: type) -> bool:
        return cls.__module__ in ("ledger.child", "ledger.school") and \
            cls.__qualname__.startswith(("Child.", "School."))

    def forget(self) -> None:
        self.children.clear()
        self.schools.clear()
        self.child_ids.clear()
        self.school_ids.clear()
        self._school_dates.clear()
        self._tails.clear()

    # -- aggregates, kept in memory; loaded from the store after a restart --------------

    def _load(self, cls: type, kind: str, ident: str, version: int) -> Any:
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
            self.school_ids[school.id] = school_id
        return school

    def _child(self, cur: Cursor, child_id: str) -> Child | None:
        child = self.children.get(child_id)
        if child is None:
            row = cur.fetchone("SELECT version FROM pm_child WHERE child_id = ?", (child_id,))
            if row is None:
                return None
            child = self.children[child_id] = self._load(Child, "child", child_id, row[0])
            self.child_ids[child.id] = child_id
        return child

    def _by_uuid(self, cur: Cursor, uuid: UUID, table: str) -> str:
        known = (self.child_ids if table == "pm_child" else self.school_ids).get(uuid)
        if known is not None:
            return known
        key = "child" if table == "pm_child" else "school"
        row = cur.fetchone(f"SELECT {key}_id FROM {table} WHERE {key}_uuid = ?", (str(uuid),))
        if row is None:
            raise LookupError(f"{key} {uuid} unknown to the lists projection")
        return str(row[0])

    def prepare(self, cur: Cursor) -> None:
        keep_history(cur, self.name, (
            ("INSERT INTO pm_plan_log (school_id, month, band, position, list_days, planned_kzt,"
             " home_days, allowance_kzt) SELECT school_id, month, band, CAST(? AS BIGINT),"
             " list_days, planned_kzt, home_days, allowance_kzt FROM pm_plan WHERE NOT EXISTS"
             " (SELECT 1 FROM pm_plan_log) ON CONFLICT DO NOTHING"),))

    def reset(self, cur: Cursor) -> None:
        super().reset(cur)
        restart_history(cur, self.name)

    # -- applying a page ----------------------------------------------------------------

    def apply(self, cur: Cursor, batch: Sequence[tuple[int, Any]]) -> None:
        """Each event recomputes the children it touches at once, against the rows as they
        stand after the page's earlier events (kept in memory), so every change to the plan
        is logged at its own position; the rows themselves are written once per page."""
        page = _Page()
        for position, e in batch:
            if type(e).__qualname__.startswith("School."):
                touched = self._apply_school(cur, e, page)
            else:
                touched = self._apply_child(cur, e, page)
            self._recompute(cur, page, position, touched)
        page.write(cur)

    def _apply_school(self, cur: Cursor, e: Any, page: _Page) -> dict[str, Months]:
        if isinstance(e, School.Registered):
            school = _project_school(None, [e])
            self.schools[e.school_id] = school
            self.school_ids[e.originator_id] = e.school_id
            page.school_rows[e.school_id] = (e.school_id, str(e.originator_id), school.version)
            return {}
        school_id = self._by_uuid(cur, e.originator_id, "pm_list_school")
        school = self._school(cur, school_id)
        assert school is not None and school.version == e.originator_version - 1
        school.mutate(e)
        page.school_rows[school_id] = (school_id, str(e.originator_id), school.version)
        months = {e.month} if isinstance(e, School.CalendarSet) else None
        # every child ever placed there, not only its current pupils: a child who moved on
        # still has days at this school before the move
        placed = {c for (c,) in cur.fetchall(
            "SELECT child_id FROM pm_child_placed WHERE school_id = ?", (school_id,))}
        placed |= {c for c, s in page.placed if s == school_id}
        return {child_id: months for child_id in sorted(placed)}

    def _apply_child(self, cur: Cursor, e: Any, page: _Page) -> dict[str, Months]:
        if isinstance(e, Child.Enrolled):
            child = _project_child(None, [e])
            self.children[e.child_id] = child
            self.child_ids[e.originator_id] = e.child_id
            # no rows stored yet
            page.rows[e.child_id], page.stored[e.child_id] = {}, {}
            page.stored_months[e.child_id] = set()
            page.enrolled.add(e.child_id)
        else:
            child_id = self._by_uuid(cur, e.originator_id, "pm_child")
            found = self._child(cur, child_id)
            assert found is not None and found.version == e.originator_version - 1, \
                "lists projection out of step"
            child = found
            child.mutate(e)
        current = child.current
        page.placed.add((child.child_id, current.school_id))
        page.child_rows[child.child_id] = (
            child.child_id, str(child.id), current.school_id, child.version,
            current.class_name, current.grade, int(child.withdrawn_on is not None),
            ",".join(child.allergens))
        return {} if isinstance(e, _NO_ROW_CHANGE) else {child.child_id: None}

    # -- recomputing the touched children's rows and the plan ----------------------------

    def _recompute(self, cur: Cursor, page: _Page, position: int,
                   touched: dict[str, Months]) -> None:
        if not touched:
            return
        page.load(cur, [c for c in touched if c not in page.rows])
        changed: Counter[tuple[Any, ...]] = Counter()  # (school, month, band, on list, home, rate)
        for child_id, months in touched.items():
            child = self._child(cur, child_id)
            if child is None:
                continue
            new, month_tails, counts = self._rows(cur, child, months)
            rows = page.rows[child_id]
            if rows:
                for day, row in list(rows.items()):
                    if (months is None or row[3] in months) and new.get(day) != row:
                        changed[_plan_key(row)] -= 1
                        del rows[day]
                for day, row in new.items():
                    if day not in rows:
                        changed[_plan_key(row)] += 1
                        rows[day] = row
                if months is None:  # the rows are now `new`'s
                    page.months[child_id] = month_tails
                else:
                    page.months.pop(child_id, None)
            else:  # a new child, or none of its days stored yet: every row is new
                rows.update(new)
                for tally in counts:
                    changed.update(tally)
                page.months[child_id] = month_tails
        deltas: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
        for (school_id, month, band, listed, home, rate), count in changed.items():
            if count and listed:
                _add(deltas, (school_id, month, band),
                     [count, count * rate, count * home, count * home * rate])
        page.log_plan(position, deltas)

    def _rows(self, cur: Cursor, child: Child, months: Months
              ) -> tuple[dict[str, tuple[Any, ...]], list[tuple[Any, ...]], list[Counter[Any]]]:
        """The child's day rows (of `months`) by day, the same as month rows but for the
        child's id, and how many of them each plan key counts."""
        rows: dict[str, tuple[Any, ...]] = {}
        month_tails: list[tuple[Any, ...]] = []
        counts: list[Counter[Any]] = []
        child_id, profile = child.child_id, _profile(child)
        for school_id in {p.school_id for p in child.placements}:
            school = self._school(cur, school_id)
            if school is None:
                continue
            for month, days in school.calendar.items():
                if months is not None and month not in months:
                    continue
                key = (school_id, school.version, month, profile)
                cached = self._tails.get(key)
                if cached is None:
                    if len(self._tails) >= PROFILES_MAX:
                        self._tails.clear()
                    cached = self._tails[key] = _Tails([
                        row[1:] for row in _month_rows(child, school, days,
                                                       change_days(child, self._dates(school)))])
                rows.update((tail[0], (child_id, *tail)) for tail in cached.days)
                month_tails += cached.months
                counts.append(cached.counts)
        return rows, month_tails, counts

    def _dates(self, school: School) -> set[date]:
        cached = self._school_dates.get(school.school_id)
        if cached is None or cached[0] != school.version:
            cached = self._school_dates[school.school_id] = (school.version, school_dates(school))
        return cached[1]


class _Tails:
    """A month's day rows but for the child's id (`days`), the same as month rows
    (`months`) and how many day rows each plan key counts."""

    __slots__ = ("days", "months", "counts")

    def __init__(self, days: list[tuple[Any, ...]]) -> None:
        self.days = days
        rows = [(None, *tail) for tail in days]
        self.months = [row[1:] for row in month_rows(None, rows)]
        self.counts = Counter(_plan_key(row) for row in rows)


class _Page:
    """What one page of events changed: state rows, every touched child's day rows as they
    stand now and as they were stored, and the plan's changes by position."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, tuple[Any, ...]]] = {}
        self.stored: dict[str, dict[str, tuple[Any, ...]]] = {}
        self.stored_months: dict[str, set[tuple[Any, ...]]] = {}  # as stored: month rows
        # a child's rows as month rows but for the id, where they are one _rows' answer
        self.months: dict[str, list[tuple[Any, ...]]] = {}
        self.child_rows: dict[str, tuple[Any, ...]] = {}
        self.school_rows: dict[str, tuple[Any, ...]] = {}
        self.placed: set[tuple[str, str]] = set()
        self.enrolled: set[str] = set()  # enrolled in this page: no row of theirs is stored
        self.plan: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
        self.plan_log: list[tuple[Any, ...]] = []

    def load(self, cur: Cursor, child_ids: list[str]) -> None:
        for child_id in child_ids:
            self.stored[child_id], self.stored_months[child_id] = {}, set()
        for i in range(0, len(child_ids), IN_CHUNK_MAX):
            chunk = child_ids[i:i + IN_CHUNK_MAX]
            marks = ",".join("?" * len(chunk))
            for row in cur.fetchall(f"SELECT {CHILD_MONTH_COLUMNS} FROM pm_child_month"
                                    f" WHERE child_id IN ({marks})", chunk):
                self.stored_months[row[0]].add(row)
                days = self.stored[row[0]]
                for day in day_rows(row):
                    days[day[1]] = day
        for child_id in child_ids:
            self.rows[child_id] = dict(self.stored[child_id])

    def log_plan(self, position: int, deltas: dict[tuple[str, str, str], list[int]]) -> None:
        for key, values in sorted(deltas.items()):
            if any(values):
                self.plan_log.append((*key, position, *values))
                _add(self.plan, key, values)

    def write(self, cur: Cursor) -> None:
        upsert_rows(cur, "pm_list_school", _LIST_SCHOOL, list(self.school_rows.values()),
                    "ON CONFLICT (school_id) DO UPDATE SET version = excluded.version")
        # children enrolled in this page have no rows yet: appended (an upsert of a school's
        # new pupils cost the server a conflict check and the client an array dump per value)
        new: list[tuple[Any, ...]] = []
        known: list[tuple[Any, ...]] = []
        for child_id, row in self.child_rows.items():
            (new if child_id in self.enrolled else known).append(row)
        insert_rows(cur, "pm_child", [name for name, _ in _CHILD], new)
        upsert_rows(cur, "pm_child", _CHILD, known,
                    "ON CONFLICT (child_id) DO UPDATE SET school_id = excluded.school_id,"
                    " version = excluded.version, class_name = excluded.class_name,"
                    " grade = excluded.grade, withdrawn = excluded.withdrawn,"
                    " allergens = excluded.allergens")
        placed_new = sorted(p for p in self.placed if p[0] in self.enrolled)
        insert_rows(cur, "pm_child_placed", [name for name, _ in _PLACED], placed_new)
        upsert_rows(cur, "pm_child_placed", _PLACED,
                    sorted(p for p in self.placed if p[0] not in self.enrolled),
                    "ON CONFLICT (school_id, child_id) DO NOTHING")
        deleted: list[tuple[Any, ...]] = []
        inserted: list[tuple[Any, ...]] = []
        for child_id, rows in self.rows.items():
            if rows == self.stored[child_id]:
                continue
            tails = self.months.get(child_id)
            now = month_rows(child_id, rows.values()) if tails is None else \
                {(child_id, *tail) for tail in tails}
            before = self.stored_months[child_id]
            deleted += [row[:3] for row in before - now]
            inserted += sorted(now - before, key=lambda row: (row[1], row[2]))
        cur.executemany("DELETE FROM pm_child_month WHERE child_id = ? AND month = ? AND"
                        " days = ?", deleted)
        insert_rows_sharing_tails(cur, "pm_child_month", _MONTH_COLUMNS, inserted)
        _write_plan(cur, self.plan)
        insert_rows(cur, "pm_plan_log", _PLAN_LOG_COLUMNS, self.plan_log)


# events that change nothing a day row reads (rules.on_list, rules.entitled, child_day_row)
_NO_ROW_CHANGE = (Child.IdentifierAdded, Child.IdentifierRevoked, Child.AllergensSet)
_LIST_SCHOOL = (("school_id", "text"), ("school_uuid", "text"), ("version", "bigint"))
_CHILD = (("child_id", "text"), ("child_uuid", "text"), ("school_id", "text"),
          ("version", "bigint"), ("class_name", "text"), ("grade", "integer"),
          ("withdrawn", "integer"), ("allergens", "text"))
_PLACED = (("child_id", "text"), ("school_id", "text"))
_PLAN_LOG_COLUMNS = ("school_id", "month", "band", "position", "list_days", "planned_kzt",
                     "home_days", "allowance_kzt")


def _write_plan(cur: Cursor, deltas: dict[tuple[str, str, str], list[int]]) -> None:
    changed = [(*key, *vals) for key, vals in deltas.items() if any(vals)]
    cur.executemany(
        "INSERT INTO pm_plan (school_id, month, band, list_days, planned_kzt, home_days,"
        " allowance_kzt) VALUES (?,?,?,?,?,?,?) ON CONFLICT (school_id, month, band) DO UPDATE"
        " SET list_days = pm_plan.list_days + excluded.list_days,"
        " planned_kzt = pm_plan.planned_kzt + excluded.planned_kzt,"
        " home_days = pm_plan.home_days + excluded.home_days,"
        " allowance_kzt = pm_plan.allowance_kzt + excluded.allowance_kzt", changed)
    # a plan row back at zero is no row: otherwise live and rebuilt tables (and the bands
    # a savings report lists) depend on how the log was cut into batches
    cur.executemany(
        "DELETE FROM pm_plan WHERE school_id = ? AND month = ? AND band = ? AND"
        " list_days = 0 AND planned_kzt = 0 AND home_days = 0 AND allowance_kzt = 0",
        [row[:3] for row in changed])


def _add(deltas: dict[tuple[str, str, str], list[int]], key: tuple[str, str, str],
         values: list[int]) -> None:
    row = deltas[key]
    for i, value in enumerate(values):
        row[i] += value
