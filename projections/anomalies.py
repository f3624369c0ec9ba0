"""Edit checks: patterns in a school-month that an accountant or auditor should look at,
each with the events (ids) behind it."""

from __future__ import annotations

from collections import defaultdict

from ledger.dates import month_bounds
from ledger.sqldb import Cursor
from projections.lists import child_days
from projections.views import Anomaly

MANUAL_PASSES_FLAG_MIN = 3  # the same staff member letting children in by hand this often


def school_anomalies(cur: Cursor, school_id: str, month: str) -> list[Anomaly]:
    first, nxt = month_bounds(month)
    span = (school_id, first.isoformat(), nxt.isoformat())
    meals = cur.fetchall(
        "SELECT event_id, child_id, day, at, band, funding, flags, rate_kzt, funded_kzt FROM"
        " pm_meal WHERE school_id = ? AND day >= ? AND day < ? AND voided_position IS NULL"
        " ORDER BY at", span)
    passes = cur.fetchall(
        "SELECT person_id, day, at, direction, method, authorized_by, event_id FROM pm_pass"
        " WHERE school_id = ? AND day >= ? AND day < ? ORDER BY at", span)
    cal = cur.fetchone("SELECT days FROM pm_calendar WHERE school_id = ? AND month = ?",
                       (school_id, month))
    school_days = set(cal[0].split(",")) if cal else set()
    entries: dict[tuple[str, str], list[str]] = defaultdict(list)
    exits: dict[tuple[str, str], list[str]] = defaultdict(list)
    manual: dict[str, list[str]] = defaultdict(list)
    for person, day, at, direction, method, by, event_id in passes:
        (entries if direction == "in" else exits)[(person, day)].append(at)
        if method == "manual" and by:
            manual[by].append(event_id)
    found: list[Anomaly] = []
    per_child_day: dict[tuple[str, str], list[str]] = defaultdict(list)
    for event_id, child, day, at, band, funding, flags, rate, funded in meals:
        per_child_day[(child, day)].append(event_id)
        if not entries.get((child, day)):
            found.append(Anomaly("meal_without_entry", day, child, "no gate entry that day",
                                 [event_id]))
        last_exit = max(exits.get((child, day), []), default=None)
        last_entry = max(entries.get((child, day), []), default=None)
        if last_exit and at > last_exit and (last_entry is None or last_entry < last_exit):
            found.append(Anomaly("meal_after_exit", day, child, f"served after exit {last_exit}",
                                 [event_id]))
        if day not in school_days:
            found.append(Anomaly("meal_on_non_school_day", day, child, "not a school day",
                                 [event_id]))
        if "offline_unfunded" in flags.split(","):
            found.append(Anomaly("offline_unfunded", day, child, flags, [event_id]))
        if funding == "funded" and rate and funded % rate:
            found.append(Anomaly("not_whole_meals", day, child, f"{funded} at rate {rate}",
                                 [event_id]))
    for (child, day), ids in per_child_day.items():
        if len(ids) > 1:
            found.append(Anomaly("second_meal", day, child, f"{len(ids)} meals", ids))
    found += _over_entitled(cur, school_id, span, entries)
    for staff, refs in manual.items():
        if len(refs) >= MANUAL_PASSES_FLAG_MIN:
            found.append(Anomaly("repeated_manual_passes", month, staff,
                                 f"{len(refs)} manual passes", refs))
    return sorted(found, key=lambda a: (a.day, a.kind, a.subject))


def _over_entitled(cur: Cursor, school_id: str, span: tuple[str, str, str],
                   entries: dict[tuple[str, str], list[str]]) -> list[Anomaly]:
    funded = cur.fetchall("SELECT day, band, funded_meals FROM pm_daily_cost WHERE school_id = ?"
                          " AND day >= ? AND day < ?", span)
    _, first, end = span  # days from `first`, before `end`
    entitled = [(row[1], row[4], row[0]) for row in child_days(
                    cur, "school_id = ? AND month >= ? AND month <= ? AND entitled = 1",
                    (school_id, first[:7], end[:7])) if first <= row[1] < end]
    meals: dict[tuple[str, str], list[str]] = defaultdict(list)
    for day, band, event_id in cur.fetchall(
            "SELECT day, band, event_id FROM pm_meal WHERE school_id = ? AND day >= ? AND"
            " day < ? AND funding = 'funded' AND voided_position IS NULL ORDER BY at", span):
        meals[(day, band)].append(event_id)
    present: dict[tuple[str, str], int] = defaultdict(int)
    for day, band, child in entitled:
        if entries.get((child, day)):
            present[(day, band)] += 1
    return [Anomaly("more_funded_than_present", day, band,
                    f"{n} funded meals, {present[(day, band)]} entitled children entered",
                    meals[(day, band)])
            for day, band, n in funded if int(n) > present[(day, band)]]
