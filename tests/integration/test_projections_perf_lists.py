"""The read models' fast paths keep their answers: the lists projection computes a child's
rows once per page and once per stretch of unchanged days, late changes in the middle of a
month split the stretch where they take effect, and the as-of scratch store replays only the
read models the as-of reports read, with the same figures as a full replay."""

from __future__ import annotations

from typing import Any

import pytest
from ledger_fixtures import ENROLLED_ON, MONTH, enrol, make_school, weekdays
from projection_fixtures import all_table_names, dump_tables, head, make_runner

from ledger.sqldb import SideDatabase
from ledger.store import close_ledger, open_ledger
from projections import lists, queries, reports
from projections.pointintime import AS_OF_NAMES, Scratch
from projections.schema import table_names

PUPILS = 12


def counting_rows(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    calls: list[tuple[str, str]] = []
    original = lists.child_day_row

    def counted(child: Any, school: Any, day: Any) -> Any:
        calls.append((child.child_id, day.isoformat()))
        return original(child, school, day)

    monkeypatch.setattr(lists, "child_day_row", counted)
    return calls


def test_a_month_without_changes_runs_the_rules_once_per_event_not_once_per_day(
        monkeypatch: pytest.MonkeyPatch) -> None:
    ledger = open_ledger("memory://")
    try:
        days = make_school(ledger)
        for n in range(PUPILS):
            enrol(ledger, f"k{n}", 1 + n % 4)  # enrolment, voucher assigned and activated
        ledger.set_calendar("s1", MONTH, days[:-1])  # a school event after its pupils' events
        calls = counting_rows(monkeypatch)
        runner = make_runner(ledger)
        runner.catch_up()
        events_per_pupil = 3 + 1  # its own three and the school's new calendar
        assert len(calls) == PUPILS * events_per_pupil
        assert {day for _, day in calls} == {days[0].isoformat()}  # one stretch: the month
        with runner.db.read() as cur:
            listed = queries.entitlements(cur, "s1", days[3])
            assert sum(c.on_list for c in listed.children) == PUPILS
            rows = cur.fetchone("SELECT count(*), sum(day_count) FROM pm_child_month")
        # one month row a pupil (the same row on every school day), holding each day
        assert rows is not None and (rows[0], rows[1]) == (PUPILS, PUPILS * (len(days) - 1))
    finally:
        close_ledger(ledger)


def test_a_category_ending_mid_month_splits_the_rows_on_the_day_after() -> None:
    ledger = open_ledger("memory://")
    try:
        days = make_school(ledger)
        enrol(ledger, "senior", 7, categories=["large_family"])
        ledger.assign_category("senior", "low_income", ENROLLED_ON, days[4], "doc")
        runner = make_runner(ledger)
        runner.catch_up()
        with runner.db.read() as cur:
            rows = [(r[1], r[7]) for r in lists.child_days(cur, "child_id = ?", ("senior",))]
            stored = cur.fetchone("SELECT count(*) FROM pm_child_month WHERE child_id = ?",
                                  ("senior",))
        assert stored is not None and stored[0] == 2  # two stretches: two month rows
        assert [c for _, c in rows] == ["large_family,low_income"] * 5 + \
            ["large_family"] * (len(days) - 5)
        assert [d for d, _ in rows] == [d.isoformat() for d in days]
    finally:
        close_ledger(ledger)


def test_the_as_of_scratch_store_answers_savings_like_a_full_replay() -> None:
    ledger = open_ledger("memory://")
    try:
        make_school(ledger)
        for n in range(PUPILS):
            enrol(ledger, f"k{n}", 2 + n % 9, categories=["large_family"] if n % 2 else [])
        position = head(ledger)
        full = SideDatabase("sqlite", sqlite_path=":memory:")
        make_runner(ledger, db=full).catch_up()
        scratch = Scratch(ledger).at(position)
        with full.read() as a, scratch.read() as b:
            assert reports.school_savings(b, "s1", MONTH) == reports.school_savings(a, "s1", MONTH)
            assert reports.region_savings(b, "r1", MONTH) == reports.region_savings(a, "r1", MONTH)
            assert queries.entitlements(b, "s1", weekdays()[2]) == \
                queries.entitlements(a, "s1", weekdays()[2])
        names = {"pm_school", "pm_plan", "pm_child_month", "pm_daily_cost", "pm_meal"}
        everything, replayed = dump_tables(full), dump_tables(scratch, skip=_not_as_of())
        assert {t: everything[t] for t in names} == {t: replayed[t] for t in names}
        full.close()
    finally:
        close_ledger(ledger)


def _not_as_of() -> tuple[str, ...]:
    kept = {t for name in (*AS_OF_NAMES, "tracking") for t in table_names(name)}
    return tuple(t for t in all_table_names() if t not in kept)
