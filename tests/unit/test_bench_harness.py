"""The benchmark harness: statistics, selection, the report, and one end-to-end run."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # `pytest` run without `python -m`
    sys.path.insert(0, str(ROOT))

from bench import report  # noqa: E402
from bench.context import QUICK, Context  # noqa: E402
from bench.harness import (  # noqa: E402
    Case,
    CaseDefinitionError,
    Outcome,
    RunPlan,
    Stopwatch,
    check_cases,
    discover,
    run_all,
    select,
    summarise,
)
from bench.rows import MEALS_PER_CHILD, TOPIC, decode_meal, make_rows  # noqa: E402


def replaying(values: list[float]) -> Iterator[float]:
    yield from values


def case_returning(name: str, values: list[float], baseline: str | None = None) -> Case:
    source = replaying(values)
    return Case(name, "Group A", "rows/s", lambda ctx: next(source), baseline=baseline)


def plan_for(cases: list[Case], repeat: int) -> RunPlan:
    return RunPlan(cases, repeat, lambda case, run: Context(sizes=QUICK, quick=True))


def test_summary_of_odd_samples_is_middle_value_with_extremes() -> None:
    summary = summarise([30.0, 10.0, 20.0])
    assert (summary.median, summary.min, summary.max, summary.runs) == (20.0, 10.0, 30.0, 3)


def test_summary_of_even_samples_averages_the_two_middle_values() -> None:
    summary = summarise([4.0, 1.0, 3.0, 2.0])
    assert (summary.median, summary.min, summary.max) == (2.5, 1.0, 4.0)


def test_summary_of_no_samples_is_refused() -> None:
    with pytest.raises(ValueError, match="zero samples"):
        summarise([])


@given(st.lists(st.floats(min_value=0, max_value=1e9), min_size=1, max_size=30))
def test_summary_median_lies_between_min_and_max_of_any_samples(samples: list[float]) -> None:
    summary = summarise(samples)
    assert summary.min <= summary.median <= summary.max
    assert summary.median == pytest.approx(statistics.median(sorted(samples)))
    assert (summary.min, summary.max) == (min(samples), max(samples))


def test_each_case_runs_repeat_times_and_keeps_every_sample() -> None:
    outcomes = run_all(plan_for([case_returning("a", [5.0, 1.0, 9.0, 7.0])], repeat=4))
    assert outcomes[0].samples == (5.0, 1.0, 9.0, 7.0)
    assert outcomes[0].summary is not None and outcomes[0].summary.median == 6.0


def test_a_failing_case_is_recorded_and_the_next_case_still_runs() -> None:
    def broken(ctx: Context) -> float:
        raise RuntimeError("disk on fire")

    cases = [Case("broken", "G", "ms", broken), case_returning("fine", [1.0, 2.0, 3.0])]
    outcomes = run_all(plan_for(cases, repeat=3))
    assert outcomes[0].summary is None and "disk on fire" in (outcomes[0].error or "")
    assert outcomes[1].summary is not None and outcomes[1].summary.median == 2.0


def test_a_paired_case_runs_its_baseline_right_before_each_run_and_takes_ratios_run_by_run(
        ) -> None:
    order: list[str] = []
    host = iter([100.0, 50.0, 400.0, 200.0, 100.0, 50.0, 200.0, 100.0, 100.0])  # the host's speed swings

    def timed(name: str) -> Case:
        def run(ctx: Context) -> float:
            order.append(name)
            return next(host)
        return Case(name, "G", "rows/s", run, baseline="raw" if name == "api" else None,
                    paired=name == "api")

    raw, api = timed("raw"), timed("api")
    plan = plan_for([raw, api], repeat=3)
    outcomes = run_all(plan)
    # the baseline's own runs first, then each run of the case right after a baseline run
    assert order == ["raw", "raw", "raw", "raw", "api", "raw", "api", "raw", "api"]
    assert outcomes[0].samples == (100.0, 50.0, 400.0)
    assert outcomes[1].beside == (200.0, 50.0, 100.0)
    assert outcomes[1].samples == (100.0, 200.0, 100.0)
    assert outcomes[1].paired_ratios == (0.5, 4.0, 1.0)
    text = report.render([raw, api], outcomes, report.collect_header(postgres_url=None, run="t"))
    # median/median would say 1.0x; run by run the ratios are 0.5, 4 and 1
    assert "| api | 100 | 100 | 200 | rows/s | raw (100); beside each run: 100 | 1× paired (0.5-4) |" \
        in text


def test_a_paired_case_whose_baseline_fails_beside_it_says_so() -> None:
    def broken(ctx: Context) -> float:
        raise RuntimeError("no database")

    raw = Case("raw", "G", "rows/s", broken)
    api = case_returning("api", [1.0, 2.0, 3.0], baseline="raw")
    paired = Case("api", "G", "rows/s", api.run, baseline="raw", paired=True)
    (_, outcome) = run_all(plan_for([raw, paired], repeat=3))
    assert outcome.summary is None
    assert "its baseline raw, run beside it, failed" in (outcome.error or "")
    assert "no database" in (outcome.error or "")
    with pytest.raises(CaseDefinitionError, match="needs a baseline"):
        Case("alone", "G", "rows/s", api.run, paired=True)


def test_a_run_longer_than_its_timeout_is_stopped_and_reported() -> None:
    slow = Case("slow", "G", "ms", lambda ctx: time.sleep(5) or 0.0, timeout_s=1)
    started = time.perf_counter()
    (outcome,) = run_all(plan_for([slow], repeat=3))
    assert time.perf_counter() - started < 3
    assert "CaseTimeoutError" in (outcome.error or "")


def test_postgres_cases_are_skipped_with_the_reason_when_the_server_is_unreachable() -> None:
    case = Case("pg.x", "G", "rows/s", lambda ctx: 1.0, backend="postgres")
    plan = plan_for([case], repeat=3)
    plan.postgres_unavailable = "PostgreSQL unreachable"
    (outcome,) = run_all(plan)
    assert outcome.summary is None and outcome.skipped == "PostgreSQL unreachable"


def test_only_pulls_in_the_baselines_of_the_selected_cases_in_registry_order() -> None:
    cases = [
        case_returning("raw", [1.0]),
        case_returning("lib", [1.0], baseline="raw"),
        case_returning("api", [1.0], baseline="lib"),
        case_returning("other", [1.0]),
    ]
    assert [c.name for c in select(cases, ["api"])] == ["raw", "lib", "api"]
    assert [c.name for c in select(cases, ["o*"])] == ["other"]
    with pytest.raises(CaseDefinitionError, match="matches no case"):
        select(cases, ["nothing"])


def test_case_definitions_are_checked_for_units_duplicates_and_unknown_baselines() -> None:
    with pytest.raises(CaseDefinitionError, match="unit"):
        Case("x", "G", "furlongs", lambda ctx: 1.0)
    with pytest.raises(CaseDefinitionError, match="duplicate"):
        check_cases([case_returning("x", []), case_returning("x", [])])
    with pytest.raises(CaseDefinitionError, match="baseline"):
        check_cases([case_returning("x", [], baseline="missing")])


def test_registry_holds_every_baseline_the_performance_issue_names() -> None:
    names = {case.name for case in discover()}
    for prefix in ("pg", "sqlite"):
        assert {f"{prefix}.raw.insert_commit_per_row", f"{prefix}.raw.executemany_one_tx",
                f"{prefix}.raw.select_decode", f"{prefix}.lib.one_save_per_event",
                f"{prefix}.lib.save_500_per_save", f"{prefix}.lib.replay_notification_log"} <= names
    assert "pg.raw.copy_binary" in names


def test_report_lists_every_case_with_its_baseline_median_and_ratio() -> None:
    cases = [
        case_returning("raw.insert", [], None),
        case_returning("lib.save", [], baseline="raw.insert"),
        Case("lib.broken", "Group B", "ms", lambda ctx: 0.0, baseline="raw.insert"),
    ]
    outcomes = [
        Outcome("raw.insert", "Group A", "rows/s", (4000.0,), summarise([4000.0, 3900.0, 4100.0])),
        Outcome("lib.save", "Group A", "rows/s", (), summarise([1000.0, 900.0, 1200.0])),
        Outcome("lib.broken", "Group B", "ms", error="RuntimeError: boom"),
    ]
    header = report.collect_header(postgres_url=None, run="test run")
    text = report.render(cases, outcomes, header)
    assert "| raw.insert | 4,000 | 3,900 | 4,100 | rows/s |" in text
    assert "| lib.save | 1,000 | 900 | 1,200 | rows/s | raw.insert (4,000) | 0.25× |" in text
    assert "| lib.broken | error: RuntimeError: boom |" in text
    assert "## Group A" in text and "## Group B" in text
    for field in ("CPU", "RAM", "OS", "Python", "PostgreSQL server", "SQLite", "eventsourcing",
                  "psycopg", "msgspec"):
        assert f"| {field} |" in text


def test_shared_rows_are_deterministic_meal_events_of_about_170_bytes() -> None:
    rows = make_rows(200)
    assert rows == make_rows(200, seed=2025)
    assert all(row.topic == TOPIC for row in rows)
    assert 150 <= sum(len(r.state) for r in rows) / len(rows) <= 190
    versions: dict[object, list[int]] = {}
    for row in rows:
        versions.setdefault(row.originator_id, []).append(row.originator_version)
    assert len(versions) == 200 // MEALS_PER_CHILD
    assert all(v == list(range(1, len(v) + 1)) for v in versions.values())
    assert decode_meal(rows[0].state).price_kzt in (585, 710)


def test_stopwatch_rate_divides_count_by_elapsed_time() -> None:
    with Stopwatch() as sw:
        time.sleep(0.01)
    assert 0.01 <= sw.seconds < 1
    assert sw.rate(100) == pytest.approx(100 / sw.seconds)


def test_context_removes_its_tmp_dir_when_the_run_ends() -> None:
    with Context(sizes=QUICK, quick=True) as ctx:
        path = ctx.sqlite_path("x")
        path.write_bytes(b"data")
    assert not path.parent.exists()


def test_quick_run_of_a_raw_sqlite_case_writes_a_report_without_postgres(tmp_path: Path) -> None:
    out = tmp_path / "BENCH.md"
    env = {**os.environ, "TAMAQ_BENCH_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"}
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--only", "sqlite.raw.executemany_one_tx",
         "--out", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode == 0, done.stderr
    assert time.perf_counter() - started < 20
    text = out.read_text()
    row = next(line for line in text.splitlines() if line.startswith("| sqlite.raw.executemany_one_tx |"))
    median = float(row.split("|")[2].replace(",", ""))
    assert median > 0
    assert "| PostgreSQL server | not used |" in text
    assert "pg.raw" not in text
