"""Benchmark: the read models.

- catch-up: events per second a fresh runner applies from the first event (SQLite, PostgreSQL);
- the regional savings query for one month (p50 and p99 ms);
- as-of replay: seconds to rebuild the read models into a scratch store at a position.

The region is written through the ledger's use cases: schools, pupils (one enrolment command
each; vouchers not required so no voucher commands), then a month of gate passes and meals
through `record_scans` in big batches. The issue's region is 60 schools x 600 pupils x 18
days (about 36 k enrolments and 1.3 M scan events); `region()` takes the sizes so a run can
measure a fraction and extrapolate (events scale linearly with schools).

    .venv/bin/python -m bench.projections_bench [--schools 3] [--pupils 600] [--days 18]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, date, datetime, time as dtime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from ledger.child import Consent
from ledger.ledger import Ledger
from ledger.scans import TerminalItem
from ledger.school import MenuItem, VoucherRequired
from ledger.store import close_ledger, open_ledger
from projections import build_runner
from projections.pointintime import Scratch
from projections.reports import region_savings

LOCAL = ZoneInfo("Asia/Almaty")
MONTH = "2025-10"
SCAN_BATCH = 5_000  # record_scans saves in chunks of 500 itself; this bounds memory
LUNCH = MenuItem("lunch", "Lunch", 700, free_meal=True)


def _school_days(count: int) -> list[date]:
    day, days = date(2025, 10, 1), []
    while len(days) < count and day.month == 10:
        if day.weekday() < 5:
            days.append(day)
        day += timedelta(days=1)
    return days


def _at(day: date, hour: int, minute: int) -> datetime:
    return datetime.combine(day, dtime(hour, minute), LOCAL).astimezone(UTC)


def region(ledger: Ledger, schools: int, pupils: int, days: int) -> int:
    """Write the region; returns the number of events in the log."""
    school_days = _school_days(days)
    ledger.register_region("r1", "Region")
    consent = Consent("guardian", "doc", date(2025, 8, 25))
    scans: list[tuple[str, TerminalItem]] = []
    for s in range(schools):
        sid = f"s{s:02d}"
        ledger.register_school(sid, name=sid, region_id="r1", district=f"d{s % 5}")
        ledger.set_calendar(sid, MONTH, school_days)
        ledger.set_eligibility(sid, ("large_family", "low_income"),
                               VoucherRequired(False, False, False), date(2025, 9, 1))
        for day in school_days:
            ledger.set_menu(sid, day, (LUNCH,))
        ledger.register_terminal(f"{sid}-gate", sid, "gate")
        ledger.register_terminal(f"{sid}-canteen", sid, "canteen")
        for p in range(pupils):
            cid, grade = f"{sid}-p{p}", 1 + p % 11
            ledger.enrol_child(sid, cid, first_name="A", last_name="B", iin=None, grade=grade,
                               class_name=f"{grade}A", shift=1, consent=consent,
                               enrolled_on=date(2025, 9, 1))
            if grade >= 5 and p % 3 == 0:
                ledger.assign_category(cid, "large_family", date(2025, 9, 1), None, "doc")
        for n, day in enumerate(school_days):
            for p in range(pupils):
                if (p + n) % 10 == 0:
                    continue  # absent
                cid = f"{sid}-p{p}"
                scans.append((f"{sid}-gate", TerminalItem(
                    event_id=f"{cid}-in-{n}", kind="gate_pass", at=_at(day, 7, p % 60),
                    child_id=cid, direction="in", method="card")))
                scans.append((f"{sid}-canteen", TerminalItem(
                    event_id=f"{cid}-meal-{n}", kind="meal", at=_at(day, 11, p % 60),
                    child_id=cid)))
                if len(scans) >= SCAN_BATCH:
                    ledger.record_scans(scans)
                    scans = []
    if scans:
        ledger.record_scans(scans)
    return int(ledger.recorder.max_notification_id() or 0)


def catch_up_events_per_s(url: str, schools: int = 2, pupils: int = 600, days: int = 18
                          ) -> float:
    """Events per second a fresh runner applies, from the first event to the head."""
    ledger = open_ledger(url)
    try:
        events = region(ledger, schools, pupils, days)
        runner = build_runner(ledger)
        started = time.perf_counter()
        applied = runner.catch_up()
        elapsed = time.perf_counter() - started
        assert applied == events
        return events / elapsed
    finally:
        close_ledger(ledger)


def savings_query_ms(url: str, schools: int = 2, pupils: int = 600, days: int = 18,
                     runs: int = 50) -> tuple[float, float, float]:
    """(p50 ms, p99 ms, as-of replay s) for the region's monthly savings."""
    ledger = open_ledger(url)
    try:
        head = region(ledger, schools, pupils, days)
        runner = build_runner(ledger)
        runner.catch_up()
        timings = []
        for _ in range(runs):
            started = time.perf_counter()
            with runner.db.read() as cur:
                view = region_savings(cur, "r1", MONTH)
            timings.append((time.perf_counter() - started) * 1000)
        assert len(view.schools) == schools and view.planned_kzt > 0
        timings.sort()
        started = time.perf_counter()
        Scratch(ledger).at(head)
        replay_s = time.perf_counter() - started
        return (statistics.median(timings), timings[min(runs - 1, int(runs * 0.99))], replay_s)
    finally:
        close_ledger(ledger)


def sqlite_url(tmp: str) -> str:
    return f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--schools", type=int, default=2)
    parser.add_argument("--pupils", type=int, default=600)
    parser.add_argument("--days", type=int, default=18)
    parser.add_argument("--postgres", help="postgresql://...?schema=x (an empty schema)")
    args = parser.parse_args(argv)
    sizes: dict[str, Any] = dict(schools=args.schools, pupils=args.pupils, days=args.days)
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        rate = catch_up_events_per_s(sqlite_url(tmp), **sizes)
        print(f"sqlite catch-up: {rate:,.0f} events/s (whole case {time.perf_counter() - started:.1f} s)")
    with tempfile.TemporaryDirectory() as tmp:
        p50, p99, replay = savings_query_ms(sqlite_url(tmp), **sizes)
        print(f"sqlite region savings: p50 {p50:.1f} ms, p99 {p99:.1f} ms; as-of replay {replay:.1f} s")
    if args.postgres:
        print(f"postgres catch-up: {catch_up_events_per_s(args.postgres, **sizes):,.0f} events/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
