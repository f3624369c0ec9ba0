"""Savings as of a log position, read from the history the live read models keep, without
replaying anything: the plan from `pm_plan_log` (each change at the position of the event that
caused it), the meals from `pm_meal` (each with its position and, once voided, the void's),
school days from `pm_calendar_log` and schools from `pm_school_log`.

Equal, figure for figure, to `reports.school_savings` / `reports.region_savings` over a
scratch store replayed to the same position (tests/integration/test_projections_perf_history.py
checks this at every position of random histories). Costs a few indexed sums: milliseconds
for a school, well under a second for a region, where a replay takes minutes.

When the history does not reach back to the position (a store upgraded from a version
without it) or the live read models have not reached it yet, `HistoryUnavailable` is raised
and the caller replays into a scratch store instead (`pointintime.region_savings_at`)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from ledger.dates import month_bounds
from ledger.sqldb import Cursor
from projections.queries import tracked_position
from projections.reports import region_of, savings_of
from projections.views import (
    RegionSavings,
    SchoolSavings,
)

READ_MODELS = ("directory", "lists", "meals")
IN_CHUNK_MAX = 500


class HistoryUnavailable(LookupError):
    """The live read models cannot answer as of this position: replay instead."""


def check_history(cur: Cursor, position: int) -> None:
    for name in READ_MODELS:
        row = cur.fetchone("SELECT since FROM pm_history WHERE name = ?", (name,))
        since = int(row[0]) if row is not None else None
        if name != "meals" and (since is None or since > position):
            raise HistoryUnavailable(f"the {name} read model keeps history only from position"
                                     f" {since}; asked as of {position}")
        if tracked_position(cur, name) < position:
            raise HistoryUnavailable(f"the {name} read model has not reached {position} yet")


_LIVE = "(voided_position IS NULL OR voided_position > ?)"


def school_savings_as_of(cur: Cursor, school_id: str, month: str, position: int
                         ) -> SchoolSavings:
    check_history(cur, position)
    plan = {b: tuple(int(x) for x in v) for b, *v in cur.fetchall(
        "SELECT band, sum(list_days), sum(planned_kzt), sum(home_days), sum(allowance_kzt)"
        " FROM pm_plan_log WHERE school_id = ? AND month = ? AND position <= ? GROUP BY band",
        (school_id, month, position))}
    plan = {b: v for b, v in plan.items() if any(v)}
    first, nxt = month_bounds(month)
    cost = {b: (int(fm), int(fk)) for b, fm, fk in cur.fetchall(
        f"SELECT band, sum(CASE WHEN funding = 'funded' AND {_LIVE} THEN 1 ELSE 0 END),"
        f" sum(CASE WHEN {_LIVE} THEN funded_kzt ELSE 0 END) FROM pm_meal WHERE school_id = ?"
        " AND day >= ? AND day < ? AND position <= ? GROUP BY band",
        (position, position, school_id, first.isoformat(), nxt.isoformat(), position))}
    days = _school_days(cur, [school_id], month, position).get(school_id, 0)
    return savings_of(school_id, month, days, plan, cost, position)  # type: ignore[arg-type]


def region_savings_as_of(cur: Cursor, region_id: str, month: str, position: int
                         ) -> RegionSavings:
    check_history(cur, position)
    schools = cur.fetchall(
        "SELECT l.school_id, l.name, l.district FROM pm_school_log l WHERE l.region_id = ? AND"
        " l.position = (SELECT max(m.position) FROM pm_school_log m WHERE"
        " m.school_id = l.school_id AND m.position <= ?) ORDER BY l.district, l.school_id",
        (region_id, position))
    ids = [s[0] for s in schools]
    planned: dict[str, int] = defaultdict(int)
    allowance: dict[str, int] = defaultdict(int)
    funded: dict[str, int] = defaultdict(int)
    first, nxt = month_bounds(month)
    for chunk in _chunks(ids):
        marks = ",".join("?" * len(chunk))
        for school_id, p, a in cur.fetchall(
                "SELECT school_id, sum(planned_kzt), sum(allowance_kzt) FROM pm_plan_log WHERE"
                f" school_id IN ({marks}) AND month = ? AND position <= ? GROUP BY school_id",
                (*chunk, month, position)):
            planned[school_id], allowance[school_id] = int(p), int(a)
        for school_id, f in cur.fetchall(
                f"SELECT school_id, sum(funded_kzt) FROM pm_meal WHERE school_id IN ({marks})"
                f" AND day >= ? AND day < ? AND position <= ? AND {_LIVE} GROUP BY school_id",
                (*chunk, first.isoformat(), nxt.isoformat(), position, position)):
            funded[school_id] = int(f or 0)
    days = _school_days(cur, ids, month, position)
    actual = {sid: funded[sid] + allowance[sid] for sid, _, _ in schools}
    return region_of(region_id, month, schools, dict(planned), actual, days, position)


def _school_days(cur: Cursor, school_ids: Sequence[str], month: str, position: int
                 ) -> dict[str, int]:
    found: dict[str, int] = {}
    for chunk in _chunks(list(school_ids)):
        marks = ",".join("?" * len(chunk))
        for school_id, count in cur.fetchall(
                "SELECT l.school_id, l.day_count FROM pm_calendar_log l WHERE"
                f" l.school_id IN ({marks}) AND l.month = ? AND l.position = (SELECT"
                " max(m.position) FROM pm_calendar_log m WHERE m.school_id = l.school_id AND"
                " m.month = l.month AND m.position <= ?)", (*chunk, month, position)):
            found[school_id] = int(count)
    return found


def _chunks(ids: list[str]) -> list[list[str]]:
    return [ids[i:i + IN_CHUNK_MAX] for i in range(0, len(ids), IN_CHUNK_MAX)]
