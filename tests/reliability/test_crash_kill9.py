"""Crash: terminals drive the real server over HTTP while it is killed with SIGKILL, several
times, and restarted. A terminal repeats a request that got no answer (same event ids), as
the gateway does. Afterwards every event that was answered 200 is stored exactly once, as
the kind of fact the answer said (meal or refusal), none is missing, none is duplicated,
and every read model equals a full replay of the log.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest

from ledger.base import stable_id
from ledger.child import Wallet
from ledger.store import close_ledger, open_ledger
from live_server import (LiveChild, LiveServer, at_local, events_path, meal_item,
                               replay_differences, seed_live_school, stored_topics,
                               verify_chain_if_available)

MONTH_DAYS = [date(2025, 10, d) for d in range(1, 32) if date(2025, 10, d).weekday() < 5]
PAID_BALANCE_KZT = 1_000_000
RETRY_PAUSE_S = 0.2
LOAD_DEADLINE_S = 300.0


@dataclass(frozen=True)
class CrashPlan:
    kills: int
    terminals: int
    requests_per_terminal: int
    batch_items_max: int = 4


DEFAULT = CrashPlan(kills=3, terminals=4, requests_per_terminal=50)
LONG = CrashPlan(kills=10, terminals=8, requests_per_terminal=250)

CHILDREN = ([LiveChild(f"a{n}", grade=1 + n % 4) for n in range(12)]
            + [LiveChild(f"s{n}", grade=8, category="low_income") for n in range(4)]
            + [LiveChild(f"p{n}", grade=6, balance_kzt=PAID_BALANCE_KZT) for n in range(6)]
            + [LiveChild(f"v{n}", grade=2, voucher=False) for n in range(3)])


def planned_item(rng: random.Random, terminal_id: str, n: int) -> dict[str, Any]:
    child = rng.choice(CHILDREN)
    card = f"card-{child.child_id}" if rng.random() > 0.05 else f"card-unknown{n}"
    items = ["bun"] if child.child_id.startswith("p") and rng.random() < 0.3 else None
    at = at_local(rng.choice(MONTH_DAYS), 12, rng.randrange(60), rng.randrange(60))
    return meal_item(f"{terminal_id}-{n}", card=card, at=at, item_ids=items)


@dataclass
class Progress:
    answered: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self) -> None:
        with self.lock:
            self.answered += 1


class TerminalLoad(threading.Thread):
    """One terminal: posts its batches in order, repeating each until it is answered 200."""

    def __init__(self, url: str, terminal_id: str, token: str,
                 batches: list[list[dict[str, Any]]], progress: Progress) -> None:
        super().__init__(name=f"load-{terminal_id}", daemon=True)
        self.url, self.terminal_id = url, terminal_id
        self.batches, self.progress = batches, progress
        self.headers = {"Authorization": f"Bearer {token}"}
        self.outcomes: dict[str, dict[str, Any]] = {}
        self.requests = self.failed = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            deadline = time.monotonic() + LOAD_DEADLINE_S
            with httpx.Client(base_url=self.url, timeout=15.0) as http:
                for batch in self.batches:
                    self._deliver(http, batch, deadline)
        except BaseException as error:  # handed to the test thread
            self.error = error

    def _deliver(self, http: httpx.Client, batch: list[dict[str, Any]], deadline: float) -> None:
        while time.monotonic() < deadline:
            self.requests += 1
            try:
                response = http.post(events_path(self.terminal_id), json=batch,
                                     headers=self.headers)
            except httpx.HTTPError:
                response = None
            if response is not None and response.status_code == 200:
                for outcome in response.json():
                    self.outcomes[outcome["event_id"]] = outcome
                self.progress.add()
                return
            if response is not None and response.status_code not in (429, 500, 503):
                raise AssertionError(f"{response.status_code} {response.text[:300]}")
            self.failed += 1
            time.sleep(RETRY_PAUSE_S)
        raise AssertionError(f"{self.terminal_id}: no answer before the deadline")


def drive_and_kill(server: LiveServer, loads: list[TerminalLoad], progress: Progress,
                   plan: CrashPlan) -> None:
    total = plan.terminals * plan.requests_per_terminal
    for load in loads:
        load.start()
    for k in range(plan.kills):
        threshold = total * (k + 1) // (plan.kills + 1)
        while progress.answered < threshold and any(t.is_alive() for t in loads):
            time.sleep(0.01)
        server.kill()  # mid-load: requests are in flight, the writer may be mid-batch
        server.start()
    for load in loads:
        load.join(timeout=LOAD_DEADLINE_S)
        if load.error is not None:
            raise load.error


def run_crash(store_url: str, workdir: Path, plan: CrashPlan) -> None:
    server = LiveServer(store_url, workdir)
    server.start()
    try:
        extra = [(f"c{n}", "canteen") for n in range(plan.terminals)]
        school = seed_live_school(server, "k1", days=MONTH_DAYS, menu_days=MONTH_DAYS,
                                  children=CHILDREN, extra_terminals=extra)
        rng, progress = random.Random(11), Progress()
        loads = []
        for terminal_id, _ in extra:
            items = [planned_item(rng, terminal_id, n)
                     for n in range(plan.requests_per_terminal * plan.batch_items_max)]
            batches, start = [], 0
            for _ in range(plan.requests_per_terminal):
                size = rng.randint(1, plan.batch_items_max)
                batches.append(items[start:start + size])
                start += size
            loads.append(TerminalLoad(server.url, terminal_id, school.terminal_tokens[terminal_id],
                                      batches, progress))
        drive_and_kill(server, loads, progress, plan)
    finally:
        server.stop()
    sent = {(t.terminal_id, item["event_id"]) for t in loads for b in t.batches for item in b}
    answered = {(t.terminal_id, e): o for t in loads for e, o in t.outcomes.items()}
    repeats = sum(o["status"] == "duplicate" for o in answered.values())
    print(f"\ncrash {store_url.split(':')[0]}: {server.kills} kills, {len(sent)} events in "
          f"{sum(t.requests for t in loads)} requests ({sum(t.failed for t in loads)} failed "
          f"and repeated; {repeats} events stored before their answer was lost)")
    assert server.kills == plan.kills
    assert set(answered) == sent, "every event was answered 200 in the end"
    check_store(store_url, answered)


def check_store(store_url: str, answered: dict[tuple[str, str], dict[str, Any]]) -> None:
    ledger = open_ledger(store_url)
    try:
        assert replay_differences(ledger) == []
        with ledger.side_db.read() as cur:
            meals = cur.fetchall("SELECT terminal_id, event_id, funding, child_id, day, paid_kzt"
                                 " FROM pm_meal")
            refusals = cur.fetchall("SELECT terminal_id, event_id, reason FROM pm_refusal")
        stored = Counter((t, e) for t, e, *_ in meals) + Counter((t, e) for t, e, _ in refusals)
        assert [k for k, n in stored.items() if n > 1] == [], "nothing is stored twice"
        assert set(stored) == set(answered), "nothing answered is missing, nothing else is there"
        meal_funding = {(t, e): f for t, e, f, *_ in meals}
        refusal_reason = {(t, e): r for t, e, r in refusals}
        for key, outcome in answered.items():
            if outcome["funding"] is not None:
                assert meal_funding.get(key) == outcome["funding"], (key, outcome)
            else:
                assert refusal_reason.get(key) == outcome["reason"], (key, outcome)
        topics = stored_topics(ledger)
        assert topics["TerminalEvent.MealServed"] == len(meals)
        assert topics["TerminalEvent.MealRefused"] == len(refusals)
        funded = Counter((c, d) for _, _, f, c, d, _ in meals if f == "funded")
        assert [k for k, n in funded.items() if n > 1] == [], "one funded meal a child-day"
        for child in CHILDREN:
            if child.balance_kzt:
                wallet = ledger.load(Wallet, stable_id("wallet", child.child_id))
                spent = sum(p for _, _, _, c, _, p in meals if c == child.child_id)
                assert wallet.balance_kzt == child.balance_kzt - spent, child.child_id
        verify_chain_if_available(ledger)
    finally:
        close_ledger(ledger)


@pytest.mark.parametrize("plan", [DEFAULT, pytest.param(LONG, marks=pytest.mark.slow)],
                         ids=["3-kills", "10-kills"])
def test_sqlite_server_killed_mid_load_keeps_every_answered_event_exactly_once(
        plan: CrashPlan, tmp_path: Path) -> None:
    run_crash(f"sqlite:///{tmp_path / 'tamaq.sqlite3'}", tmp_path, plan)


@pytest.mark.parametrize("plan", [DEFAULT, pytest.param(LONG, marks=pytest.mark.slow)],
                         ids=["3-kills", "10-kills"])
def test_postgres_server_killed_mid_load_keeps_every_answered_event_exactly_once(
        plan: CrashPlan, postgres_url: str, tmp_path: Path) -> None:
    run_crash(postgres_url, tmp_path, plan)
