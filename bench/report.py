"""BENCHMARKS.md: the machine and versions, then one table per group of cases."""

from __future__ import annotations

import os
import platform
import sqlite3
import statistics
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import msgspec

from bench.harness import Case, Outcome, ratio

PACKAGES = ("eventsourcing", "psycopg", "msgspec")
BUSY_LOAD_PER_CORE = 0.5
TABLE_HEADER = (
    "| figure | median | min | max | unit | baseline (its median) | ratio to baseline | target |\n"
    "|---|---:|---:|---:|---|---|---:|---|"
)


class Header(msgspec.Struct, frozen=True):
    cpu: str
    cores: int
    ram: str
    os: str
    date: str
    python: str
    postgres: str
    sqlite: str
    packages: dict[str, str]
    run: str  # sizes, repeat, wall time
    load: str = ""  # load averages: other work on the machine skews every figure


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _ram() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024**2:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def _package_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def postgres_version(url: str) -> str:
    from bench.context import connect, postgres_problem

    if postgres_problem(url):
        return "unavailable"
    with connect(url) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return str(row[0]) if row else "unknown"


def load_average() -> float:
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


def collect_header(*, postgres_url: str | None, run: str, load_at_start: float | None = None) -> Header:
    """Describe this machine; `postgres_url=None` when no case needed PostgreSQL."""
    return Header(
        cpu=_cpu_model(),
        cores=os.cpu_count() or 0,
        ram=_ram(),
        os=platform.platform(),
        date=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        python=platform.python_version(),
        postgres=postgres_version(postgres_url) if postgres_url else "not used",
        sqlite=sqlite3.sqlite_version,
        packages={name: _package_version(name) for name in PACKAGES},
        run=run,
        load=_load_text(load_at_start),
    )


def _load_text(load_at_start: float | None) -> str:
    load_at_end = load_average()
    end = f"{load_at_end:.2f} at the end"
    start = "" if load_at_start is None else f"{load_at_start:.2f} at the start, "
    text = f"1-minute load average {start}{end} ({os.cpu_count()} cores)"
    cores = os.cpu_count() or 1
    # The run itself keeps about one core busy, so the end figure gets more headroom.
    if (load_at_start or 0.0) > BUSY_LOAD_PER_CORE * cores or load_at_end > cores:
        text += "; **busy machine: other work competed for the CPU, figures are lower bounds**"
    return text


def fmt(value: float) -> str:
    """Thousands separators for big figures, three significant digits for small ones."""
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def _header_md(h: Header) -> str:
    lines = [
        "| | |",
        "|---|---|",
        f"| CPU | {h.cpu}, {h.cores} cores |",
        f"| RAM | {h.ram} |",
        f"| OS | {h.os} |",
        f"| Date | {h.date} |",
        f"| Python | {h.python} |",
        f"| PostgreSQL server | {h.postgres} |",
        f"| SQLite | {h.sqlite} |",
        *(f"| {name} | {v} |" for name, v in h.packages.items()),
        f"| Run | {h.run} |",
        *([f"| Load | {h.load} |"] if h.load else []),
    ]
    return "\n".join(lines)


def _row(case: Case, outcome: Outcome, by_name: dict[str, Outcome]) -> str:
    target = case.target or ""
    if outcome.summary is None:
        why = f"skipped: {outcome.skipped}" if outcome.skipped else f"error: {outcome.error}"
        why = why.replace("|", "\\|")
        return f"| {case.name} | {why} | | | {case.unit} | {case.baseline or ''} | | {target} |"
    s = outcome.summary
    base_text, ratio_text = "", ""
    if case.baseline is not None:
        base = by_name.get(case.baseline)
        if base is not None and base.summary is not None:
            base_text = f"{case.baseline} ({fmt(base.summary.median)})"
            r = ratio(s.median, base.summary.median)
            ratio_text = "" if r is None else f"{r:.3g}×"
        else:
            base_text = f"{case.baseline} (not measured)"
        paired = outcome.paired_ratios
        if paired:  # the baseline was run again right before each run: ratios run by run
            base_text += f"; beside each run: {fmt(statistics.median(outcome.beside))}"
            ratio_text = (f"{statistics.median(paired):.3g}× paired "
                          f"({min(paired):.3g}-{max(paired):.3g})")
    cells = (case.name, fmt(s.median), fmt(s.min), fmt(s.max), case.unit, base_text, ratio_text, target)
    return "| " + " | ".join(cells) + " |"


def render(cases: Sequence[Case], outcomes: Sequence[Outcome], header: Header) -> str:
    """The whole BENCHMARKS.md text; cases without an outcome are left out."""
    by_name = {o.name: o for o in outcomes}
    parts = [
        "# Tamaq Ledger benchmarks",
        "",
        "Written by `make bench` (`python -m bench`). Each figure is the median of its runs,",
        "with min and max; every run starts from an empty PostgreSQL schema or SQLite file.",
        "Ratio to baseline = median / baseline median, both measured in this run on the same",
        "event rows. A case whose target is a ratio to its baseline is paired: the baseline",
        "runs again right before each of its runs, and its ratio is the median of those runs'",
        "ratios (min-max in brackets), since the host's speed swings within minutes",
        "(docs/PERFORMANCE.md). Rates: higher is better; ms and MB: lower is better.",
        "",
        "## Machine and versions",
        "",
        _header_md(header),
    ]
    groups: dict[str, list[Case]] = {}
    for case in cases:
        if case.name in by_name:
            groups.setdefault(case.group, []).append(case)
    for group, members in groups.items():
        parts += ["", f"## {group}", "", TABLE_HEADER]
        parts += [_row(case, by_name[case.name], by_name) for case in members]
    return "\n".join(parts) + "\n"


def write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
