"""The projection mechanism: rebuilds equal the live tables, a restarted runner continues from
its tracking position, a failure inside the transaction leaves rows and position unchanged,
and read-your-writes waits are bounded."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import pytest
from ledger_fixtures import at, canteen, enrol, make_school, weekdays
from projection_fixtures import dump_tables, head, make_runner, small_history

from ledger.base import stable_id
from ledger.child import Wallet
from ledger.scans import TerminalItem
from ledger.sqldb import Cursor, SideDatabase
from ledger.store import close_ledger, open_ledger
from projections import queries
from projections.runner import Runner
from projections.simple import Meals, Months


class Boom(RuntimeError):
    pass


def fresh_copy(ledger: Any) -> dict[str, list[tuple[Any, ...]]]:
    """The read models built from nothing in a scratch database: the exactly-once answer."""
    scratch = SideDatabase("sqlite", sqlite_path=":memory:")
    try:
        make_runner(ledger, db=scratch).catch_up()
        return dump_tables(scratch)
    finally:
        scratch.close()


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_rebuild_produces_tables_equal_to_the_live_ones(backend: str,
                                                          request: pytest.FixtureRequest) -> None:
    url = request.getfixturevalue(f"{backend}_url")
    ledger = open_ledger(url)
    try:
        runner = make_runner(ledger, page_size=7)  # live: many small batches
        small_history(ledger)
        runner.catch_up()
        small_history(ledger, "s2")  # a second batch of history on top of applied rows
        runner.catch_up()
        live = dump_tables(runner.db)
        assert sum(len(rows) for rows in live.values()) > 250
        assert runner.rebuild() == head(ledger)
        assert dump_tables(runner.db) == live
        assert runner.rebuild(["lists", "meals"]) == head(ledger)
        assert dump_tables(runner.db) == live
    finally:
        close_ledger(ledger)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_runner_started_after_a_restart_continues_without_double_counting(
        backend: str, request: pytest.FixtureRequest) -> None:
    url = request.getfixturevalue(f"{backend}_url")
    first = open_ledger(url)
    try:
        kids = small_history(first)
        runner = make_runner(first)
        runner.catch_up()
        stopped_at = runner.position()
        assert stopped_at == head(first)
    finally:
        close_ledger(first)
    second = open_ledger(url)
    try:
        for kid in kids:
            second.top_up(kid, f"{kid}-second", 500, at(weekdays()[10], 7))
        runner = make_runner(second)
        assert runner.position() == stopped_at
        assert runner.catch_up() == head(second) - stopped_at
        with runner.db.read() as cur:
            for kid in kids:
                wallet = second.load(Wallet, stable_id("wallet", kid))
                assert queries.balance(cur, kid).balance_kzt == wallet.balance_kzt
        assert dump_tables(runner.db) == fresh_copy(second)
    finally:
        close_ledger(second)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_store_from_before_table_versions_rebuilds_meals_and_lists_and_drops_old_tables(
        backend: str, request: pytest.FixtureRequest) -> None:
    url = request.getfixturevalue(f"{backend}_url")
    ledger = open_ledger(url)
    try:
        small_history(ledger)
        runner = make_runner(ledger)
        runner.catch_up()
        with runner.db.transaction() as cur:  # as an older runner left the store
            cur.execute("DELETE FROM pm_version")
            cur.execute("UPDATE pm_meal SET balance_kzt = NULL")
            cur.execute("CREATE TABLE pm_notification (position BIGINT PRIMARY KEY)")
            cur.execute("CREATE TABLE pm_child_day (child_id TEXT, day TEXT)")  # lists v1
            cur.execute("INSERT INTO pm_tracking (name, position) VALUES ('notifications', 1)")
            cur.execute("INSERT INTO pm_delivery (position, delivered_at) VALUES (1, 'then')")
        reopened = make_runner(ledger)
        positions = reopened.positions()
        assert positions["meals"] == positions["lists"] == 0 < positions["balances"]
        assert reopened.catch_up() == head(ledger)
        assert dump_tables(reopened.db) == fresh_copy(ledger)
        with reopened.db.read() as cur:
            assert cur.fetchall("SELECT position, delivered_at FROM pm_delivery") == [(1, "then")]
            assert cur.fetchall("SELECT name FROM pm_tracking WHERE name = 'notifications'") == []
            with pytest.raises(Exception, match="pm_notification"):
                cur.fetchall("SELECT * FROM pm_notification")
        with reopened.db.read() as cur, pytest.raises(Exception, match="pm_child_day"):
            cur.fetchall("SELECT * FROM pm_child_day")
    finally:
        close_ledger(ledger)


def index_names(db: SideDatabase) -> set[str]:
    with db.read() as cur:
        if db.kind == "postgres":
            rows = cur.fetchall("SELECT indexname FROM pg_indexes WHERE schemaname ="
                                " current_schema() AND substr(indexname, 1, 3) = 'pm_'")
        else:
            rows = cur.fetchall("SELECT name FROM sqlite_master WHERE type = 'index' AND"
                                " sql IS NOT NULL AND substr(name, 1, 3) = 'pm_'")
    return {str(name) for (name,) in rows}


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_read_models_built_from_the_first_event_get_their_indexes_at_the_head(
        backend: str, request: pytest.FixtureRequest) -> None:
    url = request.getfixturevalue(f"{backend}_url")
    ledger = open_ledger(url)
    try:
        small_history(ledger)
        events = head(ledger)
        runner = make_runner(ledger, page_size=events)  # the head ends a full page
        assert "pm_meal_child" not in index_names(runner.db)
        assert runner.run_once() == events
        assert "pm_meal_child" not in index_names(runner.db)  # the head not known yet
        assert runner.run_once() == 0
        built = index_names(runner.db)
        assert {"pm_meal_child", "pm_pass_person", "pm_child_month_school"} <= built
        assert runner._deferred == []
        reopened = make_runner(ledger, page_size=7)  # a store with rows: nothing deferred
        assert index_names(reopened.db) == built and reopened._deferred == []
        small_history(ledger, "s2")
        assert reopened.catch_up() == head(ledger) - events
        assert dump_tables(reopened.db) == fresh_copy(ledger)
    finally:
        close_ledger(ledger)


def failing_after(original: Any) -> Any:
    """An apply that writes its rows and then fails, inside the runner's transaction."""

    def apply(self: Any, cur: Cursor, batch: Sequence[tuple[int, Any]]) -> None:
        original(self, cur, batch)
        raise Boom("disk on fire")

    return apply


@pytest.mark.parametrize("projection", [Meals, Months])
def test_a_failure_inside_the_transaction_leaves_rows_and_position_unchanged(
        store_url: str, projection: type, monkeypatch: pytest.MonkeyPatch) -> None:
    ledger = open_ledger(store_url)
    try:
        kids = small_history(ledger)
        runner = make_runner(ledger)
        runner.catch_up()
        before, positions = dump_tables(runner.db), runner.positions()
        ledger.top_up(kids[0], "late-pay", 300, at(weekdays()[9], 7))
        ledger.record_terminal_events(canteen(), [TerminalItem(
            event_id="late-meal", kind="meal", at=at(weekdays()[9], 12), child_id=kids[2])])
        monkeypatch.setattr(projection, "apply", failing_after(projection.apply))
        with pytest.raises(Boom):
            runner.run_once()
        assert dump_tables(runner.db) == before
        assert runner.positions() == positions
        monkeypatch.undo()
        assert runner.run_once() > 0
        assert runner.position() == head(ledger)
        assert dump_tables(runner.db) == fresh_copy(ledger)
    finally:
        close_ledger(ledger)


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
def test_wait_for_returns_once_the_background_runner_has_applied_the_write(
        backend: str, request: pytest.FixtureRequest) -> None:
    url = "memory://" if backend == "memory" else request.getfixturevalue("sqlite_url")
    ledger = open_ledger(url)
    runner = make_runner(ledger)
    runner.start(poll_s=0.01)
    try:
        make_school(ledger)
        enrol(ledger, "c1", 2)
        ledger.record_terminal_events(canteen(), [TerminalItem(
            event_id="m1", kind="meal", at=at(weekdays()[0], 11), child_id="c1")])
        started = time.monotonic()
        assert runner.wait_for(head(ledger), timeout_s=2.0)
        assert time.monotonic() - started < 2.0
        with runner.db.read() as cur:
            assert [m.event_id for m in queries.child_meals(cur, "c1", "2025-10")] == ["m1"]
    finally:
        runner.stop()
        close_ledger(ledger)


def test_wait_for_gives_up_within_its_bound_when_the_runner_cannot_advance(
        monkeypatch: pytest.MonkeyPatch) -> None:
    ledger = open_ledger("memory://")
    runner = make_runner(ledger)
    try:
        make_school(ledger)
        runner.start(poll_s=0.01)
        assert runner.wait_for(head(ledger), timeout_s=2.0)
        monkeypatch.setattr(Meals, "apply", failing_after(Meals.apply))
        enrol(ledger, "c1", 2)
        started = time.monotonic()
        assert runner.wait_for(head(ledger), timeout_s=0.3) is False
        assert 0.25 <= time.monotonic() - started < 1.0
        assert runner.errors > 0
        runner.stop()
        monkeypatch.undo()
        # stopped: wait_for catches up in the caller's thread instead of waiting
        assert runner.wait_for(head(ledger), timeout_s=0.3) is True
    finally:
        runner.stop()
        close_ledger(ledger)


def test_a_stopped_runner_stays_behind_until_someone_catches_up() -> None:
    ledger = open_ledger("memory://")
    runner = make_runner(ledger)
    try:
        runner.start(poll_s=0.01)
        make_school(ledger)
        assert runner.wait_for(head(ledger), timeout_s=2.0)
        runner.stop()
        enrol(ledger, "c1", 2)
        time.sleep(0.05)
        assert runner.position() < head(ledger)
        assert isinstance(runner, Runner)
    finally:
        runner.stop()
        close_ledger(ledger)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_the_page_read_ahead_is_used_only_for_the_page_it_was_read_for(
        backend: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """A runner reads the next page while it writes this one: a page that fails leaves
    the read-ahead unused (the same page is applied again from its start, once), and events
    written after the read-ahead are read on a later page."""
    url = request.getfixturevalue(f"{backend}_url")
    ledger = open_ledger(url)
    try:
        kids = small_history(ledger)
        runner = make_runner(ledger, page_size=7)
        assert runner.run_once() == 7
        assert runner._ahead is not None and runner._ahead[0] == 7  # the next page, read ahead
        monkeypatch.setattr(Meals, "apply", failing_after(Meals.apply))
        for _ in range(2):  # the read-ahead page fails, then the same page read anew fails
            with pytest.raises(Boom):
                runner.run_once()
            assert runner.position() == 7
        monkeypatch.undo()
        assert runner.run_once() == 7 and runner.position() == 14
        ledger.top_up(kids[0], "after-the-read-ahead", 300, at(weekdays()[9], 7))
        assert runner.catch_up() == head(ledger) - 14
        assert runner._reader is None  # caught up: the reading thread is gone
        assert dump_tables(runner.db) == fresh_copy(ledger)
    finally:
        close_ledger(ledger)


def test_an_empty_page_read_ahead_does_not_hide_events_written_after_it(
        store_url: str) -> None:
    """A full page makes the runner read the next one ahead; when that came back empty
    and events are written before the next turn, the next turn still finds them."""
    ledger = open_ledger(store_url)
    try:
        kids = small_history(ledger)
        events = head(ledger)
        runner = make_runner(ledger, page_size=events)
        assert runner.run_once() == events  # a full page: the (empty) next one read ahead
        assert runner._ahead is not None and runner._ahead[1].result()[0] == []
        ledger.top_up(kids[0], "after-the-empty-read-ahead", 300, at(weekdays()[9], 7))
        assert runner.run_once() == head(ledger) - events
        assert dump_tables(runner.db) == fresh_copy(ledger)
    finally:
        close_ledger(ledger)
