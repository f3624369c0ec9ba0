"""A real `tamaq serve` in a subprocess, for tests that kill and restart the server.

    with LiveServer(database_url, tmp_path).start() as server:
        school = seed_live_school(server, children=[LiveChild("c1", grade=2)])
        with server.client() as http:
            http.post(events_path(school.canteen), json=[...], headers=school.canteen_headers)
        server.kill()      # SIGKILL, like a power cut
        server.start()     # same port, same store, same secret

The server keeps its port across restarts, so gateways pointed at `server.url` reconnect
by themselves. Its log goes to `<workdir>/server-<port>.log` (`log_tail()` for assertion
messages). Seeding goes through the HTTP API, like a real installation's set-up.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time as clock, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from api.tokens import issue_token
from ledger.dates import school_year_of

ROOT = Path(__file__).resolve().parents[1]
SECRET = "live-server-secret-0123456789abcdef"
TOKEN_TTL_S = 6 * 3_600
HEALTH_WAIT_S = 90.0  # a cold start on a loaded 2-core machine takes 5-10 s
STOP_WAIT_S = 15.0
LOCAL = ZoneInfo("Asia/Almaty")
API = "/api/v1"
LUNCH = {"item_id": "lunch", "name": "Lunch", "price_kzt": 700, "allergens": [],
         "free_meal": True}
BUN = {"item_id": "bun", "name": "Bun", "price_kzt": 150, "allergens": ["gluten"],
       "free_meal": False}
SENIOR_CATEGORIES = ["large_family", "low_income", "disability"]


class LiveServerError(RuntimeError):
    """The server did not start, or died, or a seeding request failed."""


def free_port() -> int:
    """A TCP port nobody listens on right now. Under pytest-xdist each worker draws from a
    range of its own, below the kernel's ephemeral ports, so two workers' servers never race
    for one port (a server started on a taken port would answer another test's /health)."""
    import random

    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if worker.startswith("gw") and worker[2:].isdigit():
        low = 20_000 + int(worker[2:]) % 10 * 1_000
        for port in random.sample(range(low, low + 1_000), 200):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
                try:
                    probe.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def local_today() -> date:
    return datetime.now(UTC).astimezone(LOCAL).date()


def at_local(day: date, hour: int = 9, minute: int = 0, second: int = 0) -> str:
    """RFC 3339 UTC instant of a local (Asia/Almaty) time."""
    return datetime.combine(day, clock(hour, minute, second), LOCAL).astimezone(UTC).isoformat()


class LiveServer:
    """`python -m api.cli serve --port P` on `database_url`, killable and restartable."""

    def __init__(self, database_url: str, workdir: Path, *, secret: str = SECRET,
                 port: int | None = None, log_level: str = "WARNING") -> None:
        self.database_url = database_url
        self.workdir = Path(workdir)
        self.secret = secret
        self.port = port or free_port()
        self.log_level = log_level
        self.log_path = self.workdir / f"server-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.kills = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, wait_s: float = HEALTH_WAIT_S) -> LiveServer:
        """Start the process and return once its own /health answers 200."""
        if self.running:
            raise LiveServerError(f"server on port {self.port} is already running")
        env = dict(os.environ, TAMAQ_DATABASE_URL=self.database_url,
                   TAMAQ_TOKEN_SECRET=self.secret, TAMAQ_LOG_LEVEL=self.log_level,
                   PYTHONUNBUFFERED="1")
        self.workdir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            log.write(f"--- start #{self.starts + 1} ---\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                [sys.executable, "-m", "api.cli", "serve", "--host", "127.0.0.1",
                 "--port", str(self.port)],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        self.starts += 1
        self.wait_healthy(wait_s)
        return self

    def wait_healthy(self, wait_s: float = HEALTH_WAIT_S) -> None:
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if not self.running:
                raise LiveServerError(f"server exited with {self.process and self.process.poll()}"
                                      f" while starting:\n{self.log_tail()}")
            try:
                health = httpx.get(f"{self.url}/health", timeout=1.0)
                # ours, not another test's server that got the same port first
                if health.status_code == 200 and self.process is not None and \
                        health.json().get("pid") == self.process.pid:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise LiveServerError(f"no /health within {wait_s} s:\n{self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL: no shutdown hook runs, the writer's in-flight batch is lost."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=STOP_WAIT_S)
            self.kills += 1

    def restart(self) -> None:
        self.kill()
        self.start()

    def stop(self) -> None:
        """SIGTERM (graceful), then SIGKILL if it does not go."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=STOP_WAIT_S)
        except subprocess.TimeoutExpired:
            self.kill()

    def __enter__(self) -> LiveServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def log_tail(self, chars: int = 3_000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"

    def token(self, role: str, **scope: Any) -> str:
        return issue_token(self.secret, role, ttl_s=TOKEN_TTL_S, **scope)

    def headers(self, role: str, **scope: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(role, **scope)}"}

    def client(self, timeout_s: float = 30.0) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=timeout_s)

    def head(self) -> int:
        response = httpx.get(f"{self.url}/health", timeout=10.0)
        response.raise_for_status()
        return int(response.json()["position"])


@contextmanager
def live_server(database_url: str, workdir: Path, **options: Any) -> Iterator[LiveServer]:
    """A started server, stopped afterwards whatever happens."""
    server = LiveServer(database_url, workdir, **options)
    try:
        yield server.start()
    finally:
        server.stop()


class TcpProxy:
    """A TCP forwarder to 127.0.0.1:`target_port` that can cut the network: `cut()` drops
    every open connection and closes new ones at once (the client sees the server vanish,
    as on a pulled cable or a dead router); `restore()` lets traffic through again."""

    CHUNK_BYTES = 65_536

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._cut = threading.Event()
        self._closed = False
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._thread = threading.Thread(target=self._accept_loop, name="tcp-proxy", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cut(self) -> None:
        self._cut.set()
        self._drop_all()

    def restore(self) -> None:
        self._cut.clear()

    def close(self) -> None:
        self._closed = True
        self._cut.set()
        _shut(self._listener)
        self._drop_all()
        self._thread.join(timeout=5)

    def __enter__(self) -> TcpProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _drop_all(self) -> None:
        with self._lock:
            sockets, self._sockets = self._sockets, set()
        for sock in sockets:
            _shut(sock)

    def _accept_loop(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self._cut.is_set():
                _shut(client)
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=2)
                upstream.settimeout(None)
            except OSError:
                _shut(client)
                continue
            with self._lock:
                self._sockets.update((client, upstream))
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(self.CHUNK_BYTES):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            _shut(src)
            _shut(dst)


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


# ------------------------------------------------------------------------ seeding


@dataclass(frozen=True)
class LiveChild:
    """A child to enrol: grade 1-4 is entitled (primary), 5-11 only with a category."""

    child_id: str
    grade: int = 2
    category: str | None = None
    voucher: bool = True
    card: bool = True
    balance_kzt: int = 0


@dataclass
class LiveSchool:
    school_id: str
    region_id: str
    days: list[date]
    terminal_tokens: dict[str, str] = field(default_factory=dict)
    children: list[str] = field(default_factory=list)

    @property
    def canteen(self) -> str:
        return f"{self.school_id}-canteen"

    @property
    def gate(self) -> str:
        return f"{self.school_id}-gate"

    def terminal_headers(self, terminal_id: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.terminal_tokens[terminal_id]}"}

    @property
    def canteen_headers(self) -> dict[str, str]:
        return self.terminal_headers(self.canteen)


def events_path(terminal_id: str) -> str:
    return f"{API}/terminals/{terminal_id}/events"


def month_days(month: str) -> list[date]:
    """Every calendar day of `month` (YYYY-MM), weekends included."""
    day = date(int(month[:4]), int(month[5:7]), 1)
    days = []
    while day.month == int(month[5:7]):
        days.append(day)
        day += timedelta(days=1)
    return days


def _ok(response: httpx.Response) -> Any:
    if response.status_code not in (200, 201):
        raise LiveServerError(f"{response.request.method} {response.request.url.path}: "
                              f"{response.status_code} {response.text[:500]}")
    return response.json()


def seed_live_school(server: LiveServer, school_id: str = "s1", *, region_id: str = "r1",
                     days: Sequence[date] | None = None, children: Sequence[LiveChild] = (),
                     menu_days: Sequence[date] | None = None,
                     extra_terminals: Sequence[tuple[str, str]] = (),
                     overdraft_limit_kzt: int = 0) -> LiveSchool:
    """Through the API: region, school, calendar (default: every day of today's and
    tomorrow's months, so a gateway using the real clock always finds a school day), a menu
    (free-meal lunch, bun) on `menu_days` (default: today and tomorrow), eligibility,
    children with consent, an active voucher for the school year and a card
    `card-<child_id>`, top-ups, a canteen and a gate terminal plus `extra_terminals`."""
    today = local_today()
    if days is None:
        months = sorted({today.isoformat()[:7], (today + timedelta(days=1)).isoformat()[:7]})
        days = [d for m in months for d in month_days(m)]
    if menu_days is None:
        menu_days = [today, today + timedelta(days=1)]
    admin = server.headers("admin")
    payments = server.headers("payments")
    school = LiveSchool(school_id, region_id, sorted(days))
    with server.client() as http:
        _ok(http.put(f"{API}/regions/{region_id}", json={"name": f"Region {region_id}"},
                     headers=admin))
        _ok(http.put(f"{API}/schools/{school_id}", headers=admin, json={
            "name": f"School {school_id}", "region_id": region_id, "district": "Central",
            "shifts": [1, 2], "overdraft_limit_kzt": overdraft_limit_kzt}))
        base = f"{API}/schools/{school_id}"
        for month in sorted({d.isoformat()[:7] for d in days}):
            _ok(http.put(f"{base}/calendar/{month}", headers=admin, json={
                "school_days": [d.isoformat() for d in days if d.isoformat()[:7] == month]}))
        first = min(days)
        enrolled_on = date(first.year if first.month >= 9 else first.year - 1, 9, 1)
        _ok(http.put(f"{base}/eligibility", headers=admin, json={
            "senior_categories": SENIOR_CATEGORIES, "effective_from": enrolled_on.isoformat()}))
        for day in menu_days:
            _ok(http.put(f"{base}/menu/{day.isoformat()}", headers=admin,
                         json={"items": [LUNCH, BUN]}))
        years = sorted({school_year_of(d) for d in days})
        for child in children:
            _enrol(http, admin, payments, school_id, child, enrolled_on, years)
            school.children.append(child.child_id)
        terminals = [(school.canteen, "canteen"), (school.gate, "gate"), *extra_terminals]
        for terminal_id, kind in terminals:
            body = _ok(http.put(f"{API}/terminals/{terminal_id}", headers=admin,
                                json={"school_id": school_id, "kind": kind}))
            school.terminal_tokens[terminal_id] = body["token"]
    return school


def _enrol(http: httpx.Client, admin: dict[str, str], payments: dict[str, str],
           school_id: str, child: LiveChild, enrolled_on: date, years: Sequence[str]) -> None:
    cid = child.child_id
    _ok(http.post(f"{API}/schools/{school_id}/children", headers=admin, json={
        "child_id": cid, "first_name": f"Name{cid}", "last_name": f"Family{cid}",
        "grade": child.grade, "class_name": f"{child.grade}A", "shift": 1,
        "enrolled_on": enrolled_on.isoformat(),
        "consent": {"given_by": f"guardian of {cid}", "document_ref": f"consent-{cid}",
                    "signed_on": (enrolled_on - timedelta(days=7)).isoformat()}}))
    path = f"{API}/children/{cid}"
    if child.category is not None:
        _ok(http.post(f"{path}/categories", headers=admin, json={
            "category": child.category, "effective_from": enrolled_on.isoformat(),
            "document_ref": f"doc-{child.category}-{cid}"}))
    if child.voucher:
        for year in years:
            voucher_id = f"v-{cid}-{year[:4]}"
            _ok(http.post(f"{path}/vouchers", headers=admin,
                          json={"voucher_id": voucher_id, "school_year": year}))
            _ok(http.post(f"{path}/vouchers/{voucher_id}/activation", headers=admin,
                          json={"activated_on": max(enrolled_on, date(int(year[:4]), 9, 1))
                                .isoformat()}))
    if child.card:
        _ok(http.post(f"{path}/identifiers", headers=admin,
                      json={"kind": "card", "token": f"card-{cid}"}))
    if child.balance_kzt:
        _ok(http.post(f"{path}/top-ups", headers=payments, json={
            "payment_id": f"seed-{cid}", "amount_kzt": child.balance_kzt,
            "paid_at": datetime.now(UTC).isoformat()}))


def meal_item(event_id: str, *, card: str, at: str, item_ids: Sequence[str] | None = None
              ) -> dict[str, Any]:
    item: dict[str, Any] = {"event_id": event_id, "kind": "meal", "at": at,
                            "identifier": {"kind": "card", "token": card}}
    if item_ids is not None:
        item["item_ids"] = list(item_ids)
    return item


# ------------------------------------------------------------------------ checking a store


def read_model_tables() -> list[str]:
    """Every pm_ table the projections rebuild (pm_delivery is kept across rebuilds: it
    records what was sent to parents, not a fact derived from events)."""
    from projections.schema import KEPT_ON_REBUILD, TABLES

    names = [s.split()[5] for statements in TABLES.values() for s in statements
             if s.startswith("CREATE TABLE")]
    return [n for n in names if n not in KEPT_ON_REBUILD]


def _plain(value: Any) -> Any:
    return bytes(value) if isinstance(value, (memoryview, bytearray)) else value


def table_rows(db: Any, table: str) -> list[tuple[Any, ...]]:
    with db.read() as cur:
        rows = cur.fetchall(f"SELECT * FROM {table}")
    return sorted((tuple(_plain(v) for v in row) for row in rows), key=repr)


def replay_differences(ledger: Any) -> list[str]:
    """Catch the store's own read models up (the incremental path, as after a crash), replay
    the whole log into a fresh scratch database, and name every table that differs."""
    from ledger.sqldb import SideDatabase
    from projections import all_projections, build_runner
    from projections.runner import Runner

    build_runner(ledger).catch_up()
    scratch = SideDatabase("sqlite", sqlite_path=":memory:")
    try:
        Runner(ledger, scratch, all_projections(ledger)).catch_up()
        differences = []
        for table in read_model_tables():
            live, replay = table_rows(ledger.side_db, table), table_rows(scratch, table)
            if live != replay:
                only_live = [r for r in live if r not in replay][:3]
                only_replay = [r for r in replay if r not in live][:3]
                differences.append(f"{table}: {len(live)} live rows, {len(replay)} replayed; "
                                   f"only live {only_live}; only replayed {only_replay}")
        return differences
    finally:
        scratch.close()


def stored_topics(ledger: Any, page: int = 5_000) -> Counter[str]:
    """How many events of each type the log holds (read from the store, not a read model)."""
    counts: Counter[str] = Counter()
    start = 1
    while notes := ledger.recorder.select_notifications(start=start, limit=page):
        counts.update(n.topic.rsplit(":", 1)[-1] for n in notes)
        start = notes[-1].id + 1
    return counts


def verify_chain_if_available(ledger: Any) -> str | None:
    """Recompute the hash chain when the store's recorder keeps one; None when it does not."""
    if not hasattr(ledger.recorder, "chain_bounds"):
        return None
    from ledger.persistence.chain import verify_chain

    result = verify_chain(ledger.recorder)
    assert result.ok, result.summary()
    return result.head
