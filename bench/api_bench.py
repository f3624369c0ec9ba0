"""Online meal scans through the HTTP API: 1, 8 and 32 concurrent clients, each request one
scan acknowledged after its durable commit; requests/s, p50 and p99, on SQLite and PostgreSQL.
The server is `tamaq serve` in its own process; the load generator runs beside it, and each
measurement follows a one-second warm-up (caches filled, as in a server that has been running)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

import msgspec

from bench.context import Context
from bench.harness import Case
from bench.loadgen import LoadResult, run_load

ORDER = 60
CHILDREN = 1_000
# School days in the seeded calendar: CHILDREN x DAYS funded first meals. Each (pupil, day)
# is scanned once before the load comes round to it again as a second meal (a refusal, or an
# offline meal flagged), which is cheaper: 60,000 first meals outlast the fastest run (~4,600
# req/s for 6 s), where 20,000 did not.
DAYS = 60
CLIENTS = (1, 8, 32)
SECONDS = {True: 2.0, False: 5.0}
WARM_UP_S = 1.0
_results: dict[tuple[str, int], list[LoadResult]] = defaultdict(list)
_taken: dict[tuple[str, str, int], int] = defaultdict(int)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _school_days() -> list[date]:
    days, day = [], date(2025, 10, 1)
    while len(days) < DAYS:
        if day.weekday() < 5:
            days.append(day)
        day += timedelta(days=1)
    return days


def seed(url: str) -> None:
    """A school with CHILDREN entitled pupils, each with a card, and DAYS school days."""
    from ledger.school import MenuItem
    from ledger.store import close_ledger, open_ledger

    ledger = open_ledger(url)
    ledger.register_region("r1", "Bench region")
    ledger.register_school("s1", name="Bench school", region_id="r1", district="d1", shifts=(1,))
    by_month: dict[str, list[date]] = defaultdict(list)
    for day in _school_days():
        by_month[day.strftime("%Y-%m")].append(day)
    for month, month_days in by_month.items():
        ledger.set_calendar("s1", month, month_days)
    for day in _school_days():
        ledger.set_menu("s1", day, [MenuItem("lunch", "Lunch", 700, (), True)])
    with ledger.batch():
        _enrol_all(ledger)
    for t in range(max(CLIENTS)):
        ledger.register_terminal(f"t{t}", "s1", "canteen")
    close_ledger(ledger)


def _enrol_all(ledger: Any) -> None:
    from ledger.child import Consent

    for i in range(CHILDREN):
        ledger.enrol_child("s1", f"c{i}", first_name="Bench", last_name="Pupil", iin=None,
                           grade=1 + i % 4, class_name="1A", shift=1,
                           consent=Consent("guardian", f"doc{i}", date(2025, 9, 1)))
        ledger.assign_voucher(f"c{i}", f"v{i}", "2025-2026")
        ledger.activate_voucher(f"c{i}", f"v{i}", date(2025, 9, 1))
        ledger.add_identifier("card", f"card{i}", child_id=f"c{i}")


def _server(ctx: Context, url: str) -> tuple[subprocess.Popen[bytes], int, str]:
    from api.tokens import issue_token

    port = _free_port()
    secret = "bench-secret-" + "x" * 16
    env = dict(os.environ, TAMAQ_DATABASE_URL=url, TAMAQ_TOKEN_SECRET=secret,
               TAMAQ_LOG_LEVEL="WARNING")
    proc = subprocess.Popen([sys.executable, "-m", "api.cli", "serve", "--port", str(port)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ctx.on_cleanup(lambda: (proc.terminate(), proc.wait(10)))
    for _ in range(3000):  # up, and the read models caught up with the seeded school
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as r:
                health = msgspec.json.decode(r.read())
            if health["read_models_position"] >= health["position"]:
                break
        except OSError:
            pass
        time.sleep(0.1)
    token = issue_token(secret, "admin", ttl_s=3600)
    return proc, port, token


def _position(port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=10) as r:
        return int(msgspec.json.decode(r.read())["position"])


def experiment(ctx: Context, backend: str, clients: int) -> LoadResult:
    from api.tokens import issue_token

    url = ctx.database_url(backend)
    ctx.status(f"seeding {CHILDREN} pupils")
    seed(url)
    _, port, _ = _server(ctx, url)
    secret = "bench-secret-" + "x" * 16
    tokens = [issue_token(secret, "terminal", terminal_id=f"t{t}", ttl_s=3600)
              for t in range(clients)]
    days = _school_days()
    encoder = msgspec.json.Encoder()

    def make(n: int) -> tuple[str, bytes, dict[str, str]]:
        t = n % clients
        child, day = n % CHILDREN, days[(n // CHILDREN) % DAYS]
        at = datetime(day.year, day.month, day.day, 6, 30, tzinfo=UTC)
        body = encoder.encode([{"event_id": f"e{n}", "kind": "meal",
                                "identifier": {"kind": "card", "token": f"card{child}"},
                                "at": at.isoformat()}])
        return f"/api/v1/terminals/t{t}/events", body, {"Authorization": f"Bearer {tokens[t]}"}

    ctx.status(f"{clients} clients warming up")
    # a running server has its pupils' aggregates and keys cached: measure that, not its
    # first second (the warm-up's scans are other children's days: no duplicates after)
    warm = run_load("127.0.0.1", port, clients, WARM_UP_S, make)
    ctx.status(f"{clients} clients scanning")
    result = run_load("127.0.0.1", port, clients, SECONDS[ctx.quick],
                      lambda n: make(n + warm.requests))
    if result.errors:
        raise RuntimeError(f"{result.errors} of {result.requests} requests failed")
    return result


def _figure(backend: str, clients: int, what: str):  # type: ignore[no-untyped-def]
    def run(ctx: Context) -> float:
        key = (backend, clients)
        if what == "rate" or _taken[(backend, what, clients)] >= len(_results[key]):
            result = experiment(ctx, backend, clients)
            _results[key].append(result)
            if what == "rate":
                return result.rate
        index = _taken[(backend, what, clients)]
        _taken[(backend, what, clients)] += 1
        result = _results[key][index]
        return result.percentile(50 if what == "p50" else 99)

    return run


def _cases() -> list[Case]:
    cases = []
    for backend, prefix, base in (("postgres", "pg", "pg.raw.insert_commit_per_row"),
                                  ("sqlite", "sqlite", "sqlite.raw.insert_commit_per_row")):
        for clients in CLIENTS:
            target = ">= raw INSERT one commit per row" if clients == 32 else None
            cases.append(Case(f"{prefix}.api.scans_{clients}_clients", "API: online meal scans",
                              "requests/s", _figure(backend, clients, "rate"), base, target,
                              backend, paired=target is not None))  # type: ignore[arg-type]
            for what in ("p50", "p99"):
                cases.append(Case(f"{prefix}.api.scans_{clients}_clients_{what}",
                                  "API: online meal scans", "ms",
                                  _figure(backend, clients, what), None,
                                  "< 50 ms" if what == "p99" and clients == 32 else None,
                                  backend))  # type: ignore[arg-type]
    return cases


def _offline_sync(backend: str):  # type: ignore[no-untyped-def]
    """A gateway back online sends its journal: batches of 5,000 offline meals, each
    acknowledged after its commit. Events stored per second (each meal stores its terminal
    event and its child-day's funded meal: the rows to compare with COPY's)."""
    def case(ctx: Context) -> float:
        from api.tokens import issue_token

        url = ctx.database_url(backend)
        ctx.status(f"seeding {CHILDREN} pupils")
        seed(url)
        _, port, _ = _server(ctx, url)
        token = issue_token("bench-secret-" + "x" * 16, "terminal", terminal_id="t0", ttl_s=3600)
        batches = ctx.pick(full=6, quick=2)
        bodies = offline_batches(batches, BATCH)
        ctx.status(f"{batches} batches of {BATCH} items")
        stored, elapsed = post_batches(port, token, bodies)
        if stored < batches * BATCH:
            raise RuntimeError(f"{batches * BATCH} meals stored only {stored} events")
        return stored / elapsed
    return case


def offline_batches(batches: int, size: int) -> list[bytes]:
    """`batches` request bodies of `size` offline meals each, funded at the terminal: every
    pupil's school days in turn, so that each item is its child-day's first meal."""
    days, encoder, bodies = _school_days(), msgspec.json.Encoder(), []
    for n in range(batches):
        items = []
        for k in range(size):
            i = n * size + k
            day = days[(i // CHILDREN) % DAYS]
            items.append({"event_id": f"o{i}", "kind": "meal", "child_id": f"c{i % CHILDREN}",
                          "at": datetime(day.year, day.month, day.day, 6, tzinfo=UTC).isoformat(),
                          "offline_decision": {"outcome": "funded", "amount_kzt": 0}})
        bodies.append(encoder.encode(items))
    return bodies


def post_batches(port: int, token: str, bodies: list[bytes]) -> tuple[int, float]:
    """Posts the bodies one after another on one connection, each answered after its commit,
    as terminal t0's gateway does. Returns (events stored, seconds taken)."""
    import http.client

    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    before = _position(port)
    started = time.perf_counter()
    for body in bodies:
        conn.request("POST", "/api/v1/terminals/t0/events", body, headers)
        response = conn.getresponse()
        answer = response.read()
        if response.status != 200 or b'"recorded"' not in answer:
            raise RuntimeError(f"sync batch answered {response.status}: {answer[:200]!r}")
    elapsed = time.perf_counter() - started
    conn.close()
    return _position(port) - before, elapsed


BATCH = 5_000
CASES = _cases() + [
    Case("pg.api.offline_sync", "API: offline batch sync", "events/s", _offline_sync("postgres"),
         "pg.raw.copy_binary", ">= 0.3 x COPY BINARY", "postgres", paired=True),
    Case("sqlite.api.offline_sync", "API: offline batch sync", "events/s",
         _offline_sync("sqlite"), "sqlite.raw.executemany_one_tx", None, "sqlite"),
]
_: Any = None
