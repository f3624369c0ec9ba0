"""The lunch-rush simulator on a pty pair against a gateway on the pty's slave end."""

from __future__ import annotations

import threading
from pathlib import Path

from terminals.client import ServerClient
from terminals.fake_server import FakeServer, demo_ledger
from terminals.gateway import Gateway, GatewayConfig
from terminals.journal import Journal
from terminals.simulator import PtyDevice, RushConfig, play_rush
from terminals.transport import SerialTransport


def test_a_lunch_rush_with_repeats_unknown_cards_and_garbage_is_fully_answered(tmp_path: Path) -> None:
    server = FakeServer(demo_ledger(children=20)).start()
    pty = PtyDevice()
    clients = [ServerClient(server.url, "t-1", "secret") for _ in range(2)]
    gateway = Gateway(GatewayConfig("t-1"), SerialTransport(pty.slave_path), clients[0], clients[1],
                      Journal(tmp_path / "j.db"))
    stop = threading.Event()
    thread = threading.Thread(target=gateway.run, args=(stop,), daemon=True)
    thread.start()
    try:
        config = RushConfig(tokens=tuple(str(100000 + n) for n in range(20)), scans=150, scans_per_min=6000,
                            repeat_ratio=0.1, unknown_ratio=0.1, garbage_ratio=0.1, seed=7)
        summary = play_rush(pty, config)
    finally:
        stop.set()
        thread.join(timeout=10)
        server.stop()
        pty.close()
    assert summary.timeouts == 0 and summary.answered == 150
    assert summary.repeats > 0 and summary.repeats_same_answer == summary.repeats
    assert summary.denied["unknown_identifier"] > 0
    assert gateway.counters["wire_garbage"] > 0
    assert len(server.ledger.results) == 150  # repeats were answered from memory, not sent again
