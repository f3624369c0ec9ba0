"""Benchmark: the read models.

- catch-up: events per second a fresh runner applies from the first event (SQLite, PostgreSQL);
- the regional savings query for one month (p50 and p99 ms);
- as-of: the regional savings as of a position in the middle of the month, read from the
  live read models' history (p50 and p99 ms), and the scratch replay it replaces (seconds).

The region is written through the ledger's use cases: schools, pupils (one enrolment command
each; vouchers not required so no voucher commands), then a month of gate passes and meals
through `record_scans` in big batches. The issue's region is 60 schools x 600 pupils x 18
days (about 36 k enrolments and 1.3 M scan events); `region()` takes the sizes so a run can
measure a fraction and extrapolate (events scale linearly with schools).

    .venv/bin/python -m bench.projections_bench [--schools 3] [--pupils 600] [--days 18]
        [--postgres postgresql://...?schema=a] [--postgres-query postgresql://...?schema=b]
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
from projections.history import region_savings_as_of
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
                          ) -> tuple[float, float]:
    """(events per second of wall time, per second of this process's CPU) a fresh runner
    applies, from the first event to the head. The CPU figure leaves out the database
    server's own work and time lost to other processes on a busy machine."""
    ledger = open_ledger(url)
    try:
        events = region(ledger, schools, pupils, days)
        runner = build_runner(ledger)
        started, cpu = time.perf_counter(), time.process_time()
        applied = runner.catch_up()
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        assert applied == events
        return events / elapsed, events / max(cpu, 1e-9)
    finally:
        close_ledger(ledger)


def _percentiles(timings: list[float]) -> tuple[float, float]:
    timings = sorted(timings)
    return statistics.median(timings), timings[min(len(timings) - 1, int(len(timings) * 0.99))]


def time_savings(ledger: Ledger, schools: int, pupils: int, days: int, runs: int
                 ) -> tuple[int, list[float], list[float], Any]:
    """Write the region and catch its read models up; then ms of each live and each as-of
    (middle of the log) regional savings query. Returns the middle, both timings and the
    last as-of answer."""
    middle = region(ledger, schools, pupils, days) // 2
    runner = build_runner(ledger)
    runner.catch_up()
    live, as_of = [], []
    for _ in range(runs):
        started = time.perf_counter()
        with runner.db.read() as cur:
            view = region_savings(cur, "r1", MONTH)
        live.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        with runner.db.read() as cur:
            then = region_savings_as_of(cur, "r1", MONTH, middle)
        as_of.append((time.perf_counter() - started) * 1000)
    assert len(view.schools) == schools and view.planned_kzt > 0
    return middle, live, as_of, then


def savings_query_ms(url: str, schools: int = 2, pupils: int = 600, days: int = 18,
                     runs: int = 50) -> dict[str, float]:
    """The region's monthly savings: live p50/p99 ms; as of the middle of the log from the
    history p50/p99 ms; the scratch replay to that position in s (equal figures)."""
    ledger = open_ledger(url)
    try:
        middle, live, as_of, then = time_savings(ledger, schools, pupils, days, runs)
        started = time.perf_counter()
        with Scratch(ledger).at(middle).read() as cur:
            assert region_savings(cur, "r1", MONTH) == then
        replay_s = time.perf_counter() - started
        (p50, p99), (a50, a99) = _percentiles(live), _percentiles(as_of)
        return {"p50": p50, "p99": p99, "as_of_p50": a50, "as_of_p99": a99, "replay_s": replay_s}
    finally:
        close_ledger(ledger)


def _print_savings(store: str, got: dict[str, float]) -> None:
    print(f"{store} region savings: p50 {got['p50']:.1f} ms, p99 {got['p99']:.1f} ms; as of the"
          f" middle from history: p50 {got['as_of_p50']:.1f} ms, p99 {got['as_of_p99']:.1f} ms;"
          f" scratch replay to it {got['replay_s']:.1f} s")


def sqlite_url(tmp: str) -> str:
    return f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--schools", type=int, default=2)
    parser.add_argument("--pupils", type=int, default=600)
    parser.add_argument("--days", type=int, default=18)
    parser.add_argument("--postgres", help="postgresql://...?schema=x (an empty schema)")
    parser.add_argument("--postgres-query", help="another empty schema, for the savings case")
    args = parser.parse_args(argv)
    sizes: dict[str, Any] = dict(schools=args.schools, pupils=args.pupils, days=args.days)
    with tempfile.TemporaryDirectory() as tmp:
        wall, cpu = catch_up_events_per_s(sqlite_url(tmp), **sizes)
        print(f"sqlite catch-up: {wall:,.0f} events/s ({cpu:,.0f} per CPU second)")
    with tempfile.TemporaryDirectory() as tmp:
        _print_savings("sqlite", savings_query_ms(sqlite_url(tmp), **sizes))
    if args.postgres:
        wall, cpu = catch_up_events_per_s(args.postgres, **sizes)
        print(f"postgres catch-up: {wall:,.0f} events/s ({cpu:,.0f} per client CPU second)")
    if args.postgres_query:
        _print_savings("postgres", savings_query_ms(args.postgres_query, **sizes))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


# -- the harness's cases (python -m bench) ------------------------------------------------
from functools import cache  # noqa: E402

from bench.harness import Case  # noqa: E402

ORDER = 70
_SCHOOLS = {True: 1, False: 3}


def _catch_up(backend: str):  # type: ignore[no-untyped-def]
    def case(ctx) -> float:  # type: ignore[no-untyped-def]
        ctx.status(f"{_SCHOOLS[ctx.quick]} school(s) x 600 pupils x 18 days")
        return catch_up_events_per_s(ctx.database_url(backend), schools=_SCHOOLS[ctx.quick])[0]
    return case


_savings_runs: dict[str, list[dict[str, float]]] = {}


def _savings(backend: str, key: str):  # type: ignore[no-untyped-def]
    def case(ctx) -> float:  # type: ignore[no-untyped-def]
        runs = _savings_runs.setdefault(backend, [])
        taken = _taken.setdefault((backend, key), 0)
        if taken >= len(runs):
            ctx.status("region savings queries")
            runs.append(savings_query_ms(ctx.database_url(backend), schools=_SCHOOLS[ctx.quick]))
        _taken[(backend, key)] = taken + 1
        value = runs[taken][key]
        return value * 1000 if key == "replay_s" else value
    return case


_taken: dict[tuple[str, str], int] = {}
_ = cache

CASES = []
for _backend, _prefix, _base in (("postgres", "pg", "pg.raw.select_decode"),
                                 ("sqlite", "sqlite", "sqlite.raw.select_decode")):
    CASES.append(Case(f"{_prefix}.projections.catch_up", "Read models", "events/s",
                      _catch_up(_backend), _base,
                      ">= 100,000 events/s" if _backend == "postgres" else None, _backend))  # type: ignore[arg-type]
    for _key, _target in (("p50", None), ("p99", "< 20 ms"), ("as_of_p50", None),
                          ("as_of_p99", None), ("replay_s", None)):
        CASES.append(Case(f"{_prefix}.projections.region_savings_{_key}", "Read models", "ms",
                          _savings(_backend, _key), None, _target, _backend))  # type: ignore[arg-type]
