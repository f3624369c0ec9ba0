"""Hypothesis stateful tests of the ledger's invariants: random sequences of top-ups, online
and offline scans, retries, voids and refunds against a real Ledger.

Invariants after every step:
- a child's balance == top-ups - paid meals (net of voids) - refunds;
- an online decision never takes the balance below -overdraft (offline facts may);
- at most one funded meal per child and school day (net of voids), held by its ChildDay;
- a retried command (same event id, same payment id) returns the first answer, writes nothing.
At the end: every amount in every stored event is an int, and each wallet rebuilt from the
stored events equals the live one.
"""

from __future__ import annotations

import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from ledger_fixtures import (
    FUNDED_OFFLINE,
    LUNCH,
    SCHOOL_DAY,
    at,
    balance,
    canteen,
    enrol,
    make_school,
    meal_item,
    notifications,
    paid,
    stored_events,
)

from ledger.base import projector, stable_id
from ledger.child import ChildDay, Wallet
from ledger.errors import RuleViolation
from ledger.ledger import Ledger
from ledger.records import TerminalEvent
from ledger.scans import ItemOutcome, TerminalItem
from ledger.store import close_ledger, open_ledger

OVERDRAFT_KZT = 300
SATURDAY = date(2025, 10, 4)
SCHOOL_DAYS = [SCHOOL_DAY, date(2025, 10, 7), date(2025, 10, 8)]
# entitled primary; senior without a category (always pays); voucher active from day 2
CHILDREN = {"cp": dict(grade=2), "cs": dict(grade=7),
            "cl": dict(grade=3, activated_on=SCHOOL_DAYS[1])}
ITEM_CHOICES = [None, ("lunch",), ("juice",), ("lunch", "juice"), ("bun",), ("soup",)]
OFFLINE_CHOICES = [FUNDED_OFFLINE, paid(LUNCH.price_kzt), paid(200)]

children = st.sampled_from(sorted(CHILDREN))
days = st.sampled_from([*SCHOOL_DAYS, SATURDAY])
hours = st.integers(min_value=7, max_value=15)


@dataclass
class Meal:
    child_id: str
    day: date
    funding: str
    paid_kzt: int
    voided: bool = False


class LedgerMachine(RuleBasedStateMachine):
    backend = "memory"

    def __init__(self) -> None:
        super().__init__()
        self.tmp: Path | None = None
        url = "memory://"
        if self.backend == "sqlite":
            self.tmp = Path(tempfile.mkdtemp(prefix="tamaq-stateful-"))
            url = f"sqlite:///{self.tmp / 'ledger.sqlite3'}"
        self.ledger: Ledger = open_ledger(url)
        make_school(self.ledger, days=SCHOOL_DAYS, overdraft_limit_kzt=OVERDRAFT_KZT)
        for child_id, fields in CHILDREN.items():
            enrol(self.ledger, child_id, card=f"k-{child_id}", **fields)  # type: ignore[arg-type]
        self.counter = 0
        self.top_ups: Counter[str] = Counter()
        self.refunds: Counter[str] = Counter()
        self.meals: dict[str, Meal] = {}
        self.scans: list[tuple[TerminalItem, ItemOutcome]] = []
        self.payments: list[tuple[str, str, int]] = []

    def next_id(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}-{self.counter}"

    def expected_balance(self, child_id: str) -> int:
        spent = sum(m.paid_kzt for m in self.meals.values()
                    if m.child_id == child_id and not m.voided)
        return self.top_ups[child_id] - spent - self.refunds[child_id]

    # -- rules --------------------------------------------------------------------------

    @rule(child_id=children, amount_kzt=st.integers(min_value=1, max_value=1_500))
    def top_up(self, child_id: str, amount_kzt: int) -> None:
        payment_id = self.next_id("pay")
        result = self.ledger.top_up(child_id, payment_id, amount_kzt, at(SCHOOL_DAY, 7))
        self.top_ups[child_id] += amount_kzt
        self.payments.append((child_id, payment_id, amount_kzt))
        assert result == self.expected_balance(child_id)

    @precondition(lambda self: self.payments)
    @rule(data=st.data())
    def retry_top_up(self, data: st.DataObject) -> None:
        child_id, payment_id, amount_kzt = data.draw(st.sampled_from(self.payments))
        count = notifications(self.ledger)
        result = self.ledger.top_up(child_id, payment_id, amount_kzt, at(SCHOOL_DAY, 7))
        assert result == self.expected_balance(child_id)
        assert notifications(self.ledger) == count

    @rule(child_id=children, day=days, hour=hours, items=st.sampled_from(ITEM_CHOICES))
    def scan_online(self, child_id: str, day: date, hour: int,
                    items: tuple[str, ...] | None) -> None:
        outcome = self._scan(child_id, day, hour, items, None)
        if outcome.status == "recorded" and outcome.funding == "paid":
            assert outcome.balance_kzt is not None and outcome.balance_kzt >= -OVERDRAFT_KZT

    @rule(child_id=children, day=days, hour=hours, items=st.sampled_from(ITEM_CHOICES[:3]),
          decision=st.sampled_from(OFFLINE_CHOICES))
    def scan_offline(self, child_id: str, day: date, hour: int,
                     items: tuple[str, ...] | None, decision: Any) -> None:
        outcome = self._scan(child_id, day, hour, items, decision)
        if outcome.status == "recorded":
            assert outcome.funding != "funded" or decision == FUNDED_OFFLINE

    def _scan(self, child_id: str, day: date, hour: int, items: tuple[str, ...] | None,
              decision: Any) -> ItemOutcome:
        item = meal_item(self.next_id("scan"), card=f"k-{child_id}", at=at(day, hour),
                         item_ids=items, offline=decision)
        [outcome] = self.ledger.record_terminal_events(canteen(), [item])
        self.scans.append((item, outcome))
        assert outcome.status in ("recorded", "refused")
        if outcome.status == "recorded":
            te = self.ledger.load(TerminalEvent, stable_id("terminal-event", canteen(),
                                                           item.event_id))
            fact = te.fact
            assert isinstance(fact, TerminalEvent.MealServed) and fact.day == day
            self.meals[item.event_id] = Meal(child_id, day, fact.funding, fact.paid_kzt)
        return outcome

    @precondition(lambda self: self.scans)
    @rule(data=st.data())
    def retry_scan(self, data: st.DataObject) -> None:
        item, first = data.draw(st.sampled_from(self.scans))
        count = notifications(self.ledger)
        [again] = self.ledger.record_terminal_events(canteen(), [item])
        assert again == msgspec.structs.replace(first, status="duplicate")
        assert notifications(self.ledger) == count

    @precondition(lambda self: self.meals)
    @rule(data=st.data())
    def void(self, data: st.DataObject) -> None:
        event_id = data.draw(st.sampled_from(sorted(self.meals)))
        meal = self.meals[event_id]
        count = notifications(self.ledger)
        changed = self.ledger.void_meal(canteen(), event_id, "cook", "correction")
        assert changed is not meal.voided
        if not changed:
            assert notifications(self.ledger) == count
        meal.voided = True

    @rule(child_id=children, amount_kzt=st.integers(min_value=1, max_value=1_000))
    def refund(self, child_id: str, amount_kzt: int) -> None:
        expected = self.expected_balance(child_id)
        refund_id = self.next_id("refund")
        if expected < amount_kzt:
            with pytest.raises(RuleViolation):
                self.ledger.refund(child_id, refund_id, amount_kzt, "parent asked", "accountant")
            return
        result = self.ledger.refund(child_id, refund_id, amount_kzt, "parent asked", "accountant")
        self.refunds[child_id] += amount_kzt
        assert result == expected - amount_kzt

    # -- invariants ---------------------------------------------------------------------

    @invariant()
    def balance_is_top_ups_minus_paid_meals_minus_refunds(self) -> None:
        for child_id in CHILDREN:
            assert balance(self.ledger, child_id) == self.expected_balance(child_id)

    @invariant()
    def at_most_one_funded_meal_per_child_and_day(self) -> None:
        funded = Counter((m.child_id, m.day) for m in self.meals.values()
                         if m.funding == "funded" and not m.voided)
        assert all(n == 1 for n in funded.values())
        for (child_id, day), _ in funded.items():
            cd = self.ledger.load(ChildDay, stable_id("child-day", child_id, day.isoformat()))
            assert cd is not None and cd.funded_meal is not None

    def teardown(self) -> None:
        try:
            self._check_storage()
        finally:
            close_ledger(self.ledger)
            if self.tmp is not None:
                shutil.rmtree(self.tmp, ignore_errors=True)

    def _check_storage(self) -> None:
        for _, state in stored_events(self.ledger):
            for key, value in _amounts(msgspec.json.decode(state)):
                assert type(value) is int or value is None, f"{key}={value!r} is not an int"
        for child_id in CHILDREN:
            wallet_id = stable_id("wallet", child_id)
            live = self.ledger.load(Wallet, wallet_id)
            events = [self.ledger.mapper.to_domain_event(e)
                      for e in self.ledger.recorder.select_events(wallet_id)]
            rebuilt = projector(Wallet)(None, events)
            assert (rebuilt is None) == (live is None)
            if live is not None:
                assert (rebuilt.balance_kzt, rebuilt.version) == (live.balance_kzt, live.version)


def _amounts(value: Any) -> list[tuple[str, Any]]:
    if isinstance(value, dict):
        found = [(k, v) for k, v in value.items() if k.endswith("_kzt")]
        return found + [a for v in value.values() for a in _amounts(v)]
    if isinstance(value, list):
        return [a for v in value for a in _amounts(v)]
    return []


class SqliteLedgerMachine(LedgerMachine):
    backend = "sqlite"


_common = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                      HealthCheck.filter_too_much])
TestLedgerInvariantsInMemory = LedgerMachine.TestCase
TestLedgerInvariantsInMemory.settings = settings(max_examples=60, stateful_step_count=30,
                                                 **_common)  # type: ignore[arg-type]
TestLedgerInvariantsOnSqlite = SqliteLedgerMachine.TestCase
TestLedgerInvariantsOnSqlite.settings = settings(max_examples=8, stateful_step_count=25,
                                                 **_common)  # type: ignore[arg-type]
