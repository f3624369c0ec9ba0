"""The processes of `tamaq serve` beyond the first: the read-model process and the HTTP
workers.

    tamaq serve  (parent: HTTP itself with --workers 1, else uvicorn's supervisor)
    ├── read models: pulls the event log into the read models; also the daily seal and
    │   the demo loader, so each runs once per server
    └── HTTP workers (--workers N > 1): each its own BatchingWriter and ledger

Why: in one process the scan writer's database round trips waited for the GIL while the
read models and the event loop ran Python (py-spy: writer 48 %, read models 22 %, HTTP 17 %).
Every child dies with the parent: PR_SET_PDEATHSIG on Linux, and a thread that watches the
parent's multiprocessing sentinel everywhere (a SIGKILLed parent leaves no orphan that keeps
the port or the database busy)."""

from __future__ import annotations

import ctypes
import gc
import logging
import multiprocessing
import os
import signal
import sys
import threading
from multiprocessing.connection import wait
from typing import Any

log = logging.getLogger("tamaq.serve")
PR_SET_PDEATHSIG = 1
READY_WAIT_S = 120.0  # DDL and first connections; a loaded 2-core machine takes seconds
STOP_WAIT_S = 10.0
FOLLOW_PACE_S = 0.05  # read-your-writes waits about half of it on average
FOLLOW_RETRY_S = 2.0
GIL_SWITCH_S = 0.0005
# 32 clients, 2 cores (2026-11): p99 110-150 -> 53-60 ms on PostgreSQL, 108-150 -> 32-79 ms on
# SQLite, and ~20 % more scans/s; (50_000, 20, 100) helped about half as much
GC_THRESHOLDS = (100_000, 50, 1_000)
NO_DDL = {"CREATE_TABLE": "n"}  # the parent created the tables; concurrent DDL fails on PostgreSQL


def tune_gc() -> None:
    """For an HTTP process, once set up: full collections were the scans' p99 (a scan waited
    for the writer's batch, which waited for a pass over every object: aggregate cache, app).
    Objects alive now are frozen out of the collector, and young generations are collected
    less often (most garbage is freed by reference counting; cycles still are collected)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def die_with_parent() -> None:
    """In a child started by multiprocessing: be killed when the parent dies, however it
    dies. The kernel does it on Linux; the watcher thread covers other systems and the
    moment before prctl took effect."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent.pid:  # the parent died before prctl
        os._exit(1)

    def watch() -> None:
        wait([parent.sentinel])
        os._exit(1)

    threading.Thread(target=watch, name="tamaq-parent-watch", daemon=True).start()


class ReadModelProcess:
    """The read-model child of `tamaq serve`: started before HTTP answers (its start-up
    creates the tables), stopped after HTTP stopped."""

    def __init__(self, *, demo_if_empty: bool = False) -> None:
        context = multiprocessing.get_context("spawn")
        # a pipe, not an Event: no semaphore for multiprocessing's resource tracker to keep
        self._ready, self._child_end = context.Pipe(duplex=False)
        self.process = context.Process(target=follow, args=(self._child_end, demo_if_empty),
                                       name="tamaq-read-models", daemon=True)

    def start(self) -> ReadModelProcess:
        from api.cli import CliError

        self.process.start()
        self._child_end.close()  # keep only the child's copy: its exit is then an EOF here
        try:
            if not self._ready.poll(READY_WAIT_S) or not self._ready.recv():
                raise EOFError
        except EOFError:
            self.stop()
            raise CliError(f"the read-model process did not start (exit code "
                           f"{self.process.exitcode}); see the log above") from None
        return self

    def stop(self) -> None:
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(STOP_WAIT_S)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(STOP_WAIT_S)

    def __enter__(self) -> ReadModelProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def follow(ready: Any, demo_if_empty: bool) -> None:
    """The read-model process: keep the read models current until SIGTERM or the parent's
    death. Ctrl-C reaches the whole process group: the parent decides when this one stops."""
    from api.services import seal_daily
    from ledger.settings import load_settings
    from ledger.store import close_ledger, open_ledger
    from projections import build_runner

    die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    settings = load_settings()
    logging.basicConfig(level=settings.log_level)
    ledger = open_ledger(settings.database_url, time_zone=settings.time_zone)
    try:
        runner = build_runner(ledger)  # creates the read models' tables
        ready.send(True)
        ready.close()
        threading.Thread(target=seal_daily, args=(ledger, settings, stopping),
                         name="tamaq-sealer", daemon=True).start()
        if demo_if_empty:
            load_demo_in_background(ledger, settings.time_zone)
        follow_log(runner, stopping)
    finally:
        close_ledger(ledger)


def follow_log(runner: Any, stopping: threading.Event) -> None:
    """Apply the log's new events every FOLLOW_PACE_S, at once while a backlog fills whole
    pages. Pacing while scans stream in: one transaction of fifty events costs the store far
    less than fifty of one, and on SQLite each of them takes the one write lock the scan
    writer needs. A failed page changed nothing (rows and position commit together): it is
    applied again on the next turn."""
    while not stopping.is_set():
        try:
            count = runner.run_once()
        except Exception:  # keep following
            log.exception("projection batch failed; retrying")
            stopping.wait(FOLLOW_RETRY_S)
            continue
        if count < runner.page_size:
            stopping.wait(FOLLOW_PACE_S)


def worker_app() -> Any:
    """uvicorn's app factory in each HTTP worker (`tamaq serve --workers N`, N > 1)."""
    from api.app import create_app
    from api.services import Services
    from ledger.settings import load_settings
    from ledger.store import open_ledger

    die_with_parent()
    sys.setswitchinterval(GIL_SWITCH_S)
    settings = load_settings()
    ledger = open_ledger(settings.database_url, time_zone=settings.time_zone, extra_env=NO_DDL)
    parent = multiprocessing.parent_process()
    services = Services(settings, ledger, read_models="process",
                        serve_pid=parent.pid if parent is not None else None, peers=True)
    app = create_app(settings, services=services)
    tune_gc()
    return app


def load_demo_in_background(ledger: Any, time_zone: str) -> None:
    """`make run`: a fresh store gets the demo region while the API already answers."""
    from api.demo import run_demo
    from api.demo_plan import default_month

    if ledger.recorder.max_notification_id():
        return

    def load() -> None:
        try:
            month = default_month(time_zone)
            print(f"loading the demo region for {month} in the background...", flush=True)
            result = run_demo(ledger, seed=1, extra_schools=2, month=month)
            print(f"demo loaded: {result.schools} schools, {result.pupils} pupils, "
                  f"{result.events:,} events in {result.seconds:.0f} s".replace(",", " "),
                  flush=True)
        except Exception:  # the server keeps serving; the log says what went wrong
            logging.getLogger("tamaq.demo").exception("demo load failed")

    threading.Thread(target=load, name="tamaq-demo", daemon=True).start()
