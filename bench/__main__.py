"""`python -m bench [--quick] [--only NAME ...] [--repeat N] [--out BENCHMARKS.md]`."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import msgspec
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from bench import report
from bench.context import FULL, QUICK, Context, Sizes, database_url, postgres_problem
from bench.harness import (
    REPEAT_MAX, REPEAT_MIN, BenchError, Case, Outcome, RunPlan, discover, run_case, select,
)
from bench.rows import make_rows

WAIT_IDLE_S_MAX = 3_600
WAIT_IDLE_POLL_S = 15


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--quick", action="store_true", help="small sizes (about a minute)")
    p.add_argument("--only", nargs="+", action="extend", default=[], metavar="NAME",
                   help="case names or globs (their baselines are run too)")
    p.add_argument("--repeat", type=int, default=3, help=f"runs per case, {REPEAT_MIN}..{REPEAT_MAX}")
    p.add_argument("--out", type=Path, default=Path("BENCHMARKS.md"), help="markdown report path")
    p.add_argument("--json", type=Path, default=None, help="also write raw outcomes as JSON")
    p.add_argument("--list", action="store_true", help="list the cases and exit")
    p.add_argument("--wait-idle", type=int, default=0, metavar="SECONDS",
                   help=f"first wait up to SECONDS (max {WAIT_IDLE_S_MAX}) for a quiet machine")
    return p.parse_args(argv)


def wait_for_idle(max_s: int, console: Console) -> None:
    """Wait until the 1-minute load average is at most half the cores, or `max_s` passes."""
    limit = report.BUSY_LOAD_PER_CORE * (os.cpu_count() or 1)
    deadline = time.monotonic() + min(max_s, WAIT_IDLE_S_MAX)
    while (load := report.load_average()) > limit and time.monotonic() < deadline:
        console.print(f"waiting for a quiet machine: load {load:.2f} > {limit:.2f}")
        time.sleep(WAIT_IDLE_POLL_S)


def describe_run(sizes: Sizes, quick: bool, repeat: int, wall_s: float) -> str:
    rows = make_rows(sizes.rows)
    state_bytes = sum(len(r.state) for r in rows) / len(rows)
    return (
        f"{'quick' if quick else 'full'}: {sizes.rows:,} shared event rows (state ≈ {state_bytes:.0f} B), "
        f"{sizes.per_commit_rows:,} rows for one-commit-per-row INSERT, "
        f"{sizes.single_save_events:,} events for one save per event, "
        f"{sizes.events_per_save} events per save, replay pages of {sizes.page_size:,}; "
        f"repeat {repeat}; wall time {wall_s:.0f} s"
    )


def list_cases(cases: Sequence[Case]) -> None:
    for case in cases:
        base = f"vs {case.baseline}" if case.baseline else ""
        print(f"{case.name:40} {case.backend:9} {case.unit:10} {base}".rstrip())


def outcome_line(case: Case, outcome: Outcome) -> str:
    if outcome.summary is None:
        why = outcome.error or f"skipped: {outcome.skipped}"
        return f"[red]{case.name}: {escape(why)}[/red]"
    s, fmt = outcome.summary, report.fmt
    return f"{case.name}: {fmt(s.median)} {case.unit} (min {fmt(s.min)}, max {fmt(s.max)})"


def run_with_progress(cases: list[Case], args: argparse.Namespace, url: str,
                      problem: str | None, console: Console) -> list[Outcome]:
    sizes = QUICK if args.quick else FULL
    make_rows(sizes.rows)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    outcomes: list[Outcome] = []
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("benchmarks", total=len(cases) * args.repeat)

        def make_context(case: Case, run: int) -> Context:
            label = f"{case.name} [{run + 1}/{args.repeat}]"
            progress.update(task, description=label)
            return Context(sizes=sizes, quick=args.quick, base_url=url, progress=progress,
                           task=task, label=label)

        plan = RunPlan(cases, args.repeat, make_context,
                       on_run_done=lambda case, run: progress.advance(task),
                       postgres_unavailable=problem)
        for case in cases:
            outcomes.append(run_case(case, plan))
            progress.console.print(outcome_line(case, outcomes[-1]))
    return outcomes


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    console = Console(stderr=True)
    try:
        cases = select(discover(), args.only)
    except BenchError as exc:
        console.print(f"[red]{escape(str(exc))}[/red]")
        return 2
    if args.list:
        list_cases(cases)
        return 0
    if not REPEAT_MIN <= args.repeat <= REPEAT_MAX:
        console.print(f"[red]--repeat must be in {REPEAT_MIN}..{REPEAT_MAX}[/red]")
        return 2
    if args.wait_idle > 0:
        wait_for_idle(args.wait_idle, console)
    started, load_at_start = time.perf_counter(), report.load_average()
    url = database_url()
    needs_pg = any(case.backend == "postgres" for case in cases)
    problem = postgres_problem(url) if needs_pg else None
    if problem:
        console.print(f"[yellow]{escape(problem)}: PostgreSQL cases are skipped[/yellow]")
    outcomes = run_with_progress(cases, args, url, problem, console)
    sizes = QUICK if args.quick else FULL
    run_text = describe_run(sizes, args.quick, args.repeat, time.perf_counter() - started)
    header = report.collect_header(postgres_url=url if needs_pg else None, run=run_text,
                                   load_at_start=load_at_start)
    report.write(args.out, report.render(cases, outcomes, header))
    if args.json:
        args.json.write_bytes(msgspec.json.encode({"header": header, "outcomes": outcomes}))
    console.print(f"wrote {args.out}")
    return 1 if any(o.error for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
