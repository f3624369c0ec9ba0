"""The gateway against the real server (`tamaq serve` on SQLite in a subprocess).

The server is killed with SIGKILL mid-rush and restarted; the network between gateway and
server is cut (a TCP proxy that drops every connection); a gateway process is killed with
SIGKILL between journalling and syncing. Afterwards the ledger holds each scan exactly once,
and offline decisions the server would not have funded are recorded unfunded and flagged.
"""

from __future__ import annotations

import itertools
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from terminals import frames as fr
from terminals.client import EventItem, EventResult, ServerClient
from terminals.gateway import Gateway, GatewayConfig
from terminals.journal import Journal
from terminals.simulator import Device, PtyDevice
from terminals.transport import MemoryTransport
from live_server import (API, ROOT, LiveChild, LiveSchool, LiveServer, TcpProxy,
                               at_local, events_path, local_today, meal_item,
                               seed_live_school)

ANSWER_WAIT_S = 5.0
SYNC_WAIT_S = 60.0
ONLINE_WAIT_MS = 3_000  # generous: the 2-core test machine is busy; a kill still fails fast


class RecordingClient(ServerClient):
    """The gateway's online client, noting every event id it tried to deliver."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sent: list[str] = []

    def post_events(self, items: list[EventItem], timeout_s: float | None = None
                    ) -> list[EventResult]:
        self.sent.extend(item.event_id for item in items)
        return super().post_events(items, timeout_s)


class LiveGateway:
    """A gateway thread on one end of an in-memory wire; the test plays the device."""

    def __init__(self, server_url: str, terminal_id: str, token: str, journal: Path) -> None:
        self.device_end, gateway_end = MemoryTransport.pair(read_timeout_s=0.01)
        self.client = RecordingClient(server_url, terminal_id, token, timeout_s=10.0)
        sync_client = ServerClient(server_url, terminal_id, token, timeout_s=10.0)
        config = GatewayConfig(terminal_id, offline_after_ms=ONLINE_WAIT_MS, sync_interval_s=0.1,
                               cache_refresh_s=3_600)
        self.journal = Journal(journal)
        self.gateway = Gateway(config, gateway_end, self.client, sync_client, self.journal)
        self.device = Device(self.device_end)
        self.answers: list[tuple[str, fr.Message]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self.gateway.run, args=(self._stop,), daemon=True)
        self._thread.start()
        wait_until(lambda: self.gateway.view.cache is not None
                   or not self.gateway.online.is_set(), "the first cache fetch")

    def scan(self, token: str, items: tuple[str, ...] = ()) -> fr.Message:
        seq = self.device.next_seq()
        frame = fr.encode_frame(seq, fr.Scan("card", token, None, items))
        answers = self.device.exchange(frame, seq, False, ANSWER_WAIT_S)
        assert answers, f"no answer to the scan of {token} (seq {seq})"
        self.answers.append((token, answers[0]))
        return answers[0]

    def wait_synced(self) -> None:
        wait_until(lambda: self.journal.pending_count() == 0 and self.gateway.online.is_set(),
                   "journal synced and gateway online", SYNC_WAIT_S)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=15)
        self.client.close()
        self.journal.close()


def wait_until(condition: Callable[[], bool], what: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def offline(message: fr.Message) -> bool:
    return bool(getattr(message, "flags", 0) & fr.FLAG_OFFLINE)


def grants_by_token(answers: list[tuple[str, fr.Message]]) -> Counter[str]:
    return Counter(token for token, message in answers if isinstance(message, fr.Grant))


# ------------------------------------------------------------------ reading the ledger


def ledger_entries(server: LiveServer, db_path: Path, school: LiveSchool, terminal_id: str
                   ) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """(meals, refusals) the read models hold for a terminal, after they caught up with the
    log (any API read waits for that)."""
    with server.client() as http:
        response = http.get(f"{API}/schools/{school.school_id}/anomalies",
                            params={"month": local_today().isoformat()[:7]},
                            headers=server.headers("admin"))
        assert response.status_code == 200, response.text
    with sqlite3.connect(db_path) as db:
        meals = db.execute("SELECT event_id, child_id, funding, flags FROM pm_meal"
                           " WHERE terminal_id = ? ORDER BY position", (terminal_id,)).fetchall()
        refusals = db.execute("SELECT event_id, child_id, reason FROM pm_refusal"
                              " WHERE terminal_id = ? ORDER BY position", (terminal_id,)).fetchall()
    return meals, refusals


def child_meals(server: LiveServer, child_id: str) -> list[dict[str, Any]]:
    with server.client() as http:
        response = http.get(f"{API}/children/{child_id}/meals",
                            params={"month": local_today().isoformat()[:7]},
                            headers=server.headers("admin"))
    assert response.status_code == 200, response.text
    meals: list[dict[str, Any]] = response.json()
    return meals


def anomalies(server: LiveServer, school: LiveSchool) -> list[dict[str, Any]]:
    with server.client() as http:
        response = http.get(f"{API}/schools/{school.school_id}/anomalies",
                            params={"month": local_today().isoformat()[:7]},
                            headers=server.headers("admin"))
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()
    return found


def journal_rows(path: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as db:
        return db.execute("SELECT event_id, status, reason, funding, flagged, acked_at"
                          " FROM events ORDER BY seq").fetchall()


def assert_each_event_once(meals: list[tuple[Any, ...]], refusals: list[tuple[Any, ...]]
                           ) -> set[str]:
    ids = [row[0] for row in meals] + [row[0] for row in refusals]
    repeated = [event_id for event_id, n in Counter(ids).items() if n > 1]
    assert not repeated, f"events stored more than once: {repeated}"
    return set(ids)


# ------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("live-gateway") / "tamaq.sqlite3"


@pytest.fixture(scope="module")
def server(store: Path) -> Iterator[LiveServer]:
    live = LiveServer(f"sqlite:///{store}", store.parent)
    live.start()
    yield live
    live.stop()


# ------------------------------------------------------------------ tests


ENTITLED = [LiveChild(f"k{n}", grade=2) for n in range(1, 7)]
PAYING = [LiveChild(f"kp{n}", grade=7, balance_kzt=20_000) for n in (1, 2)]
RUSH = [f"card-k{n}" for n in range(2, 7)] + ["card-kp1", "card-kp2", "card-NOPE"]


def online_phase(gateway: LiveGateway) -> None:
    first = gateway.scan("card-k1")
    assert isinstance(first, fr.Grant) and first.funding == fr.Funding.FUNDED
    assert not offline(first)
    again = gateway.scan("card-k1")
    assert isinstance(again, fr.Deny) and again.reason == fr.Reason.already_served
    bought = gateway.scan("card-kp1")
    assert isinstance(bought, fr.Grant) and bought.funding == fr.Funding.PAID
    assert bought.amount_kzt == 700 and not offline(bought)


def rush_through_a_kill(gateway: LiveGateway, server: LiveServer) -> None:
    """The server dies (SIGKILL) four scans into the rush, which goes on regardless."""
    scanned = threading.Event()
    killer = threading.Thread(target=lambda: (scanned.wait(30), server.kill()))
    killer.start()
    for n, token in enumerate(RUSH * 2):
        gateway.scan(token)
        if n == 3:
            scanned.set()
    killer.join()
    late = gateway.scan("card-kx")  # the stale cache says kx has not eaten today
    assert isinstance(late, fr.Grant) and late.funding == fr.Funding.FUNDED and offline(late)
    assert not gateway.gateway.online.is_set()
    assert isinstance(gateway.scan("card-kp2", ("bun",)), fr.Grant)


def scan_while_restarting(gateway: LiveGateway, server: LiveServer) -> None:
    restarter = threading.Thread(target=server.start)
    restarter.start()
    for token in itertools.islice(itertools.cycle(RUSH), 40):
        if not restarter.is_alive():
            break
        gateway.scan(token)
        time.sleep(0.2)
    restarter.join()
    assert server.running, server.log_tail()


def test_a_server_killed_mid_rush_leaves_each_scan_in_the_ledger_exactly_once(
        server: LiveServer, store: Path, tmp_path: Path) -> None:
    school = seed_live_school(server, "g1", children=[*ENTITLED, *PAYING, LiveChild("kx", 3)],
                              extra_terminals=[("g1-canteen2", "canteen")])
    gateway = LiveGateway(server.url, school.canteen, school.terminal_tokens[school.canteen],
                          tmp_path / "g1.journal")
    try:
        # kx eats at the other canteen after this gateway cached the day: its cache is stale
        with server.client() as http:
            other = http.post(events_path("g1-canteen2"), headers=school.terminal_headers(
                "g1-canteen2"), json=[meal_item("other-1", card="card-kx",
                                                at=at_local(local_today(), 0, 1))])
        assert other.json()[0]["funding"] == "funded", other.text
        online_phase(gateway)
        rush_through_a_kill(gateway, server)
        scan_while_restarting(gateway, server)
        gateway.wait_synced()
        after = gateway.scan("card-k2")
        assert isinstance(after, fr.Deny) and after.reason == fr.Reason.already_served
        assert not offline(after)
    finally:
        gateway.close()
    assert_rush_recorded_once(server, store, school, gateway, tmp_path / "g1.journal")


def assert_rush_recorded_once(server: LiveServer, store: Path, school: LiveSchool,
                              gateway: LiveGateway, journal_path: Path) -> None:
    meals, refusals = ledger_entries(server, store, school, school.canteen)
    stored = assert_each_event_once(meals, refusals)
    journal = journal_rows(journal_path)
    tried = set(gateway.client.sent) | {row[0] for row in journal}
    assert stored == tried, (f"missing {sorted(tried - stored)}, "
                             f"unexpected {sorted(stored - tried)}\n{server.log_tail()}")
    assert len(stored) == len(gateway.answers), "one ledger entry per scan answered"
    assert all(row[5] is not None and row[1] != "rejected" for row in journal), journal
    assert sum(offline(m) for _, m in gateway.answers) >= 3
    grants = grants_by_token(gateway.answers)
    for child in [*ENTITLED, *PAYING, LiveChild("kx")]:
        every = child_meals(server, child.child_id)
        mine = [m for m in every if m["terminal_id"] == school.canteen]
        assert len(mine) == grants[f"card-{child.child_id}"], (child.child_id, mine)
        assert sum(m["funding"] == "funded" for m in every) <= 1, every
    flagged = [m for m in meals if m[3]]
    assert [(m[1], m[2]) for m in flagged] == [("kx", "unfunded")], flagged
    assert "offline_unfunded" in flagged[0][3].split(","), flagged
    kx_journal = [row for row in journal if row[0] == flagged[0][0]]
    assert kx_journal and kx_journal[0][3] == "unfunded" and kx_journal[0][4] == 1, kx_journal
    found = [a for a in anomalies(server, school) if a["kind"] == "offline_unfunded"]
    assert [(a["subject"], a["refs"]) for a in found] == [("kx", [flagged[0][0]])], found


def test_two_gateways_offline_serving_the_same_child_give_one_funded_meal_and_one_flagged(
        server: LiveServer, store: Path, tmp_path: Path) -> None:
    school = seed_live_school(server, "g2", children=[LiveChild("t1", 2),
                                                      LiveChild("t2", 8, "large_family")],
                              extra_terminals=[("g2-canteen2", "canteen")])
    with TcpProxy(server.port) as proxy:
        one = LiveGateway(proxy.url, school.canteen, school.terminal_tokens[school.canteen],
                          tmp_path / "one.journal")
        two = LiveGateway(proxy.url, "g2-canteen2", school.terminal_tokens["g2-canteen2"],
                          tmp_path / "two.journal")
        try:
            proxy.cut()
            for token in ("card-t1", "card-t2"):
                for gateway in (one, two):
                    answer = gateway.scan(token)
                    assert isinstance(answer, fr.Grant) and answer.funding == fr.Funding.FUNDED
                    assert offline(answer)
            assert one.journal.pending_count() == two.journal.pending_count() == 2
            proxy.restore()
            one.wait_synced()
            two.wait_synced()
        finally:
            one.close()
            two.close()
    for child_id in ("t1", "t2"):
        meals = child_meals(server, child_id)
        assert len(meals) == 2, meals
        assert sorted(m["funding"] for m in meals) == ["funded", "unfunded"], meals
        funded = next(m for m in meals if m["funding"] == "funded")
        unfunded = next(m for m in meals if m["funding"] == "unfunded")
        assert funded["flags"] == [] and funded["offline"]
        assert {"offline_unfunded", "already_served"} <= set(unfunded["flags"]), unfunded
    statuses = journal_rows(tmp_path / "one.journal") + journal_rows(tmp_path / "two.journal")
    assert sorted((row[3], row[4]) for row in statuses) == [
        ("funded", 0), ("funded", 0), ("unfunded", 1), ("unfunded", 1)], statuses
    flagged = sorted(a["subject"] for a in anomalies(server, school)
                     if a["kind"] == "offline_unfunded")
    assert flagged == ["t1", "t2"]
    with server.client() as http:
        statement = http.get(f"{API}/schools/g2/tenant-statement",
                             params={"month": local_today().isoformat()[:7]},
                             headers=server.headers("admin")).json()
    assert sum(line["meals"] for line in statement["lines"]) == 2, statement
    assert statement["meals_kzt"] == 585 + 710, statement


# ------------------------------------------------------------------ a gateway process


def start_gateway_process(pty: PtyDevice, server_url: str, terminal_id: str, token: str,
                          journal: Path, log: Path) -> subprocess.Popen[bytes]:
    args = [sys.executable, "-m", "api.cli", "terminal", "run", "--port", pty.slave_path,
            "--terminal-id", terminal_id, "--server", server_url, "--token", token,
            "--journal", str(journal), "--offline-after-ms", str(ONLINE_WAIT_MS)]
    with log.open("ab") as out:
        return subprocess.Popen(args, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)


def scan_until_answered(device: Device, token: str, items: tuple[str, ...] = ()) -> fr.Message:
    """The gateway may still be starting: repeat the frame (same seq) until it answers."""
    seq = device.next_seq()
    frame = fr.encode_frame(seq, fr.Scan("card", token, None, items))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        answers = device.exchange(frame, seq, False, 1.0)
        if answers:
            return answers[0]
    raise AssertionError(f"no answer for {token}")


def pending_in(journal: Path) -> int:
    if not journal.exists():
        return -1
    with sqlite3.connect(journal) as db:
        return int(db.execute("SELECT count(*) FROM events WHERE acked_at IS NULL").fetchone()[0])


def has_cache(journal: Path) -> bool:
    if not journal.exists():
        return False
    with sqlite3.connect(journal) as db:
        return db.execute("SELECT count(*) FROM cache").fetchone()[0] == 1


def test_a_gateway_killed_between_journal_write_and_sync_loses_nothing(
        server: LiveServer, store: Path, tmp_path: Path) -> None:
    children = [LiveChild(f"q{n}", 2) for n in range(1, 4)]
    school = seed_live_school(server, "g3", children=[*children,
                                                      LiveChild("qp", 6, balance_kzt=5_000)])
    token = school.terminal_tokens[school.canteen]
    journal, log = tmp_path / "g3.journal", tmp_path / "gateway.log"
    pty = PtyDevice()
    device = Device(pty)
    with TcpProxy(server.port) as proxy:
        process = start_gateway_process(pty, proxy.url, school.canteen, token, journal, log)
        try:
            online = scan_until_answered(device, "card-q1")
            assert isinstance(online, fr.Grant) and not offline(online), log.read_text()[-2000:]
            wait_until(lambda: has_cache(journal), "the gateway's first cache")
            proxy.cut()
            plan = [("card-q2", ()), ("card-q3", ()), ("card-qp", ("bun",)),
                    ("card-qp", ("bun",)), ("card-qp", ("bun",)), ("card-q2", ()),
                    ("card-NOPE", ())]
            answers = [(token, scan_until_answered(device, token, items))
                       for token, items in plan]
            assert all(offline(a) for _, a in answers), answers
            assert pending_in(journal) == len(plan)  # journalled before answering
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=15)
            assert [m["event_id"] for m in child_meals(server, "q2")] == []
            proxy.restore()
            process = start_gateway_process(pty, proxy.url, school.canteen, token, journal, log)
            wait_until(lambda: pending_in(journal) == 0, "the restarted gateway's sync",
                       SYNC_WAIT_S)
        finally:
            process.kill()
            process.wait(timeout=15)
            pty.close()
    rows = journal_rows(journal)
    meals, refusals = ledger_entries(server, store, school, school.canteen)
    stored = assert_each_event_once(meals, refusals)
    assert {row[0] for row in rows} <= stored and len(stored) == len(plan) + 1, (rows, stored)
    assert sorted(r[2] for r in refusals) == ["already_served", "unknown_identifier"], refusals
    grants = Counter(t for t, a in [("card-q1", online), *answers] if isinstance(a, fr.Grant))
    for child_id in ("q1", "q2", "q3", "qp"):
        assert len(child_meals(server, child_id)) == grants[f"card-{child_id}"], child_id
    with server.client() as http:
        balance = http.get(f"{API}/children/qp/balance", headers=server.headers("admin")).json()
    assert balance["balance_kzt"] == 5_000 - 3 * 150, balance
    assert "Nameq" not in log.read_text()  # names never reach the gateway log


def test_a_gateway_that_never_reached_the_server_records_its_refusals_once_it_does(
        server: LiveServer, store: Path, tmp_path: Path) -> None:
    school = seed_live_school(server, "g4", children=[LiveChild("n1", 2)])
    with TcpProxy(server.port) as proxy:
        proxy.cut()  # installed while the network is down: no cache of the school yet
        gateway = LiveGateway(proxy.url, school.canteen, school.terminal_tokens[school.canteen],
                              tmp_path / "g4.journal")
        try:
            answer = gateway.scan("card-n1")
            assert isinstance(answer, fr.Deny) and answer.reason == fr.Reason.offline_no_cache
            assert offline(answer)
            proxy.restore()
            gateway.wait_synced()
        finally:
            gateway.close()
    rows = journal_rows(tmp_path / "g4.journal")
    meals, refusals = ledger_entries(server, store, school, school.canteen)
    assert meals == [], meals
    assert [(r[0], r[1]) for r in refusals] == [(rows[0][0], "n1")], (rows, refusals)
    assert rows[0][1] == "refused" and rows[0][2] != "rejected", rows


def test_a_journalled_retry_of_a_scan_the_server_already_recorded_is_a_duplicate(
        server: LiveServer, store: Path) -> None:
    """What the gateway sends when an online answer was lost: the same event id, now with
    its offline decision. The server keeps the first fact and answers with it."""
    school = seed_live_school(server, "g5", children=[LiveChild("d1", 2)])
    item = meal_item("lost-answer", card="card-d1", at=at_local(local_today(), 0, 2))
    retry = dict(item, offline_decision={"outcome": "paid", "amount_kzt": 700, "reason": None})
    with server.client() as http:
        first = http.post(events_path(school.canteen), json=[item], headers=school.canteen_headers)
        again = http.post(events_path(school.canteen), json=[retry],
                          headers=school.canteen_headers)
    assert first.status_code == again.status_code == 200, (first.text, again.text)
    assert first.json()[0]["status"] == "recorded"
    assert again.json()[0] == dict(first.json()[0], status="duplicate")
    meals, refusals = ledger_entries(server, store, school, school.canteen)
    assert [(m[0], m[2]) for m in meals] == [("lost-answer", "funded")] and refusals == []
