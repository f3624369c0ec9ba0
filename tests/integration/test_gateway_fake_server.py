"""The gateway against an in-process fake of the server's terminal endpoints."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from terminals import frames as fr
from terminals.client import ServerClient
from terminals.fake_server import FakeChild, FakeLedger, FakeServer
from terminals.gateway import Gateway, GatewayConfig
from terminals.journal import Journal
from terminals.simulator import Device
from terminals.transport import MemoryTransport


def school() -> FakeLedger:
    ledger = FakeLedger(menu=[{"item_id": "lunch", "name": "Ас", "price_kzt": 650, "allergens": [], "free_meal": True},
                              {"item_id": "bun", "name": "Тоқаш", "price_kzt": 150, "allergens": [], "free_meal": False}])
    ledger.add_child(FakeChild("c-1", "Айгерим", entitled=True, balance_kzt=1000), ("card", "111"), ("palm", "p111"))
    ledger.add_child(FakeChild("c-2", "Бауыржан", entitled=False, balance_kzt=1000), ("card", "222"))
    return ledger


class Harness:
    """A gateway thread on one end of a memory pair; the test plays the device on the other."""

    def __init__(self, server: FakeServer, journal: Path, terminal_id: str = "t-1", **config: object) -> None:
        self.device_end, self.gateway_end = MemoryTransport.pair(read_timeout_s=0.01)
        clients = [ServerClient(server.url, terminal_id, server.ledger.token, timeout_s=1.0) for _ in range(2)]
        cfg = GatewayConfig(terminal_id, sync_interval_s=0.05, cache_refresh_s=3600, **config)  # type: ignore[arg-type]
        self.gateway = Gateway(cfg, self.gateway_end, clients[0], clients[1], Journal(journal))
        self.device = Device(self.device_end)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.gateway.run, args=(self.stop,), daemon=True)
        self.thread.start()
        wait_for(lambda: self.gateway.view.cache is not None or not self.gateway.online.is_set())

    def scan(self, token: str, items: tuple[str, ...] = (), direction: str | None = None) -> list[fr.Message]:
        kind = "palm" if token.startswith("p") else "card"
        seq = self.device.next_seq()
        return self.send(seq, fr.Scan(kind, token, direction, items))

    def send(self, seq: int, scan: fr.Scan) -> list[fr.Message]:
        answers = self.device.exchange(fr.encode_frame(seq, scan), seq, scan.direction is not None, 3.0)
        assert answers, f"no answer to seq {seq}"
        return answers

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=10)
        assert not self.thread.is_alive()


def wait_for(condition: object, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.02)
    raise AssertionError("condition not reached in time")


@pytest.fixture
def server() -> Iterator[FakeServer]:
    fake = FakeServer(school()).start()
    yield fake
    fake.stop()


@pytest.fixture
def harness(server: FakeServer, tmp_path: Path) -> Iterator[Harness]:
    h = Harness(server, tmp_path / "g.db")
    yield h
    h.close()


def recorded_once(ledger: FakeLedger) -> bool:
    ids = [str(item["event_id"]) for item in ledger.recorded]
    return len(ids) == len(set(ids))


def test_online_scans_are_answered_from_the_server(harness: Harness, server: FakeServer) -> None:
    (funded,) = harness.scan("111")
    assert funded == fr.Grant(fr.Funding.FUNDED, 585, 1000, "Айгерим", 0)
    assert harness.scan("p111") == [fr.Deny(fr.Reason.already_served, "Бүгін тамақтанды / Уже ел сегодня", 0)]
    assert harness.scan("222", ("bun",)) == [fr.Grant(fr.Funding.PAID, 150, 850, "Бауыржан", 0)]
    assert harness.scan("nobody")[0].reason == fr.Reason.unknown_identifier  # type: ignore[union-attr]
    assert len(server.ledger.results) == 4 and harness.gateway.journal.pending_count() == 0


def test_a_repeated_sequence_number_gets_the_same_answer_without_a_server_call(harness: Harness,
                                                                             server: FakeServer) -> None:
    scan = fr.Scan("card", "222", None, ("bun",))
    first = harness.send(10, scan)
    requests = server.ledger.requests
    assert harness.send(10, scan) == first
    assert server.ledger.requests == requests
    assert harness.send(11, scan) != first  # a new seq is a new purchase: the balance moved
    assert harness.gateway.counters["repeated_seq"] == 1


def test_garbage_and_unknown_frames_are_counted_and_never_wedge_the_gateway(harness: Harness) -> None:
    body = bytes([0, 0, 0x77, 0, 1])
    unknown = bytes([fr.STX]) + body + fr.crc16_ccitt_false(body).to_bytes(2, "big") + bytes([fr.ETX])
    harness.device_end.write(b"\x00\xffnoise" + unknown + bytes([fr.STX, 0x7F, 0x7F]) + b"\x02\x00\x05")
    time.sleep(0.3)  # the partial frame expires
    assert harness.scan("222", ("bun",))[0].funding == fr.Funding.PAID  # type: ignore[union-attr]
    counters = harness.gateway.counters
    assert counters["wire_garbage"] >= 1 and counters["wire_unknown_type"] == 1 and counters["wire_bad_length"] == 1


def test_heartbeats_are_acknowledged_with_the_online_state(harness: Harness) -> None:
    seq = harness.device.next_seq()
    harness.device_end.write(fr.encode_frame(seq, fr.Heartbeat(1)))
    answers = harness.device.exchange(b"", seq, False, 2.0)
    assert answers == [fr.Ack(offline=False)]


def test_server_stopped_mid_rush_then_restarted_every_scan_lands_once(harness: Harness, server: FakeServer) -> None:
    tokens = ["111", "222", "nobody", "p111"] * 5
    answers = [harness.scan(t, ("bun",) if t == "222" else ()) for t in tokens[:6]]
    server.stop()
    answers += [harness.scan(t, ("bun",) if t == "222" else ()) for t in tokens[6:]]
    offline = [a for a in answers[6:] if a[0].flags & fr.FLAG_OFFLINE]  # type: ignore[union-attr]
    assert len(offline) == len(tokens) - 6
    assert harness.gateway.journal.pending_count() == len(tokens) - 6
    server.start()
    wait_for(lambda: harness.gateway.journal.pending_count() == 0 and harness.gateway.online.is_set())
    ledger = server.ledger
    assert len(ledger.results) == len(tokens) and recorded_once(ledger)
    assert ledger.children["c-2"].balance_kzt == 1000 - 150 * 5
    assert sum(1 for r in ledger.results.values() if r["funding"] == "funded") == 1
    assert harness.scan("222", ("bun",))[0].flags & fr.FLAG_OFFLINE == 0  # type: ignore[union-attr]


def test_a_slow_server_is_given_up_on_in_time_and_the_scan_is_still_counted_once(harness: Harness,
                                                                               server: FakeServer) -> None:
    server.delay_s = 0.6  # longer than offline_after_ms = 300: the request lands, the answer is late
    started = time.monotonic()
    (answer,) = harness.scan("222", ("bun",))
    assert time.monotonic() - started < 0.6
    assert answer.flags & fr.FLAG_OFFLINE  # type: ignore[union-attr]
    server.delay_s = 0.0
    wait_for(lambda: harness.gateway.journal.pending_count() == 0)
    # the journal reuses the event id of the late request: whichever arrives second is a duplicate
    assert list(harness.gateway.journal.statuses().values()) in (["duplicate"], ["recorded"])
    wait_for(lambda: server.ledger.requests >= 3)
    assert len(server.ledger.recorded) == 1 and server.ledger.children["c-2"].balance_kzt == 850


def test_two_gateways_offline_serving_one_child_give_one_funded_and_one_flagged(server: FakeServer,
                                                                              tmp_path: Path) -> None:
    gates = [Harness(server, tmp_path / f"g{n}.db", terminal_id=f"t-{n}") for n in (1, 2)]
    try:
        server.stop()
        answers = [g.scan("111")[0] for g in gates]
        assert all(isinstance(a, fr.Grant) and a.funding == fr.Funding.FUNDED for a in answers)
        server.start()
        wait_for(lambda: all(g.gateway.journal.pending_count() == 0 for g in gates))
    finally:
        for g in gates:
            g.close()
    fundings = sorted((str(r["funding"]), bool(r["flagged"])) for r in server.ledger.results.values())
    assert fundings == [("funded", False), ("unfunded", True)]


def test_a_line_reader_at_a_gate_drives_the_relay_and_answers_nothing(server: FakeServer, tmp_path: Path) -> None:
    h = Harness(server, tmp_path / "g.db", reader="lines", kind="gate", gate_open_ms=100)
    try:
        h.device_end.write(b"C:111\r\nP:nobody\r\n")
        wait_for(lambda: len(server.ledger.results) == 2)
        time.sleep(0.3)
        assert h.device_end.read() == b""
        assert h.gateway_end.relay_pulses == 1 and not h.gateway_end.relay_on
    finally:
        h.close()
    passes = {str(r["status"]) for r in server.ledger.results.values()}
    assert passes == {"recorded", "refused"}


def test_framed_gates_get_open_after_grant(harness: Harness, server: FakeServer) -> None:
    answers = harness.scan("111", direction="in")
    assert isinstance(answers[0], fr.Grant) and answers[1] == fr.Open("in", 1500)
    assert [type(a) for a in harness.scan("nobody", direction="out")] == [fr.Deny]
