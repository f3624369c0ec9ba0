"""Queries over the read models. Each takes a cursor of one read snapshot and returns a view;
every figure comes from rows the projections derived from events."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date

import msgspec

from ledger.dates import month_bounds
from ledger.sqldb import Cursor
from projections.lists import day_bit, on_day
from projections.views import (
    SOURCES,
    AttendanceDay,
    Balance,
    CostLine,
    Count,
    DailyCost,
    Entitlements,
    ListedChild,
    MealRow,
    Movement,
    PassRow,
    PersonDay,
)

MOVEMENTS_MAX = 500


def tracked_position(cur: Cursor, name: str = "meals") -> int:
    row = cur.fetchone("SELECT position FROM pm_tracking WHERE name = ?", (name,))
    return int(row[0]) if row else 0


def balance(cur: Cursor, child_id: str) -> Balance:
    row = cur.fetchone("SELECT coalesce(sum(balance_kzt), 0) FROM pm_balance WHERE child_id = ?",
                       (child_id,))
    moves = cur.fetchall("SELECT position, at, kind, amount_kzt, ref FROM pm_movement "
                         "WHERE child_id = ? ORDER BY position DESC LIMIT ?",
                         (child_id, MOVEMENTS_MAX))
    return Balance(child_id, int(row[0]) if row else 0,
                   [Movement(int(p), a, k, int(m), r) for p, a, k, m, r in moves],
                   tracked_position(cur, "balances"))


def _counts(children: list[ListedChild], key) -> list[Count]:  # type: ignore[no-untyped-def]
    on: Counter[object] = Counter()
    ent: Counter[object] = Counter()
    for child in children:
        for k in key(child):
            on[k] += child.on_list
            ent[k] += child.entitled
    return [Count(str(k), on[k], ent[k]) for k in sorted(on, key=str)]


def entitlements(cur: Cursor, school_id: str, day: date) -> Entitlements:
    rows = cur.fetchall(
        "SELECT child_id, band, grade, class_name, categories, on_list, entitled, home_schooled,"
        f" voucher_assigned, voucher_active FROM pm_child_month d WHERE school_id = ? AND"
        f" {on_day('d', '?')} ORDER BY class_name, child_id",
        (school_id, day.isoformat()[:7], day_bit(day.isoformat())))
    calendar = cur.fetchone("SELECT days FROM pm_calendar WHERE school_id = ? AND month = ?",
                            (school_id, day.isoformat()[:7]))
    school_day = calendar is not None and day.isoformat() in calendar[0].split(",")
    children = [ListedChild(c, b, int(g), cl, [x for x in cats.split(",") if x], bool(o),
                            bool(e), bool(h), bool(va), bool(vact), SOURCES[b])
                for c, b, g, cl, cats, o, e, h, va, vact in rows]
    listed = [c for c in children if c.on_list]
    return Entitlements(
        school_id=school_id, date=day.isoformat(), school_day=school_day, children=children,
        by_band=_counts(children, lambda c: [c.band]),
        by_grade=_counts(children, lambda c: [c.grade]),
        by_category=_counts(children, lambda c: c.categories or ["universal"]),
        by_source=_counts(children, lambda c: [c.funding_source]),
        voucher_not_activated=[c.child_id for c in listed
                               if c.voucher_assigned and not c.voucher_active],
        eligible_without_voucher=[c.child_id for c in listed if not c.voucher_assigned],
        position=tracked_position(cur, "lists"),
    )


def daily_cost(cur: Cursor, school_id: str, day: date) -> DailyCost:
    rows = cur.fetchall(
        "SELECT band, funded_meals, funded_kzt, paid_meals, paid_kzt, unfunded_meals "
        "FROM pm_daily_cost WHERE school_id = ? AND day = ? ORDER BY band",
        (school_id, day.isoformat()))
    lines = []
    for band, fm, fk, pm, pk, um in rows:
        rate = int(fk) // int(fm) if fm else 0
        lines.append(CostLine(band, SOURCES[band], int(fm), rate, int(fk), int(pm), int(pk), int(um)))
    refusals = dict(cur.fetchall(
        "SELECT reason, count(*) FROM pm_refusal WHERE school_id = ? AND day = ? AND kind = 'meal'"
        " GROUP BY reason ORDER BY reason", (school_id, day.isoformat())))
    return DailyCost(school_id, day.isoformat(), lines, sum(x.funded_kzt for x in lines),
                     sum(x.paid_kzt for x in lines), {k: int(v) for k, v in refusals.items()},
                     tracked_position(cur, "meals"))


def attendance(cur: Cursor, school_id: str, day: date) -> AttendanceDay:
    rows = cur.fetchall(
        "SELECT person_kind, person_id, direction, at FROM pm_pass WHERE school_id = ? AND day = ?"
        " ORDER BY at", (school_id, day.isoformat()))
    people: dict[tuple[str, str], list] = defaultdict(lambda: [None, None, 0])  # type: ignore[type-arg]
    for kind, person, direction, at in rows:
        entry = people[(kind, person)]
        if direction == "in" and entry[0] is None:
            entry[0] = at
        if direction == "out":
            entry[1] = at
        entry[2] += 1
    result = [PersonDay(k, p, v[0], v[1], v[2])  # type: ignore[arg-type]  # kind: pupil|staff
              for (k, p), v in sorted(people.items())]
    return AttendanceDay(
        school_id, day.isoformat(), result,
        sum(1 for x in result if x.person_kind == "pupil" and x.first_in),
        sum(1 for x in result if x.person_kind == "staff" and x.first_in),
        tracked_position(cur, "attendance"))


def child_meals(cur: Cursor, child_id: str, month: str) -> list[MealRow]:
    first, nxt = month_bounds(month)
    rows = cur.fetchall(
        "SELECT event_id, terminal_id, day, at, funding, funded_kzt, paid_kzt, items, offline,"
        " flags, voided_position FROM pm_meal WHERE child_id = ? AND day >= ? AND day < ?"
        " ORDER BY at", (child_id, first.isoformat(), nxt.isoformat()))
    return [MealRow(e, t, d, a, f, int(fk), int(pk), msgspec.json.decode(items), bool(o),
                    [x for x in flags.split(",") if x], v is not None)
            for e, t, d, a, f, fk, pk, items, o, flags, v in rows]


def child_passes(cur: Cursor, child_id: str, month: str) -> list[PassRow]:
    first, nxt = month_bounds(month)
    rows = cur.fetchall(
        "SELECT day, at, direction, method FROM pm_pass WHERE person_kind = 'pupil' AND"
        " person_id = ? AND day >= ? AND day < ? ORDER BY at",
        (child_id, first.isoformat(), nxt.isoformat()))
    return [PassRow(*r) for r in rows]


def child_school(cur: Cursor, child_id: str) -> str | None:
    row = cur.fetchone("SELECT school_id FROM pm_child WHERE child_id = ?", (child_id,))
    return str(row[0]) if row else None
