"""Edit checks: each kind of anomaly is reported for the scenario that causes it, with the
events behind it, and a clean school day reports nothing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from ledger_fixtures import MONTH, at, canteen, enrol, gate, make_school, weekdays

from ledger.ledger import Ledger
from ledger.rules import OfflineDecision
from ledger.scans import TerminalItem
from ledger.store import close_ledger, open_ledger
from projections.anomalies import MANUAL_PASSES_FLAG_MIN, school_anomalies
from projections.views import Anomaly
from projection_fixtures import make_runner

DAY = weekdays()[2]


def meal(event_id: str, child_id: str, hour: int, items: tuple[str, ...] | None = None,
         offline: OfflineDecision | None = None) -> TerminalItem:
    return TerminalItem(event_id=event_id, kind="meal", at=at(DAY, hour), child_id=child_id,
                        item_ids=items, offline_decision=offline)


def passed(event_id: str, child_id: str, hour: int, direction: str = "in",
           by: str | None = None) -> TerminalItem:
    return TerminalItem(event_id=event_id, kind="gate_pass", at=at(DAY, hour),
                        child_id=child_id, direction=direction,  # type: ignore[arg-type]
                        method="manual" if by else "card", authorized_by=by)


@pytest.fixture
def ledger() -> Iterator[Ledger]:
    ledger = open_ledger("memory://")
    make_school(ledger)
    ledger.register_staff("s1", "guard-1", "guard")
    try:
        yield ledger
    finally:
        close_ledger(ledger)


def anomalies(ledger: Ledger) -> list[Anomaly]:
    runner = make_runner(ledger)
    runner.catch_up()
    with runner.db.read() as cur:
        return school_anomalies(cur, "s1", MONTH)


def kinds(found: list[Anomaly], kind: str) -> list[Anomaly]:
    return [a for a in found if a.kind == kind]


def test_a_child_who_entered_and_ate_once_raises_nothing(ledger: Ledger) -> None:
    enrol(ledger, "c1", 2)
    ledger.record_terminal_events(gate(), [passed("in", "c1", 8)])
    ledger.record_terminal_events(canteen(), [meal("m1", "c1", 11)])
    assert anomalies(ledger) == []


def test_a_meal_without_a_gate_entry_is_reported_with_the_meal(ledger: Ledger) -> None:
    enrol(ledger, "c1", 2)
    ledger.record_terminal_events(canteen(), [meal("m1", "c1", 11)])
    [found] = kinds(anomalies(ledger), "meal_without_entry")
    assert (found.subject, found.day, found.refs) == ("c1", DAY.isoformat(), ["m1"])


def test_a_meal_after_the_child_left_is_reported(ledger: Ledger) -> None:
    enrol(ledger, "c1", 2)
    ledger.record_terminal_events(gate(), [passed("in", "c1", 8), passed("out", "c1", 12, "out")])
    ledger.record_terminal_events(canteen(), [meal("m1", "c1", 13)])
    [found] = kinds(anomalies(ledger), "meal_after_exit")
    assert (found.subject, found.refs) == ("c1", ["m1"])


def test_a_second_meal_the_same_day_is_reported_with_both_meals(ledger: Ledger) -> None:
    enrol(ledger, "c1", 2)
    ledger.top_up("c1", "p1", 1_000, at(DAY, 7))
    ledger.record_terminal_events(gate(), [passed("in", "c1", 8)])
    outcomes = ledger.record_terminal_events(canteen(), [meal("m1", "c1", 11),
                                                         meal("m2", "c1", 12, ("juice",))])
    assert [o.funding for o in outcomes] == ["funded", "paid"]
    [found] = kinds(anomalies(ledger), "second_meal")
    assert (found.subject, sorted(found.refs)) == ("c1", ["m1", "m2"])


def test_an_offline_meal_the_server_would_not_fund_is_reported(ledger: Ledger) -> None:
    enrol(ledger, "c1", 7, voucher=False)  # senior without a category: not on the list
    ledger.record_terminal_events(gate(), [passed("in", "c1", 8)])
    [outcome] = ledger.record_terminal_events(
        canteen(), [meal("m1", "c1", 11, offline=OfflineDecision("funded"))])
    assert outcome.funding == "unfunded"
    [found] = kinds(anomalies(ledger), "offline_unfunded")
    assert (found.subject, found.refs) == ("c1", ["m1"])


def test_repeated_manual_passes_by_one_staff_member_are_reported(ledger: Ledger) -> None:
    children = [f"c{i}" for i in range(MANUAL_PASSES_FLAG_MIN)]
    for child in children:
        enrol(ledger, child, 2)
    items = [passed(f"in-{child}", child, 8, by="guard-1") for child in children]
    assert all(o.status == "recorded" for o in ledger.record_terminal_events(gate(), items))
    [found] = kinds(anomalies(ledger), "repeated_manual_passes")
    assert found.subject == "guard-1"
    assert sorted(found.refs) == sorted(f"in-{child}" for child in children)


def test_fewer_manual_passes_than_the_threshold_are_not_reported(ledger: Ledger) -> None:
    enrol(ledger, "c1", 2)
    ledger.record_terminal_events(gate(), [passed("in", "c1", 8, by="guard-1")])
    assert kinds(anomalies(ledger), "repeated_manual_passes") == []


def test_more_funded_meals_than_entitled_children_present_is_reported_with_the_meals(
        ledger: Ledger) -> None:
    enrol(ledger, "c1", 2)
    enrol(ledger, "c2", 2)
    ledger.record_terminal_events(gate(), [passed("in", "c1", 8)])
    ledger.record_terminal_events(canteen(), [meal("m1", "c1", 11), meal("m2", "c2", 11)])
    [found] = kinds(anomalies(ledger), "more_funded_than_present")
    assert (found.day, found.subject) == (DAY.isoformat(), "primary")
    assert sorted(found.refs) == ["m1", "m2"]
    assert "2 funded meals, 1 entitled children entered" in found.detail
