"""As-of reports: replaying the log up to an instant gives what the live read models said
then, even after late corrections changed today's figures."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from ledger_fixtures import MONTH, SCHOOL_YEAR, at, canteen, enrol, make_school, weekdays
from projection_fixtures import head, make_runner

from ledger.rules import OfflineDecision
from ledger.scans import TerminalItem
from ledger.store import close_ledger, open_ledger
from projections import queries, reports
from projections.pointintime import Scratch, position_at


def meal(event_id: str, child_id: str, day_index: int, offline: bool = False) -> TerminalItem:
    return TerminalItem(event_id=event_id, kind="meal", at=at(weekdays()[day_index], 11),
                        child_id=child_id,
                        offline_decision=OfflineDecision("funded") if offline else None)


def test_savings_as_of_an_instant_equal_what_the_live_model_said_then(sqlite_url: str) -> None:
    ledger = open_ledger(sqlite_url)
    try:
        make_school(ledger)
        enrol(ledger, "p1", 2)
        enrol(ledger, "late", 8, categories=["large_family"], voucher=False)
        ledger.assign_voucher("late", "v-late", SCHOOL_YEAR)
        enrol(ledger, "uncategorised", 6)
        ledger.record_terminal_events(canteen(), [meal(f"m{i}", "p1", i) for i in range(5)])
        runner = make_runner(ledger)
        runner.catch_up()
        with runner.db.read() as cur:
            then_savings = reports.school_savings(cur, "s1", MONTH)
            then_list = queries.entitlements(cur, "s1", weekdays()[1])
        then_position = head(ledger)
        time.sleep(0.01)
        instant = datetime.now(UTC)
        time.sleep(0.01)
        # late facts: a back-dated voucher activation, a late-uploaded offline meal and a
        # category proved after the month started
        ledger.activate_voucher("late", "v-late", weekdays()[0])
        ledger.record_terminal_events(canteen(), [meal("late-1", "late", 1, offline=True)])
        ledger.assign_category("uncategorised", "low_income", weekdays()[0], None, "doc")
        runner.catch_up()
        with runner.db.read() as cur:
            today = reports.school_savings(cur, "s1", MONTH)
        assert today.planned_kzt > then_savings.planned_kzt
        assert today.actual_kzt > then_savings.actual_kzt

        position = position_at(ledger, instant)
        assert position == then_position
        with Scratch(ledger).at(position).read() as cur:
            as_of = reports.school_savings(cur, "s1", MONTH)
            as_of_list = queries.entitlements(cur, "s1", weekdays()[1])
        assert as_of == then_savings
        assert as_of_list == then_list
        assert as_of_list.voucher_not_activated == ["late"]
    finally:
        close_ledger(ledger)


def test_an_instant_before_the_first_event_replays_nothing() -> None:
    ledger = open_ledger("memory://")
    try:
        before = datetime.now(UTC)
        time.sleep(0.01)
        make_school(ledger)
        assert position_at(ledger, before) == 0
        with Scratch(ledger).at(0).read() as cur:
            assert reports.school_savings(cur, "s1", MONTH).planned_kzt == 0
    finally:
        close_ledger(ledger)
