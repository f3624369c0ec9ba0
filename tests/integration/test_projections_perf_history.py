"""Savings as of a position read from the live read models' history equal the savings of a
scratch store replayed to that position, for random histories cut into pages of any size;
a store without the history (or behind the position) falls back to the replay."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from projection_fixtures import head, make_runner, small_history
from properties.test_projections_reference import MONTHS, OPS, SCHOOLS, World, set_up

from ledger.store import close_ledger, open_ledger
from projections import history, reports
from projections.pointintime import Scratch, region_savings_at, school_savings_at

POSITIONS_CHECKED = 6


def assert_history_equals_replay(ledger: Any, runner: Any, positions: list[int]) -> None:
    scratch = Scratch(ledger, names=None)
    for position in positions:
        replayed = scratch.at(position)
        with runner.db.read() as live, replayed.read() as cur:
            for month in MONTHS:
                for school_id in SCHOOLS:
                    assert history.school_savings_as_of(live, school_id, month, position) == \
                        reports.school_savings(cur, school_id, month), (school_id, month, position)
                assert history.region_savings_as_of(live, "r1", month, position) == \
                    reports.region_savings(cur, "r1", month), (month, position)


def run_history(url: str, page_size: int, ops: list[tuple[Any, ...]], data: Any) -> None:
    ledger = open_ledger(url)
    try:
        runner = make_runner(ledger, page_size=page_size)
        set_up(ledger)
        world = World(ledger, runner)
        for op in ops:
            world.apply(op)
        runner.catch_up()
        last = head(ledger)
        picked = data.draw(st.lists(st.integers(0, last), max_size=POSITIONS_CHECKED))
        assert_history_equals_replay(ledger, runner, sorted({0, last, *picked}))
    finally:
        close_ledger(ledger)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(OPS, min_size=10, max_size=40), page_size=st.sampled_from((1, 3, 17, 5000)),
       data=st.data())
def test_savings_as_of_any_position_from_history_equal_a_replay_on_memory(
        ops: list[tuple[Any, ...]], page_size: int, data: Any) -> None:
    run_history("memory://", page_size, ops, data)


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(OPS, min_size=5, max_size=25), data=st.data())
def test_savings_as_of_any_position_from_history_equal_a_replay_on_sqlite(
        ops: list[tuple[Any, ...]], data: Any) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        run_history(f"sqlite:///{Path(tmp) / 'tamaq.sqlite3'}", 5000, ops, data)


def test_savings_as_of_from_history_equal_a_replay_on_postgres(postgres_url: str) -> None:
    ledger = open_ledger(postgres_url)
    try:
        runner = make_runner(ledger, page_size=50)
        small_history(ledger)
        small_history(ledger, "s2", prefix="b-")
        runner.catch_up()
        last = head(ledger)
        scratch = Scratch(ledger, names=None)
        for position in sorted({0, 1, last // 3, last // 2, last - 7, last}):
            with runner.db.read() as live, scratch.at(position).read() as cur:
                for school_id in ("s1", "s2"):
                    assert history.school_savings_as_of(live, school_id, "2025-10", position) \
                        == reports.school_savings(cur, school_id, "2025-10")
                assert history.region_savings_as_of(live, "r1", "2025-10", position) == \
                    reports.region_savings(cur, "r1", "2025-10")
    finally:
        close_ledger(ledger)


def test_a_store_upgraded_without_history_answers_earlier_positions_by_replay() -> None:
    ledger = open_ledger("memory://")
    try:
        runner = make_runner(ledger)
        small_history(ledger)
        runner.catch_up()
        middle = head(ledger) // 2
        with runner.db.transaction() as cur:  # as a store that kept no history until now
            cur.execute("UPDATE pm_history SET since = ? WHERE name = 'lists'", (head(ledger),))
        scratch = Scratch(ledger)
        with runner.db.read() as live:
            try:
                history.school_savings_as_of(live, "s1", "2025-10", middle)
                raise AssertionError("history answered before it begins")
            except history.HistoryUnavailable as refused:
                assert "keeps history only from position" in str(refused)
        school = school_savings_at(runner.db, scratch, "s1", "2025-10", middle)
        region = region_savings_at(runner.db, scratch, "r1", "2025-10", middle)
        with scratch.at(middle).read() as cur:
            assert school == reports.school_savings(cur, "s1", "2025-10")
            assert region == reports.region_savings(cur, "r1", "2025-10")
        assert school.position == middle and school.planned_kzt > 0
    finally:
        close_ledger(ledger)
