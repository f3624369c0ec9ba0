"""A gateway process killed with SIGKILL between journalling and syncing loses nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from terminals import frames as fr
from terminals.fake_server import FakeChild, FakeLedger, FakeServer
from terminals.simulator import Device, PtyDevice

ROOT = Path(__file__).resolve().parents[2]


def start_gateway(pty: PtyDevice, server: FakeServer, journal: Path, log: Path) -> subprocess.Popen[bytes]:
    args = [sys.executable, "-m", "terminals.cli", "terminal", "run", "--port", pty.slave_path,
            "--terminal-id", "t-1", "--server", server.url, "--token", server.ledger.token,
            "--journal", str(journal), "--offline-after-ms", "200"]
    with log.open("ab") as out:
        return subprocess.Popen(args, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)


def scan(device: Device, token: str) -> fr.Message:
    seq = device.next_seq()
    frame = fr.encode_frame(seq, fr.Scan("card", token, None, ("bun",)))
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:  # the gateway may still be opening the port
        answers = device.exchange(frame, seq, False, 0.5)
        if answers:
            return answers[0]
    raise AssertionError(f"no answer for {token}")


@pytest.fixture
def server() -> Iterator[FakeServer]:
    ledger = FakeLedger(menu=[{"item_id": "bun", "name": "Тоқаш", "price_kzt": 100, "allergens": [], "free_meal": False}])
    for n in range(5):
        ledger.add_child(FakeChild(f"c-{n}", f"Zarina{n}", entitled=False, balance_kzt=10_000), ("card", f"10{n}"))
    fake = FakeServer(ledger).start()
    yield fake
    fake.stop()


def test_offline_decisions_survive_sigkill_and_are_synced_after_restart(server: FakeServer, tmp_path: Path) -> None:
    pty, journal, log = PtyDevice(), tmp_path / "gateway.journal", tmp_path / "gateway.log"
    device = Device(pty)
    gateway = start_gateway(pty, server, journal, log)
    try:
        online = scan(device, "100")
        assert isinstance(online, fr.Grant) and not online.flags & fr.FLAG_OFFLINE
        server.stop()
        offline = [scan(device, f"10{n % 5}") for n in range(12)]
        assert all(isinstance(a, fr.Grant) and a.flags & fr.FLAG_OFFLINE for a in offline)
        os.kill(gateway.pid, signal.SIGKILL)  # answered = journalled; nothing synced yet
        gateway.wait()
        assert len(server.ledger.results) == 1
        server.start()
        gateway = start_gateway(pty, server, journal, log)
        deadline = time.monotonic() + 20
        while len(server.ledger.results) < 13 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        gateway.kill()
        gateway.wait()
        pty.close()
    ids = [str(item["event_id"]) for item in server.ledger.recorded]
    assert len(ids) == len(set(ids)) == 13, log.read_text()[-2000:]
    assert sum(c.balance_kzt for c in server.ledger.children.values()) == 5 * 10_000 - 13 * 100
    assert "Zarina" not in log.read_text()  # names never reach the log
