"""Where an offline sync's time goes: the profile behind the offline figure in BENCHMARKS.md.

    python -m bench.offline_profile                    # 6 batches of 5,000, COPY measured beside
    python -m bench.offline_profile --py-spy /tmp/s.raw --top 25
    python -m bench.offline_profile --copy-rate 310000 --batches 3

Seeds the bench's school (bench/api_bench.py) into a fresh schema, starts `tamaq serve`, and
posts batches of offline meals as terminal t0's gateway does, each answered after its commit
(the `pg.api.offline_sync` case). It reads the CPU time of each side from /proc before and
after: the HTTP process (the writer decides and saves), the read-models process (it projects
what was saved, at the same time) and PostgreSQL (every `postgres` process, the ones that
exited included). Then it sets them beside what issue 10's target leaves: at 0.3 x the COPY
BINARY rate measured in the same run, the wall time an item may take, and the CPU the
machine's cores give an item in that time. Total CPU an item above that budget means no
arrangement of the same work across the cores meets the target.

With `--py-spy FILE` it records the server and its read-models process with py-spy (raw
format, active samples only) and prints each thread's busy share and its heaviest functions,
inclusive and self. py-spy is not a dependency: `pip install py-spy` (it needs ptrace, i.e. root
or CAP_SYS_PTRACE). PostgreSQL must be on this machine: its CPU is read from /proc. Run it on a
quiet machine; everything else's CPU would count as PostgreSQL's only if it is PostgreSQL's.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

TARGET_OF_COPY = 0.3  # issue 10: offline batch sync at least 0.3 x COPY BINARY
CLK_TCK = os.sysconf("SC_CLK_TCK")
PROC = Path("/proc")
# py-spy --subprocesses starts a stack with the process and its parents: keep the innermost
_PROCESS = re.compile(r'(?:process (\d+):".*?";)+(?=thread \()')
# frames every thread of a kind has: not worth a line in the summary
_PLUMBING = ("threading.py", "concurrent/futures/thread.py", "multiprocessing/", "<frozen runpy>",
             "<string>")
ROOT = str(Path(__file__).resolve().parents[1]) + "/"


# -- CPU time from /proc ---------------------------------------------------------------------

def _stat_fields(pid: int) -> list[str] | None:
    """/proc/PID/stat from field 3 on (after the command's parentheses), None if gone."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2:].split()


def cpu_seconds(pid: int, *, children: bool = False) -> float:
    """User + system CPU of a process (all its threads); with `children`, plus that of its
    children that exited and were waited for (how PostgreSQL's closed backends still count)."""
    fields = _stat_fields(pid)
    if fields is None:
        return 0.0
    # fields[0] is stat's field 3 (state): utime is field 14, stime 15, cutime 16, cstime 17
    ticks = int(fields[11]) + int(fields[12])
    if children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / CLK_TCK


def _all_pids() -> list[int]:
    return [int(p.name) for p in PROC.iterdir() if p.name.isdigit()]


def descendants(pid: int) -> list[int]:
    """The processes below `pid` (its children, theirs, ...), from /proc's parent links."""
    parent_of: dict[int, int] = {}
    for p in _all_pids():
        fields = _stat_fields(p)
        if fields is not None:
            parent_of[p] = int(fields[1])
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        kids = [p for p, pp in parent_of.items() if pp == parent]
        found += kids
        frontier += kids
    return found


def postgres_cpu_seconds() -> float:
    """CPU of every PostgreSQL process on this machine, with the exited backends' (counted on
    the postmaster, their parent)."""
    total = 0.0
    for p in _all_pids():
        try:
            comm = (PROC / str(p) / "comm").read_text().strip()
        except OSError:
            continue
        if comm == "postgres" or comm.startswith("postgres:"):
            is_postmaster = comm == "postgres" and _parent_comm(p) != "postgres"
            total += cpu_seconds(p, children=is_postmaster)
    return total


def _parent_comm(pid: int) -> str:
    fields = _stat_fields(pid)
    if fields is None:
        return ""
    try:
        return (PROC / fields[1] / "comm").read_text().strip()
    except OSError:
        return ""


# -- py-spy's raw format ---------------------------------------------------------------------

@dataclass
class ThreadProfile:
    """One thread's active samples: per function, the samples whose stack holds it
    (inclusive) and those where it is the innermost frame (self)."""

    name: str
    samples: int = 0
    inclusive: Counter[str] = field(default_factory=Counter)
    self_: Counter[str] = field(default_factory=Counter)


def _function(frame: str) -> str:
    """'Writer._loop (/x/api/writer.py:120)' -> 'Writer._loop (api/writer.py)'."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    if "site-packages/" in path:
        path = path.split("site-packages/", 1)[1]
    else:
        path = path.removeprefix(ROOT)
    return f"{name} ({path})" if path else name


def parse_raw(lines: Iterable[str]) -> dict[str, ThreadProfile]:
    """py-spy `record --format raw --threads [--subprocesses]` lines, one stack and its count
    each ('process 7:"cmd";thread (8): name;f (file:line);... 12'), as profiles by thread."""
    threads: dict[str, ThreadProfile] = {}
    for line in lines:
        line = line.rstrip("\n")
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        pid = ""
        process = _PROCESS.match(stack)  # its command line may hold ';'
        if process:
            pid, stack = process.group(1), stack[process.end():]
        frames = stack.split(";")
        thread = frames.pop(0) if frames[0].startswith("thread ") else "thread (?)"
        key = f"process {pid} {thread}" if pid else thread
        profile = threads.setdefault(key, ThreadProfile(key))
        count = int(count_text)
        profile.samples += count
        functions = [_function(f) for f in frames]
        for fn in set(functions):
            profile.inclusive[fn] += count
        if functions:
            profile.self_[functions[-1]] += count
    return threads


def render_profile(threads: dict[str, ThreadProfile], seconds: float, rate: int,
                   top: int) -> str:
    out = []
    by_process: Counter[str] = Counter()
    for profile in threads.values():
        by_process[profile.name.split(" thread ")[0]] += profile.samples
    if seconds > 0:
        out.append("threads on CPU, summed by process (a Python process runs one thread at a"
                   " time, so near 1.0 it is bound by its GIL;\n C code that lets go of the GIL"
                   " can take it past 1):")
        out += [f"  {name}: {n / (seconds * rate):.2f}" for name, n in by_process.most_common()
                if n / (seconds * rate) >= 0.02]
    for profile in sorted(threads.values(), key=lambda t: -t.samples):
        busy = profile.samples / (seconds * rate) if seconds > 0 else 0.0
        if busy < 0.02:
            continue
        out.append(f"\n{profile.name}: on CPU {busy:.0%} of the sync ({profile.samples:,} samples)")
        out.append(f"  {'inclusive':>9} {'self':>6}  function")
        shown = [(fn, n) for fn, n in profile.inclusive.most_common()
                 if not any(mark in fn for mark in _PLUMBING)]
        for fn, n in shown[:top]:
            own = profile.self_[fn] / profile.samples
            out.append(f"  {n / profile.samples:9.1%} {own:6.1%}  {fn}")
    return "\n".join(out)


# -- the run ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class SyncProfile:
    items: int
    events: int
    seconds: float
    server_cpu_s: float
    read_models_cpu_s: float
    postgres_cpu_s: float
    copy_rows_per_s: float | None
    cores: int

    @property
    def items_per_s(self) -> float:
        return self.items / self.seconds

    @property
    def events_per_s(self) -> float:
        return self.events / self.seconds

    def us_per_item(self, seconds: float) -> float:
        return seconds / self.items * 1e6

    @property
    def total_cpu_s(self) -> float:
        return self.server_cpu_s + self.read_models_cpu_s + self.postgres_cpu_s

    @property
    def target_items_per_s(self) -> float | None:
        if self.copy_rows_per_s is None:
            return None
        return TARGET_OF_COPY * self.copy_rows_per_s / (self.events / self.items)

    def render(self) -> str:
        per = self.us_per_item
        lines = [
            f"offline sync: {self.items:,} items in {self.seconds:.2f} s = {self.items_per_s:,.0f}"
            f" items/s, {self.events_per_s:,.0f} events stored/s"
            f" ({self.events / self.items:.2f} events an item)",
            f"wall time an item: {per(self.seconds):.1f} us",
            f"CPU an item: HTTP process {per(self.server_cpu_s):.1f} us, read models"
            f" {per(self.read_models_cpu_s):.1f} us, PostgreSQL {per(self.postgres_cpu_s):.1f} us;"
            f" total {per(self.total_cpu_s):.1f} us"
            f" ({self.total_cpu_s / self.seconds:.2f} of {self.cores} cores busy)",
        ]
        target = self.target_items_per_s
        if target is not None and self.copy_rows_per_s is not None:
            wall = 1e6 / target
            budget = wall * self.cores
            lines += [
                f"COPY BINARY in this run: {self.copy_rows_per_s:,.0f} rows/s; the sync is"
                f" {self.events_per_s / self.copy_rows_per_s:.3f}x of it",
                f"at the target ({TARGET_OF_COPY} x COPY ="
                f" {TARGET_OF_COPY * self.copy_rows_per_s:,.0f} events/s = {target:,.0f} items/s):"
                f" {wall:.1f} us of wall time an item, so"
                f" {budget:.1f} us of CPU an item on {self.cores} cores",
                f"the CPU an item costs now is {per(self.total_cpu_s) / budget:.2f}x that budget;"
                f" the HTTP process alone {per(self.server_cpu_s) / wall:.2f}x its core's"
                f" {wall:.1f} us",
            ]
        return "\n".join(lines)


def measure_copy(base_url: str, runs: int) -> float:
    """Median of `runs` COPY BINARY runs of the bench's 50,000 rows (`pg.raw.copy_binary`)."""
    from bench.cases.raw_postgres import copy_binary
    from bench.context import FULL, Context

    rates = []
    for _ in range(runs):
        with Context(sizes=FULL, quick=False, base_url=base_url) as ctx:
            rates.append(copy_binary(ctx))
    return statistics.median(rates)


def _start_py_spy(pid: int, out: Path, rate: int) -> subprocess.Popen[bytes]:
    exe = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(exe).exists():
        raise SystemExit("py-spy is not installed: pip install py-spy (or run without --py-spy)")
    proc = subprocess.Popen([exe, "record", "--pid", str(pid), "--subprocesses", "--threads",
                             "--nonblocking", "--format", "raw", "--rate", str(rate),
                             "--output", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(1.0)  # attached (its first samples are of the idle server)
    if proc.poll() is not None:
        err = (proc.stderr.read() if proc.stderr else b"").decode(errors="replace").strip()
        why = err.splitlines()[-1] if err else f"exit status {proc.returncode}"
        raise SystemExit(f"py-spy could not attach to {pid}: {why}")
    return proc


def profile_sync(base_url: str, *, batches: int, batch: int, copy_runs: int,
                 copy_rate: float | None = None, py_spy: Path | None = None,
                 spy_rate: int = 100, say=print) -> SyncProfile:  # type: ignore[no-untyped-def]
    from api.tokens import issue_token
    from bench import api_bench
    from bench.context import FULL, Context

    if copy_rate is None and copy_runs > 0:
        say(f"COPY BINARY of 50,000 rows, {copy_runs} runs")
        copy_rate = measure_copy(base_url, copy_runs)
    with Context(sizes=FULL, quick=False, base_url=base_url) as ctx:
        url = ctx.database_url("postgres")
        say(f"seeding {api_bench.CHILDREN:,} pupils into {ctx.pg_schema}")
        api_bench.seed(url)
        server, port, _ = api_bench._server(ctx, url)
        token = issue_token("bench-secret-" + "x" * 16, "terminal", terminal_id="t0", ttl_s=3600)
        bodies = api_bench.offline_batches(batches, batch)
        spy = _start_py_spy(server.pid, py_spy, spy_rate) if py_spy else None
        helpers = descendants(server.pid)
        say(f"posting {batches} batches of {batch:,} offline meals")
        before = (cpu_seconds(server.pid), sum(cpu_seconds(p) for p in helpers),
                  postgres_cpu_seconds())
        events, seconds = api_bench.post_batches(port, token, bodies)
        after = (cpu_seconds(server.pid), sum(cpu_seconds(p) for p in helpers),
                 postgres_cpu_seconds())
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(60)
        if events < batches * batch:
            raise RuntimeError(f"{batches * batch:,} meals stored only {events:,} events")
    return SyncProfile(items=batches * batch, events=events, seconds=seconds,
                       server_cpu_s=after[0] - before[0], read_models_cpu_s=after[1] - before[1],
                       postgres_cpu_s=after[2] - before[2], copy_rows_per_s=copy_rate,
                       cores=len(os.sched_getaffinity(0)))


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.offline_profile",
        description="Profile an offline sync through `tamaq serve` on PostgreSQL: rates, the "
                    "CPU an item costs in each process, and the budget issue 10's target leaves.")
    parser.add_argument("--batches", type=int, default=6, help="batches posted (default 6)")
    parser.add_argument("--batch", type=int, default=5_000, help="items a batch (default 5,000)")
    parser.add_argument("--copy-runs", type=int, default=3,
                        help="COPY BINARY runs before the sync, for the budget (default 3)")
    parser.add_argument("--copy-rate", type=float, default=None,
                        help="take this COPY BINARY rate (rows/s) instead of measuring it")
    parser.add_argument("--py-spy", type=Path, default=None, metavar="FILE",
                        help="record the server with py-spy into FILE (raw) and summarise it")
    parser.add_argument("--rate", type=int, default=100, help="py-spy samples a second")
    parser.add_argument("--top", type=int, default=20, help="functions shown per thread")
    parser.add_argument("--summarise", type=Path, default=None, metavar="FILE",
                        help="only summarise an existing py-spy raw FILE (needs --seconds)")
    parser.add_argument("--seconds", type=float, default=None,
                        help="with --summarise: how long the recorded sync took")
    args = parser.parse_args(argv)
    if args.batches < 1 or args.batch < 1:
        parser.error("--batches and --batch must be at least 1")
    if args.summarise and args.seconds is None:
        parser.error("--summarise needs --seconds (the sync's duration) for the busy shares")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    from bench.context import database_url, postgres_problem

    args = parse_args(argv)
    if args.summarise:
        with args.summarise.open() as f:
            print(render_profile(parse_raw(f), args.seconds, args.rate, args.top))
        return 0
    url = database_url()
    problem = postgres_problem(url)
    if problem:
        print(problem, file=sys.stderr)
        return 1
    result = profile_sync(url, batches=args.batches, batch=args.batch, copy_runs=args.copy_runs,
                          copy_rate=args.copy_rate, py_spy=args.py_spy, spy_rate=args.rate,
                          say=lambda text: print(f"... {text}", file=sys.stderr))
    print(result.render())
    if args.py_spy:
        with args.py_spy.open() as f:
            print(render_profile(parse_raw(f), result.seconds, args.rate, args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
