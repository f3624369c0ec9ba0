"""`tamaq serve` as several processes: the read models in a process of their own, HTTP in one
or more worker processes. The server still dies whole (no orphan keeps the port or the
database), and what one request wrote the next request reads, whichever process answers it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from api.tokens import verify_token
from live_server import (API, ROOT, LiveChild, LiveServer, at_local, events_path, local_today,
                         meal_item, seed_live_school)

PAID = [LiveChild(f"p{n}", grade=6, voucher=False, balance_kzt=1_000) for n in range(6)]
BUN_KZT = 150
TOP_UP_KZT = 500
GONE_WAIT_S = 10.0
FILINGS = f"{API}/regions/r1/filings?month=2025-10"


class ServeWith(LiveServer):
    """A LiveServer started with extra `tamaq serve` flags (--workers, --read-models)."""

    def __init__(self, database_url: str, workdir: Path, *flags: str) -> None:
        super().__init__(database_url, workdir)
        self.flags = flags

    def start(self, wait_s: float = 90.0) -> ServeWith:
        env = dict(os.environ, TAMAQ_DATABASE_URL=self.database_url,
                   TAMAQ_TOKEN_SECRET=self.secret, TAMAQ_LOG_LEVEL=self.log_level,
                   PYTHONUNBUFFERED="1")
        self.workdir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "api.cli", "serve", "--host", "127.0.0.1",
                 "--port", str(self.port), *self.flags],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        self.starts += 1
        self.wait_healthy(wait_s)
        return self


@pytest.fixture(params=["sqlite", "postgres"])
def file_store_url(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


def descendants(pid: int) -> set[int]:
    """Live (not zombie) processes below `pid`, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if state != "Z":
            children.setdefault(int(ppid), []).append(int(entry.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def alive(pids: set[int]) -> set[int]:
    left = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            left.add(pid)
    return left


def alive_after_wait(pids: set[int]) -> set[int]:
    deadline = time.monotonic() + GONE_WAIT_S
    while alive(pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    return alive(pids)


def balance_kzt(server: LiveServer, child_id: str) -> int:
    with server.client() as http:  # a new connection: any worker may answer
        response = http.get(f"{API}/children/{child_id}/balance", headers=server.headers("admin"))
    assert response.status_code == 200, response.text
    return int(response.json()["balance_kzt"])


def assert_reads_see_each_write(server: LiveServer) -> None:
    """Top up, read, buy a bun, read: each read is a separate connection and request."""
    school = seed_live_school(server, children=PAID)
    for n, child in enumerate(PAID):
        with server.client() as http:
            paid = http.post(f"{API}/children/{child.child_id}/top-ups",
                             headers=server.headers("payments"),
                             json={"payment_id": f"pay-{n}", "amount_kzt": TOP_UP_KZT,
                                   "paid_at": datetime.now(UTC).isoformat()})
        assert paid.status_code == 201, paid.text
        assert balance_kzt(server, child.child_id) == child.balance_kzt + TOP_UP_KZT
        with server.client() as http:
            scan = http.post(events_path(school.canteen), headers=school.canteen_headers,
                             json=[meal_item(f"bun-{n}", card=f"card-{child.child_id}",
                                             at=at_local(local_today(), 12), item_ids=["bun"])])
        assert scan.status_code == 200 and scan.json()[0]["status"] == "recorded", scan.text
        assert balance_kzt(server, child.child_id) == child.balance_kzt + TOP_UP_KZT - BUN_KZT


@pytest.mark.parametrize("flags", [("--read-models=thread",), ("--read-models=process",),
                                   ("--read-models=process", "--workers", "2")],
                         ids=["thread", "process", "process-2-workers"])
def test_every_topology_reads_its_own_writes(file_store_url: str, tmp_path: Path,
                                             flags: tuple[str, ...]) -> None:
    with ServeWith(file_store_url, tmp_path, *flags).start() as server:
        assert_reads_see_each_write(server)
        health = httpx.get(f"{server.url}/health", timeout=10).json()
        assert health["pid"] == server.process.pid  # type: ignore[union-attr]
        assert health["read_models_position"] == health["position"]


def test_a_token_revoked_through_one_worker_is_refused_by_every_worker(sqlite_url: str,
                                                                      tmp_path: Path) -> None:
    with ServeWith(sqlite_url, tmp_path, "--workers", "2").start() as server:
        token = server.token("admin")
        headers = {"Authorization": f"Bearer {token}"}
        for _ in range(8):  # new connections: both workers have read the revocations once
            with server.client() as http:
                assert http.get(FILINGS, headers=headers).status_code != 401
        token_id = verify_token(server.secret, token).token_id
        with server.client() as http:
            revoked = http.post(f"{API}/tokens/{token_id}/revocation",
                                headers=server.headers("admin"), json={"reason": "lost"})
        assert revoked.status_code == 201, revoked.text
        for _ in range(8):
            with server.client() as http:  # a new connection: any worker may answer
                assert http.get(FILINGS, headers=headers).status_code == 401


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_killing_the_server_kills_its_read_model_process_and_workers(sqlite_url: str,
                                                                    tmp_path: Path) -> None:
    server = ServeWith(sqlite_url, tmp_path, "--read-models=process", "--workers", "2")
    with server.start():
        assert server.process is not None
        children = descendants(server.process.pid)
        assert len(children) >= 3, children  # read models and two HTTP workers
        server.kill()
        assert not alive_after_wait(children), "orphans left"
        server.start()  # the port and the store are free again
        assert server.head() >= 0


def test_a_graceful_stop_stops_every_process(sqlite_url: str, tmp_path: Path) -> None:
    server = ServeWith(sqlite_url, tmp_path, "--workers", "2")
    with server.start():
        assert server.process is not None
        children = descendants(server.process.pid)
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=30) == 0
        assert not alive_after_wait(children), "processes left"


@pytest.mark.parametrize("flags", [("--workers", "2"), ("--read-models=process",)])
def test_the_memory_store_refuses_more_than_one_process_in_one_line(
        flags: tuple[str, ...]) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAMAQ_")}
    result = subprocess.run([sys.executable, "-m", "api.cli", "serve", *flags],
                            env={**env, "TAMAQ_DATABASE_URL": "memory://"}, cwd=ROOT,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tamaq: error: "), result.stderr
    assert "memory" in lines[0]
