"""Savings (planned by list vs actual by scans), the tenant statement with adjustments, and the
edit checks. Every figure is a sum over projected rows; nothing is typed in."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime

import msgspec

from ledger.dates import local_day, month_bounds
from ledger.records import REQUIRED_FILINGS, Month
from ledger.sqldb import Cursor
from projections.queries import tracked_position
from projections.views import (
    SOURCES,
    Allowance,
    BandSavings,
    DistrictSavings,
    FiledReport,
    SchoolFilings,
    RegionFilings,
    RegionSavings,
    SchoolSavings,
    SchoolSavingsRow,
    StatementAdjustment,
    StatementLine,
    TenantStatement,
    percent,
)

_month_decoder = msgspec.json.Decoder(Month.Closed)
FILING_DAY = 5  # monthly reports are due by the 5th of the next month (order No. 456)


def _school_days(cur: Cursor, school_id: str, month: str) -> int:
    row = cur.fetchone("SELECT day_count FROM pm_calendar WHERE school_id = ? AND month = ?",
                       (school_id, month))
    return int(row[0]) if row else 0


def school_savings(cur: Cursor, school_id: str, month: str) -> SchoolSavings:
    plan = {b: (int(ld), int(pk), int(hd), int(ak)) for b, ld, pk, hd, ak in cur.fetchall(
        "SELECT band, list_days, planned_kzt, home_days, allowance_kzt FROM pm_plan"
        " WHERE school_id = ? AND month = ?", (school_id, month))}
    cost = {b: (int(fm), int(fk)) for b, fm, fk in cur.fetchall(
        "SELECT band, sum(funded_meals), sum(funded_kzt) FROM pm_daily_cost"
        " WHERE school_id = ? AND month = ? GROUP BY band", (school_id, month))}
    return savings_of(school_id, month, _school_days(cur, school_id, month), plan, cost,
                      min(tracked_position(cur, "lists"), tracked_position(cur, "meals")))


def savings_of(school_id: str, month: str, school_days: int,
               plan: dict[str, tuple[int, int, int, int]], cost: dict[str, tuple[int, int]],
               position: int) -> SchoolSavings:
    """Planned (list days, planned, home-schooled days, allowance) and funded (meals, tenge)
    by band -> the school's savings: actual = funded meals + allowances."""
    bands = []
    for band in sorted(set(plan) | set(cost)):
        ld, pk, hd, ak = plan.get(band, (0, 0, 0, 0))
        fm, fk = cost.get(band, (0, 0))
        bands.append(BandSavings(band, SOURCES[band], ld, pk, fm, fk, hd, ak, fk + ak,
                                 pk - fk - ak))
    planned = sum(b.planned_kzt for b in bands)
    actual = sum(b.actual_kzt for b in bands)
    return SchoolSavings(school_id, month, school_days, bands, planned, actual,
                         planned - actual, percent(planned - actual, planned), position)


def region_savings(cur: Cursor, region_id: str, month: str) -> RegionSavings:
    """Per school, per district and in total; no child data at all."""
    schools = cur.fetchall("SELECT school_id, name, district FROM pm_school WHERE region_id = ?"
                           " ORDER BY district, school_id", (region_id,))
    planned = dict(cur.fetchall(
        "SELECT p.school_id, sum(p.planned_kzt - 0) FROM pm_plan p JOIN pm_school s ON"
        " s.school_id = p.school_id WHERE s.region_id = ? AND p.month = ? GROUP BY p.school_id",
        (region_id, month)))
    allowance = dict(cur.fetchall(
        "SELECT p.school_id, sum(p.allowance_kzt) FROM pm_plan p JOIN pm_school s ON"
        " s.school_id = p.school_id WHERE s.region_id = ? AND p.month = ? GROUP BY p.school_id",
        (region_id, month)))
    funded = dict(cur.fetchall(
        "SELECT c.school_id, sum(c.funded_kzt) FROM pm_daily_cost c JOIN pm_school s ON"
        " s.school_id = c.school_id WHERE s.region_id = ? AND c.month = ? GROUP BY c.school_id",
        (region_id, month)))
    days = dict(cur.fetchall(
        "SELECT c.school_id, c.day_count FROM pm_calendar c JOIN pm_school s ON"
        " s.school_id = c.school_id WHERE s.region_id = ? AND c.month = ?", (region_id, month)))
    actual = {sid: int(funded.get(sid) or 0) + int(allowance.get(sid) or 0)
              for sid, _, _ in schools}
    return region_of(region_id, month, schools,
                     {sid: int(v or 0) for sid, v in planned.items()}, actual,
                     {sid: int(v or 0) for sid, v in days.items()},
                     min(tracked_position(cur, "lists"), tracked_position(cur, "meals")))


def region_of(region_id: str, month: str, schools: Sequence[Sequence[str]],
              planned: dict[str, int], actual: dict[str, int], days: dict[str, int],
              position: int) -> RegionSavings:
    """Per-school planned and actual tenge -> the region's rows, district sums and totals."""
    rows, districts = [], defaultdict(lambda: [0, 0])  # type: ignore[var-annotated]
    for school_id, name, district in schools:
        p, a = planned.get(school_id, 0), actual.get(school_id, 0)
        rows.append(SchoolSavingsRow(school_id, name, district, days.get(school_id, 0),
                                     p, a, p - a, percent(p - a, p)))
        districts[district][0] += p
        districts[district][1] += a
    total_p = sum(r.planned_kzt for r in rows)
    total_a = sum(r.actual_kzt for r in rows)
    return RegionSavings(
        region_id, month, rows,
        [DistrictSavings(d, p, a, p - a) for d, (p, a) in sorted(districts.items())],
        total_p, total_a, total_p - total_a, percent(total_p - total_a, total_p), position)


def _closed(cur: Cursor, school_id: str, month: str) -> tuple[Month.Closed, int] | None:
    row = cur.fetchone("SELECT statement, paid_kzt FROM pm_month WHERE school_id = ? AND"
                       " month = ?", (school_id, month))
    return (_month_decoder.decode(bytes(row[0])), int(row[1])) if row else None


def previous_close(cur: Cursor, school_id: str, month: str) -> int:
    row = cur.fetchone("SELECT max(position) FROM pm_month WHERE school_id = ? AND month < ?",
                       (school_id, month))
    return int(row[0]) if row and row[0] is not None else 0


def open_months_before(cur: Cursor, school_id: str, month: str) -> list[str]:
    """Earlier months with funded meals that are not closed yet (months close in order)."""
    rows = cur.fetchall(
        "SELECT DISTINCT m.month FROM pm_meal m WHERE m.school_id = ? AND m.month < ? AND"
        " m.funding = 'funded' AND NOT EXISTS (SELECT 1 FROM pm_month c WHERE"
        " c.school_id = m.school_id AND c.month = m.month) ORDER BY m.month", (school_id, month))
    return [r[0] for r in rows]


def statement_lines(cur: Cursor, school_id: str, month: str, upto: int) -> list[StatementLine]:
    rows = cur.fetchall(
        "SELECT day, band, rate_kzt, count(*), sum(funded_kzt) FROM pm_meal WHERE school_id = ?"
        " AND month = ? AND funding = 'funded' AND position <= ? AND (voided_position IS NULL"
        " OR voided_position > ?) GROUP BY day, band, rate_kzt ORDER BY day, band",
        (school_id, month, upto, upto))
    return [StatementLine(d, b, SOURCES[b], int(n), int(r), int(a)) for d, b, r, n, a in rows]


def adjustments(cur: Cursor, school_id: str, month: str, upto: int) -> list[StatementAdjustment]:
    """Facts about earlier, closed months that happened after the last close: late meals
    (+) and voids of meals already on a statement (-). Each lands on exactly one statement."""
    since = previous_close(cur, school_id, month)
    late = cur.fetchall(
        "SELECT m.meal_id, m.event_id, m.day, m.band, m.funded_kzt FROM pm_meal m JOIN pm_month"
        " c ON c.school_id = m.school_id AND c.month = m.month WHERE m.school_id = ? AND"
        " m.month < ? AND m.funding = 'funded' AND m.position > ? AND m.position <= ? AND"
        " (m.voided_position IS NULL OR m.voided_position > ?) ORDER BY m.position",
        (school_id, month, since, upto, upto))
    voids = cur.fetchall(
        "SELECT m.meal_id, m.event_id, m.day, m.band, m.funded_kzt FROM pm_meal m JOIN pm_month"
        " c ON c.school_id = m.school_id AND c.month = m.month WHERE m.school_id = ? AND"
        " m.month < ? AND m.funding = 'funded' AND m.position <= ? AND m.voided_position > ?"
        " AND m.voided_position <= ? ORDER BY m.voided_position",
        (school_id, month, since, since, upto))
    result = [StatementAdjustment(str(i), e, d, b, int(a), "late meal of a closed month")
              for i, e, d, b, a in late]
    result += [StatementAdjustment(str(i), e, d, b, -int(a), "meal voided after its month closed")
               for i, e, d, b, a in voids]
    return result


def allowances(cur: Cursor, school_id: str, month: str) -> list[Allowance]:
    rows = cur.fetchall(
        "SELECT child_id, band, sum(day_count), sum(day_count * rate_kzt) FROM pm_child_month"
        " WHERE school_id = ?"
        " AND month = ? AND on_list = 1 AND home_schooled = 1 GROUP BY child_id, band"
        " ORDER BY child_id", (school_id, month))
    return [Allowance(c, b, int(n), int(a)) for c, b, n, a in rows]


def tenant_statement(cur: Cursor, school_id: str, month: str) -> TenantStatement:
    closed = _closed(cur, school_id, month)
    if closed is not None:
        c, paid = closed
        lines = [StatementLine(x.day.isoformat(), x.band, SOURCES[x.band], x.meals, x.rate_kzt,
                               x.amount_kzt) for x in c.lines]
        adj = [StatementAdjustment(str(a.meal_id), "", a.day.isoformat(), a.band, a.amount_kzt,
                                   a.description) for a in c.adjustments]
        allow = [Allowance(a.child_id, a.band, a.days, a.amount_kzt) for a in c.allowances]
        return _statement(school_id, month, True, c.position, lines, adj, allow, paid)
    upto = tracked_position(cur, "meals")
    return _statement(school_id, month, False, upto, statement_lines(cur, school_id, month, upto),
                      adjustments(cur, school_id, month, upto),
                      allowances(cur, school_id, month), 0)


def _statement(school_id: str, month: str, closed: bool, position: int,
               lines: list[StatementLine], adj: list[StatementAdjustment],
               allow: list[Allowance], paid: int) -> TenantStatement:
    meals = sum(x.amount_kzt for x in lines)
    adj_total = sum(x.amount_kzt for x in adj)
    flags = [f"{x.day} {x.band}: {x.amount_kzt} is not a whole number of {x.rate_kzt}-tenge meals"
             for x in lines if x.rate_kzt and x.amount_kzt % x.rate_kzt]
    return TenantStatement(school_id, month, closed, position, lines, adj, allow, meals,
                           adj_total, meals + adj_total, sum(a.amount_kzt for a in allow), paid,
                           meals + adj_total - paid, flags)


def region_filings(cur: Cursor, region_id: str, month: str, today: date) -> RegionFilings:
    """Which schools filed the monthly reports by the 5th of the next month."""
    due = month_bounds(month)[1].replace(day=FILING_DAY)
    schools = cur.fetchall("SELECT school_id, name, district FROM pm_school WHERE region_id = ?"
                           " ORDER BY district, school_id", (region_id,))
    rows = cur.fetchall(
        "SELECT f.school_id, f.kind, f.first_filed_at, f.sha256, f.position, f.chain_head"
        " FROM pm_filing f JOIN pm_school s ON s.school_id = f.school_id"
        " WHERE s.region_id = ? AND f.month = ? ORDER BY f.kind", (region_id, month))
    by_school: dict[str, list[FiledReport]] = defaultdict(list)
    for school_id, kind, first, sha, position, head in rows:
        late = local_day(datetime.fromisoformat(first)) > due
        by_school[school_id].append(FiledReport(kind, first, sha, int(position), head, late))
    result = []
    for school_id, name, district in schools:
        filed = by_school.get(school_id, [])
        missing = [k for k in REQUIRED_FILINGS if k not in {f.kind for f in filed}]
        late = any(f.late for f in filed if f.kind in REQUIRED_FILINGS) or (
            bool(missing) and today > due)
        result.append(SchoolFilings(school_id, name, district, filed, missing, late))
    return RegionFilings(region_id, month, due.isoformat(), result,
                         sum(1 for s in result if s.late))
