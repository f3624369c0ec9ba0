"""Concurrency against the real server (SQLite and PostgreSQL): requests released together
by a barrier from many threads, each with its own HTTP connection.

- 8 terminals scan the same entitled child at the same moment: exactly one funded meal.
- 8 top-ups with the same payment id at once: the balance is credited once.
- A month close racing with late meals: each meal lands on exactly one statement (the
  closed month's lines, or the next month's adjustments).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from ledger.settings import parse_database_url
from ledger.store import side_database
from live_server import (API, LiveChild, LiveSchool, LiveServer, at_local, events_path,
                         meal_item, seed_live_school)

MONTH, NEXT_MONTH = "2025-10", "2025-11"
DAYS = [date(2025, 10, d) for d in range(1, 32) if date(2025, 10, d).weekday() < 5]
TERMINALS = [f"c{n}" for n in range(8)]
RACERS = 8
TOP_UP_KZT = 2_500
PRIMARY_RATE_KZT = 585


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def live(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[tuple[LiveServer, LiveSchool]]:
    workdir = tmp_path_factory.mktemp(f"races-{request.param}")
    url = (f"sqlite:///{workdir / 'tamaq.sqlite3'}" if request.param == "sqlite"
           else str(request.getfixturevalue("module_postgres_url")))
    server = LiveServer(url, workdir).start()
    try:
        children = ([LiveChild("x1", grade=3)] + [LiveChild(f"t{n}", grade=7) for n in range(2)]
                    + [LiveChild(f"m{n}", grade=1 + n % 4) for n in range(10)])
        school = seed_live_school(server, "r1s", days=DAYS, menu_days=DAYS, children=children,
                                  extra_terminals=[(t, "canteen") for t in TERMINALS])
        yield server, school
    finally:
        server.stop()


def race(server: LiveServer, count: int, action: Callable[[int, httpx.Client], Any]
         ) -> list[Any]:
    """Run action(i, client) in `count` threads released together, each on a connection it
    opened beforehand (so the requests leave at once); results in order."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            with httpx.Client(timeout=30.0) as http:
                http.get(f"{server.url}/health")
                barrier.wait(timeout=30)
                results[i] = action(i, http)
        except BaseException as error:  # handed to the test thread
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    if errors:
        raise errors[0]
    return results


@pytest.mark.parametrize("rounds", [DAYS[:4], pytest.param(DAYS[4:20], marks=pytest.mark.slow)],
                         ids=["4-rounds", "16-rounds"])
def test_eight_terminals_scanning_one_child_at_once_fund_exactly_one_meal(
        live: tuple[LiveServer, LiveSchool], rounds: list[date]) -> None:
    server, school = live
    for r, day in enumerate(rounds, start=DAYS.index(rounds[0])):
        def scan(i: int, http: httpx.Client, day: date = day, r: int = r) -> dict[str, Any]:
            terminal = TERMINALS[i]
            response = http.post(f"{server.url}{events_path(terminal)}",
                                 headers=school.terminal_headers(terminal),
                                 json=[meal_item(f"{terminal}-x1-{r}", card="card-x1",
                                                 at=at_local(day, 12))])
            assert response.status_code == 200, response.text
            outcome: dict[str, Any] = response.json()[0]
            return outcome

        outcomes = race(server, RACERS, scan)
        kinds = Counter((o["status"], o["funding"] or o["reason"]) for o in outcomes)
        assert kinds == {("recorded", "funded"): 1, ("refused", "already_served"): 7}, outcomes
    with server.client() as http:
        meals = http.get(f"{API}/children/x1/meals", params={"month": MONTH},
                         headers=server.headers("admin")).json()
    funded = Counter(m["day"] for m in meals if m["funding"] == "funded")
    assert {d: funded[d.isoformat()] for d in rounds} == {d: 1 for d in rounds}, meals


def test_eight_top_ups_with_one_payment_id_at_once_credit_the_balance_once(
        live: tuple[LiveServer, LiveSchool]) -> None:
    server, _ = live
    paid_at = datetime(2025, 10, 6, 8, tzinfo=UTC).isoformat()
    payments = server.headers("payments")

    def top_up(child_id: str, payment_id: Callable[[int], str]) -> Callable[..., httpx.Response]:
        def act(i: int, http: httpx.Client) -> httpx.Response:
            return http.post(f"{server.url}{API}/children/{child_id}/top-ups", headers=payments,
                             json={"payment_id": payment_id(i), "amount_kzt": TOP_UP_KZT,
                                   "paid_at": paid_at})
        return act

    same = race(server, RACERS, top_up("t0", lambda i: "bank-77"))
    assert all(r.status_code in (200, 201) for r in same), [(r.status_code, r.text) for r in same]
    assert {r.json()["balance_kzt"] for r in same} == {TOP_UP_KZT}
    assert sorted(r.status_code for r in same) == [200] * (RACERS - 1) + [201]
    distinct = race(server, RACERS, top_up("t1", lambda i: f"bank-t1-{i}"))
    assert [r.status_code for r in distinct] == [201] * RACERS
    with server.client() as http:
        balances = {c: http.get(f"{API}/children/{c}/balance", headers=server.headers("admin"))
                    .json() for c in ("t0", "t1")}
    assert balances["t0"]["balance_kzt"] == TOP_UP_KZT, balances["t0"]
    assert [m["kind"] for m in balances["t0"]["movements"]].count("top_up") == 1, balances["t0"]
    assert balances["t1"]["balance_kzt"] == RACERS * TOP_UP_KZT, balances["t1"]


def statement(server: LiveServer, month: str) -> dict[str, Any]:
    """The tenant statement once the read models have caught up with the whole log."""
    accountant = server.headers("accountant", school_id="r1s")
    head = server.head()
    deadline = time.monotonic() + 30
    with server.client() as http:
        while True:
            body: dict[str, Any] = http.get(f"{API}/schools/r1s/tenant-statement",
                                            params={"month": month}, headers=accountant).json()
            if body["closed"] or body["position"] >= head or time.monotonic() > deadline:
                return body
            time.sleep(0.1)


def funded_meals(server: LiveServer) -> list[tuple[str, int, int, str]]:
    """(meal_id, log position, funded_kzt, child_id) of every funded October meal of the
    school, read from the store."""
    db = side_database(parse_database_url(server.database_url))
    try:
        with db.read() as cur:
            rows = cur.fetchall("SELECT meal_id, position, funded_kzt, child_id FROM pm_meal WHERE"
                                " school_id = 'r1s' AND month = ? AND funding = 'funded'"
                                " AND voided_position IS NULL", (MONTH,))
    finally:
        db.close()
    return [(str(m), int(p), int(k), str(c)) for m, p, k, c in rows]


def test_a_month_close_racing_with_late_meals_puts_each_meal_on_exactly_one_statement(
        live: tuple[LiveServer, LiveSchool]) -> None:
    server, school = live
    children = [f"m{n}" for n in range(10)]
    slots = [(c, d) for d in DAYS[5:] for c in children]  # distinct child-days: all funded
    early, late = slots[:30], slots[30:70]
    with server.client() as http:
        response = http.post(events_path("c0"), headers=school.terminal_headers("c0"), json=[
            meal_item(f"early-{n}", card=f"card-{c}", at=at_local(d, 12))
            for n, (c, d) in enumerate(early)])
        assert {o["funding"] for o in response.json()} == {"funded"}, response.text
    answered, close_answered = threading.Semaphore(0), threading.Event()
    lanes = [late[i::4] for i in range(4)]
    errors: list[BaseException] = []

    def post_late(lane: int) -> None:
        """Half the lane races the close; the other half surely comes after it."""
        terminal = TERMINALS[lane + 1]
        try:
            with httpx.Client(base_url=server.url, timeout=30.0) as http:
                for n, (c, d) in enumerate(lanes[lane]):
                    if n == len(lanes[lane]) // 2:
                        close_answered.wait(timeout=60)
                    r = http.post(events_path(terminal), headers=school.terminal_headers(terminal),
                                  json=[meal_item(f"late-{lane}-{n}", card=f"card-{c}",
                                                  at=at_local(d, 13))])
                    assert r.status_code == 200 and r.json()[0]["funding"] == "funded", r.text
                    answered.release()
        except BaseException as error:  # handed to the test thread
            errors.append(error)

    threads = [threading.Thread(target=post_late, args=(lane,)) for lane in range(4)]
    for thread in threads:
        thread.start()
    for _ in range(4):
        answered.acquire(timeout=30)  # close while late meals keep arriving
    with server.client() as http:
        closed = http.post(f"{API}/schools/r1s/months/{MONTH}/close",
                           headers=server.headers("accountant", school_id="r1s"))
    close_answered.set()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert closed.status_code == 200, closed.text
    october, november = statement(server, MONTH), statement(server, NEXT_MONTH)
    assert october["closed"] and not november["closed"]
    meals = funded_meals(server)
    assert sum(c in children for *_, c in meals) == len(early) + len(late)
    cut = int(october["position"])
    on_lines = {m for m, p, *_ in meals if p <= cut}
    adjusted = [a["meal_id"] for a in november["adjustments"] if a["day"].startswith(MONTH)]
    assert sum(line["meals"] for line in october["lines"]) == len(on_lines)
    assert sorted(adjusted) == sorted(m for m, p, *_ in meals if p > cut)
    assert on_lines and adjusted, "the close landed between late meals"
    assert october["meals_kzt"] + sum(a["amount_kzt"] for a in november["adjustments"]) == \
        sum(k for _, _, k, _ in meals) == len(meals) * PRIMARY_RATE_KZT
