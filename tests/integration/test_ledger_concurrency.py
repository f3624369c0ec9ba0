"""Concurrency on SQLite and PostgreSQL: several terminals (each its own Ledger, as separate
processes would be) racing on one child. Optimistic concurrency must give one funded meal."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import pytest
from ledger_fixtures import SCHOOL_DAY, at, balance, canteen, enrol, scan, school_ledger

from ledger.ledger import Ledger
from ledger.store import close_ledger, open_ledger

T = TypeVar("T")
WAIT_S = 30


@pytest.fixture(params=["sqlite", "postgres"])
def shared_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A store with school s1, child c1 (entitled, card k1) already set up."""
    url: str = request.getfixturevalue(f"{request.param}_url")
    with school_ledger(url) as ledger:
        enrol(ledger, "c1", card="k1")
    yield url


def race(url: str, n: int, action: Callable[[Ledger, int], T]) -> list[T]:
    """Run `action(ledger_i, i)` in n threads, each with its own Ledger, released together."""
    ledgers = [open_ledger(url) for _ in range(n)]  # opened one by one: DDL runs at start
    barrier = threading.Barrier(n)

    def run(i: int) -> T:
        barrier.wait(timeout=WAIT_S)
        return action(ledgers[i], i)

    try:
        with ThreadPoolExecutor(max_workers=n) as pool:
            return list(pool.map(run, range(n), timeout=WAIT_S))
    finally:
        for ledger in ledgers:
            close_ledger(ledger)


@pytest.mark.parametrize("terminals", [2, 8])
def test_terminals_scanning_one_entitled_child_at_once_fund_exactly_one_meal(
        shared_url: str, terminals: int) -> None:
    outcomes = race(shared_url, terminals, lambda ledger, i: scan(
        ledger, canteen(), f"race-{i}", card="k1", at=at(SCHOOL_DAY, 12)))
    funded = [o for o in outcomes if o.funding == "funded"]
    refused = [o.reason for o in outcomes if o.status == "refused"]
    assert len(funded) == 1
    assert refused == ["already_served"] * (terminals - 1)


def test_concurrent_top_ups_with_one_payment_id_are_credited_once(shared_url: str) -> None:
    paid_at = at(SCHOOL_DAY, 7)
    balances = race(shared_url, 8, lambda ledger, i: ledger.top_up("c1", "pay-1", 1_000, paid_at))
    assert balances == [1_000] * 8
    ledger = open_ledger(shared_url)
    try:
        assert balance(ledger, "c1") == 1_000
    finally:
        close_ledger(ledger)


def test_concurrent_top_ups_with_distinct_payment_ids_are_all_credited(shared_url: str) -> None:
    paid_at = at(SCHOOL_DAY, 7)
    race(shared_url, 8, lambda ledger, i: ledger.top_up("c1", f"pay-{i}", 100 + i, paid_at))
    ledger = open_ledger(shared_url)
    try:
        assert balance(ledger, "c1") == sum(100 + i for i in range(8))
    finally:
        close_ledger(ledger)
