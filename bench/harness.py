"""Benchmark cases, their statistics, discovery and the loop that runs them.

A case is a function `run(ctx) -> float` that does its own setup, times only the part
it measures (with `Stopwatch`) and returns one figure in its unit. The harness runs it
`repeat` times, each time in a fresh `Context`, and keeps median, min and max.
"""

from __future__ import annotations

import fnmatch
import importlib
import pkgutil
import signal
import statistics
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType, ModuleType
from typing import TYPE_CHECKING, Literal

import msgspec

if TYPE_CHECKING:
    from bench.context import Context

# unit -> True when a bigger figure is better.
UNITS: dict[str, bool] = {
    "events/s": True,
    "rows/s": True,
    "requests/s": True,
    "scans/s": True,
    "commands/s": True,
    "ms": False,
    "MB": False,
}
Backend = Literal["sqlite", "postgres", "memory"]
BACKENDS: tuple[str, ...] = ("sqlite", "postgres", "memory")
REPEAT_MIN = 1
REPEAT_MAX = 50
TIMEOUT_S_MAX = 3_600
BENCH_DIR = Path(__file__).resolve().parent


class BenchError(Exception):
    """Base of the harness's named errors."""


class CaseDefinitionError(BenchError):
    """A case is malformed: bad unit, backend, name, or a duplicate/unknown name."""


class CaseTimeoutError(BenchError):
    """One run of a case took longer than its `timeout_s`."""


@dataclass(frozen=True)
class Case:
    name: str
    group: str
    unit: str
    run: Callable[[Context], float]
    baseline: str | None = None
    target: str | None = None
    backend: Backend = "memory"
    timeout_s: int = 300
    # the target is a ratio to the baseline: the baseline runs again right before each run
    # of this case, and the ratio is taken run by run (the host's speed swings by the minute)
    paired: bool = False

    def __post_init__(self) -> None:
        if not self.name or any(c.isspace() for c in self.name):
            raise CaseDefinitionError(f"case name must be non-empty without spaces: {self.name!r}")
        if self.paired and self.baseline is None:
            raise CaseDefinitionError(f"case {self.name}: a paired case needs a baseline")
        if self.unit not in UNITS:
            raise CaseDefinitionError(
                f"case {self.name}: unit {self.unit!r} unknown; add it to bench.harness.UNITS"
            )
        if self.backend not in BACKENDS:
            raise CaseDefinitionError(f"case {self.name}: backend must be one of {BACKENDS}")
        if not 0 < self.timeout_s <= TIMEOUT_S_MAX:
            raise CaseDefinitionError(f"case {self.name}: timeout_s must be in 1..{TIMEOUT_S_MAX}")

    @property
    def higher_is_better(self) -> bool:
        return UNITS[self.unit]


class Summary(msgspec.Struct, frozen=True):
    median: float
    min: float
    max: float
    runs: int


class Outcome(msgspec.Struct, frozen=True):
    """What running one case produced: samples and summary, or why there are none."""

    name: str
    group: str
    unit: str
    samples: tuple[float, ...] = ()
    summary: Summary | None = None
    error: str | None = None
    skipped: str | None = None
    beside: tuple[float, ...] = ()  # a paired case: its baseline, run right before each run

    @property
    def paired_ratios(self) -> tuple[float, ...]:
        """Each run's value over the baseline measured right before it."""
        return tuple(r for value, base in zip(self.samples, self.beside, strict=False)
                     if (r := ratio(value, base)) is not None)


def summarise(samples: Sequence[float]) -> Summary:
    if not samples:
        raise ValueError("cannot summarise zero samples")
    return Summary(
        median=float(statistics.median(samples)),
        min=float(min(samples)),
        max=float(max(samples)),
        runs=len(samples),
    )


def ratio(value: float, baseline: float) -> float | None:
    """value / baseline, or None when the baseline is zero."""
    return None if baseline == 0 else value / baseline


class Stopwatch:
    """`with Stopwatch() as sw: work()` then `sw.seconds` or `sw.rate(count)`."""

    def __init__(self) -> None:
        self._start = 0.0
        self.seconds = 0.0

    def __enter__(self) -> Stopwatch:
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self._start

    def rate(self, count: int) -> float:
        if self.seconds <= 0:
            raise BenchError("stopwatch measured no time; was it used as a context manager?")
        return count / self.seconds

    @property
    def ms(self) -> float:
        return self.seconds * 1_000


# ---------------------------------------------------------------- discovery


def _case_modules() -> Iterator[ModuleType]:
    import bench.cases

    names = [f"bench.cases.{info.name}" for info in pkgutil.iter_modules(bench.cases.__path__)]
    names += [f"bench.{path.stem}" for path in sorted(BENCH_DIR.glob("*_bench.py"))]
    for name in names:
        try:
            yield importlib.import_module(name)
        except Exception as exc:
            raise CaseDefinitionError(f"cannot import case module {name}: {exc!r}") from exc


def discover(modules: Sequence[ModuleType] | None = None) -> list[Case]:
    """Every `CASES` list from bench/cases/*.py and bench/*_bench.py, in ORDER."""
    found = [m for m in (modules if modules is not None else _case_modules()) if hasattr(m, "CASES")]
    found.sort(key=lambda m: (getattr(m, "ORDER", 100), m.__name__))
    cases = [case for module in found for case in module.CASES]
    check_cases(cases)
    return cases


def check_cases(cases: Sequence[Case]) -> None:
    names = [case.name for case in cases]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise CaseDefinitionError(f"duplicate case names: {', '.join(duplicates)}")
    known = set(names)
    for case in cases:
        if case.baseline is not None and case.baseline not in known:
            raise CaseDefinitionError(f"case {case.name}: baseline {case.baseline!r} is not a case")


def select(cases: Sequence[Case], patterns: Sequence[str]) -> list[Case]:
    """Cases matching any pattern (exact name or glob), plus their baselines, in order."""
    if not patterns:
        return list(cases)
    by_name = {case.name: case for case in cases}
    wanted: set[str] = set()
    for pattern in patterns:
        matched = [n for n in by_name if fnmatch.fnmatchcase(n, pattern)]
        if not matched:
            raise CaseDefinitionError(f"--only {pattern!r} matches no case; see --list")
        wanted.update(matched)
    pending = list(wanted)
    while pending:
        baseline = by_name[pending.pop()].baseline
        if baseline is not None and baseline not in wanted:
            wanted.add(baseline)
            pending.append(baseline)
    return [case for case in cases if case.name in wanted]


# ---------------------------------------------------------------- running


@contextmanager
def time_limit(seconds: int) -> Iterator[None]:
    """Raise CaseTimeoutError after `seconds` (main thread only; best effort in C calls)."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_alarm(signum: int, frame: FrameType | None) -> None:
        raise CaseTimeoutError(f"run exceeded {seconds} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@dataclass
class RunPlan:
    cases: list[Case]
    repeat: int
    make_context: Callable[[Case, int], Context]
    on_run_done: Callable[[Case, int], None] = lambda case, run: None
    postgres_unavailable: str | None = None
    outcomes: list[Outcome] = field(default_factory=list)


def run_case(case: Case, plan: RunPlan) -> Outcome:
    if case.backend == "postgres" and plan.postgres_unavailable:
        for run in range(plan.repeat):
            plan.on_run_done(case, run)
        return Outcome(case.name, case.group, case.unit, skipped=plan.postgres_unavailable)
    baseline = (next((c for c in plan.cases if c.name == case.baseline), None)
                if case.paired else None)
    samples: list[float] = []
    beside: list[float] = []
    for run in range(plan.repeat):
        step = case
        try:
            if baseline is not None:
                step = baseline
                with plan.make_context(baseline, run) as ctx, time_limit(baseline.timeout_s):
                    beside.append(float(baseline.run(ctx)))
                step = case
            with plan.make_context(case, run) as ctx, time_limit(case.timeout_s):
                value = float(case.run(ctx))
        except Exception as exc:  # a failing case must not stop the others
            tail = traceback.format_exception_only(exc)[-1].strip()
            if step is not case:
                tail = f"its baseline {step.name}, run beside it, failed: {tail}"
            return Outcome(case.name, case.group, case.unit, tuple(samples), error=tail,
                           beside=tuple(beside[:len(samples)]))
        samples.append(value)
        plan.on_run_done(case, run)
    return Outcome(case.name, case.group, case.unit, tuple(samples), summarise(samples),
                   beside=tuple(beside))


def run_all(plan: RunPlan) -> list[Outcome]:
    if not REPEAT_MIN <= plan.repeat <= REPEAT_MAX:
        raise BenchError(f"repeat must be in {REPEAT_MIN}..{REPEAT_MAX}, got {plan.repeat}")
    plan.outcomes = [run_case(case, plan) for case in plan.cases]
    return plan.outcomes
