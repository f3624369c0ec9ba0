"""bench/offline_profile.py: py-spy's raw stacks read right, CPU read from /proc, and the
budget that issue 10's offline target leaves worked out from the run's own figures."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.offline_profile import (
    SyncProfile,
    cpu_seconds,
    descendants,
    main,
    parse_raw,
    render_profile,
)

RAW = [
    # the server's writer: two stacks, one of them recursive (a function counted once a stack)
    'process 10:"python -m api.cli serve";thread (11): tamaq-writer;Thread.run (/usr/lib/'
    'python3.11/threading.py:982);_loop (/x/site-packages/api/writer.py:120);'
    'decide (/x/site-packages/ledger/scans.py:40);decide (/x/site-packages/ledger/scans.py:44) 30\n',
    'process 10:"python -m api.cli serve";thread (11): tamaq-writer;Thread.run (/usr/lib/'
    'python3.11/threading.py:982);_loop (/x/site-packages/api/writer.py:120);'
    'save (/x/site-packages/ledger/unit.py:9) 10\n',
    # a child process whose command line holds ';', under its parent's frame
    'process 10:"python -m api.cli serve";process 12:"python -c from x import a; a()";'
    'thread (12): MainThread;follow (/x/site-packages/api/workers.py:5) 20\n',
    'thread (13);idle (/x/site-packages/api/cli.py:1) 1\n',
    "garbage without a count\n",
]


def test_raw_stacks_become_profiles_by_process_and_thread() -> None:
    threads = parse_raw(RAW)
    assert set(threads) == {"process 10 thread (11): tamaq-writer",
                            "process 12 thread (12): MainThread", "thread (13)"}
    writer = threads["process 10 thread (11): tamaq-writer"]
    assert writer.samples == 40
    assert writer.inclusive["_loop (api/writer.py)"] == 40
    assert writer.inclusive["decide (ledger/scans.py)"] == 30  # not 60: once a stack
    assert writer.self_["decide (ledger/scans.py)"] == 30
    assert writer.self_["save (ledger/unit.py)"] == 10
    assert writer.self_["_loop (api/writer.py)"] == 0
    assert threads["process 12 thread (12): MainThread"].inclusive["follow (api/workers.py)"] == 20


def test_the_summary_gives_each_process_and_thread_its_share_of_the_sync() -> None:
    text = render_profile(parse_raw(RAW), seconds=1.0, rate=100, top=5)
    assert "process 10: 0.40" in text  # 40 samples in 1 s at 100 a second
    assert "process 12: 0.20" in text
    assert "tamaq-writer: on CPU 40% of the sync (40 samples)" in text
    assert "75.0%  75.0%  decide (ledger/scans.py)" in text
    assert "threading.py" not in text  # plumbing every thread has is left out
    assert "thread (13)" not in text  # 1 % of the sync: below the line


def test_the_budget_follows_from_the_runs_own_copy_rate() -> None:
    run = SyncProfile(items=1_000, events=2_000, seconds=0.1, server_cpu_s=0.07,
                      read_models_cpu_s=0.015, postgres_cpu_s=0.045,
                      copy_rows_per_s=200_000, cores=2)
    assert run.items_per_s == pytest.approx(10_000)
    assert run.target_items_per_s == pytest.approx(30_000)  # 0.3 x 200,000 / 2 events an item
    text = run.render()
    assert "wall time an item: 100.0 us" in text
    assert "HTTP process 70.0 us, read models 15.0 us, PostgreSQL 45.0 us; total 130.0 us" in text
    assert "the sync is 0.100x of it" in text
    assert "33.3 us of wall time an item, so 66.7 us of CPU an item on 2 cores" in text
    assert "1.95x that budget; the HTTP process alone 2.10x" in text
    no_copy = SyncProfile(items=10, events=20, seconds=1.0, server_cpu_s=0.0,
                          read_models_cpu_s=0.0, postgres_cpu_s=0.0, copy_rows_per_s=None,
                          cores=2)
    assert no_copy.target_items_per_s is None
    assert "budget" not in no_copy.render()


def test_cpu_is_read_from_proc_for_a_process_and_found_for_its_children() -> None:
    before = cpu_seconds(os.getpid())
    started = time.process_time()
    while time.process_time() - started < 0.3:
        sum(range(1_000))
    assert cpu_seconds(os.getpid()) - before >= 0.2
    assert cpu_seconds(2**22 + 7) == 0.0  # gone (or never was): nothing, not an error
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert child.pid in descendants(os.getpid())
    finally:
        child.kill()
        child.wait()


def test_summarising_a_raw_file_needs_the_syncs_duration(tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    raw = tmp_path / "s.raw"
    raw.write_text("".join(RAW))
    with pytest.raises(SystemExit) as exit_info:
        main(["--summarise", str(raw)])
    assert exit_info.value.code == 2
    assert "--summarise needs --seconds" in capsys.readouterr().err
    assert main(["--summarise", str(raw), "--seconds", "0.5"]) == 0
    assert "tamaq-writer: on CPU 80%" in capsys.readouterr().out
