"""The ledger's behaviour, run against every store: top-ups and refunds, retries, voids,
consent withdrawal, offline decisions, gate passes and what storage holds."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any
from uuid import UUID

import msgspec
import pytest
from ledger_fixtures import (
    FUNDED_OFFLINE,
    JUICE,
    LUNCH,
    SCHOOL_DAY,
    at,
    balance,
    canteen,
    enrol,
    gate,
    gate_pass,
    load_child,
    make_school,
    notifications,
    paid,
    scan,
    school_ledger,
    stored_events,
)

from ledger.base import Aggregate, projector, stable_id
from ledger.child import Child, Wallet
from ledger.errors import ConsentWithdrawn, IdempotencyConflict, InvalidInput, NotFound, RuleViolation
from ledger.ledger import Ledger
from ledger.personal import SHREDDED
from ledger.rules import OfflineDecision
from ledger.store import close_ledger, open_ledger

PAID_AT = at(SCHOOL_DAY, 7)


@pytest.fixture
def ledger(store_url: str) -> Iterator[Ledger]:
    with school_ledger(store_url) as ledger:
        yield ledger


# -- top-ups and refunds ----------------------------------------------------------------


def test_a_top_up_repeated_with_the_same_payment_id_is_credited_once(ledger: Ledger) -> None:
    enrol(ledger, "c1")
    assert ledger.top_up("c1", "pay-1", 1_000, PAID_AT) == 1_000
    count = notifications(ledger)
    assert ledger.top_up("c1", "pay-1", 1_000, PAID_AT) == 1_000
    assert (balance(ledger, "c1"), notifications(ledger)) == (1_000, count)


def test_a_payment_id_reused_with_a_different_body_is_an_idempotency_conflict(
        ledger: Ledger) -> None:
    enrol(ledger, "c1")
    ledger.top_up("c1", "pay-1", 1_000, PAID_AT)
    with pytest.raises(IdempotencyConflict, match="pay-1"):
        ledger.top_up("c1", "pay-1", 2_000, PAID_AT)
    assert balance(ledger, "c1") == 1_000


def test_a_refund_pays_back_from_the_balance_once_per_refund_id(ledger: Ledger) -> None:
    enrol(ledger, "c1")
    ledger.top_up("c1", "pay-1", 1_000, PAID_AT)
    assert ledger.refund("c1", "ref-1", 400, "left school", "accountant") == 600
    assert ledger.refund("c1", "ref-1", 400, "left school", "accountant") == 600
    assert balance(ledger, "c1") == 600


def test_a_refund_larger_than_the_balance_is_refused_and_records_nothing(ledger: Ledger) -> None:
    enrol(ledger, "c1")
    ledger.top_up("c1", "pay-1", 100, PAID_AT)
    count = notifications(ledger)
    with pytest.raises(RuleViolation, match="refund"):
        ledger.refund("c1", "ref-1", 101, "mistake", "accountant")
    assert (balance(ledger, "c1"), notifications(ledger)) == (100, count)


def test_a_fractional_amount_is_refused_as_invalid_input(ledger: Ledger) -> None:
    enrol(ledger, "c1")
    with pytest.raises(InvalidInput, match="amount_kzt"):
        ledger.top_up("c1", "pay-1", 10.5, PAID_AT)  # type: ignore[arg-type]


# -- retries and voids ----------------------------------------------------------------


def test_a_retried_scan_returns_the_first_outcome_as_duplicate_and_writes_nothing(
        ledger: Ledger) -> None:
    enrol(ledger, "c1", card="k1")
    first = scan(ledger, canteen(), "e1", card="k1")
    count = notifications(ledger)
    retried = scan(ledger, canteen(), "e1", card="k1")
    assert retried == msgspec.structs.replace(first, status="duplicate")
    assert notifications(ledger) == count


def test_a_retried_refusal_returns_the_same_reason_and_writes_nothing(ledger: Ledger) -> None:
    first = scan(ledger, canteen(), "e1", card="nobody")
    count = notifications(ledger)
    retried = scan(ledger, canteen(), "e1", card="nobody")
    assert (retried.status, retried.reason) == ("duplicate", first.reason)
    assert notifications(ledger) == count


def test_voiding_a_funded_meal_releases_the_child_day_for_a_new_funded_meal(
        ledger: Ledger) -> None:
    enrol(ledger, "c1", card="k1")
    scan(ledger, canteen(), "e1", card="k1")
    assert ledger.void_meal(canteen(), "e1", "cook", "wrong child") is True
    assert ledger.void_meal(canteen(), "e1", "cook", "wrong child") is False
    again = scan(ledger, canteen(), "e2", card="k1", at=at(SCHOOL_DAY, 13))
    assert (again.funding, again.amount_kzt) == ("funded", 585)


def test_voiding_a_paid_meal_credits_the_balance(ledger: Ledger) -> None:
    enrol(ledger, "c7", grade=7, card="k7")
    ledger.top_up("c7", "pay-1", 1_000, PAID_AT)
    scan(ledger, canteen(), "e1", card="k7", item_ids=[JUICE.item_id])
    assert balance(ledger, "c7") == 1_000 - JUICE.price_kzt
    ledger.void_meal(canteen(), "e1", "cook", "not taken")
    assert balance(ledger, "c7") == 1_000


def test_voiding_a_refusal_raises_not_found(ledger: Ledger) -> None:
    scan(ledger, canteen(), "e1", card="nobody")
    with pytest.raises(NotFound, match="meal"):
        ledger.void_meal(canteen(), "e1", "cook", "oops")


# -- consent withdrawal ------------------------------------------------------------------


def test_withdrawing_consent_stops_processing_and_shreds_personal_data(
        store_url: str) -> None:
    with school_ledger(store_url) as ledger:
        enrol(ledger, "c1", card="k1", first_name="Dana")
        ledger.top_up("c1", "pay-1", 1_000, PAID_AT)
        scan(ledger, canteen(), "e1", card="k1", item_ids=["lunch", "juice"])
        assert ledger.personal_data(load_child(ledger, "c1")).first_name == "Dana"
        ledger.withdraw_consent("c1", SCHOOL_DAY + timedelta(days=1), "mother", "withdrawal-1")
        refused = scan(ledger, canteen(), "e2", card="k1", at=at(SCHOOL_DAY + timedelta(days=1)))
        with pytest.raises(ConsentWithdrawn):
            ledger.set_allergens("c1", ["milk"], "mother")
        with pytest.raises(ConsentWithdrawn):
            ledger.top_up("c1", "pay-2", 500, PAID_AT)
        assert ledger.personal_data(load_child(ledger, "c1")) == SHREDDED
        assert balance(ledger, "c1") == 1_000 - JUICE.price_kzt
        topics = [topic for topic, _ in stored_events(ledger)]
    assert (refused.status, refused.reason) == ("refused", "no_consent")
    assert {"ledger.child:Wallet.ToppedUp", "ledger.child:Wallet.Charged",
            "ledger.records:TerminalEvent.MealServed"} <= set(topics)


def test_shredded_personal_data_stays_unreadable_after_reopening_the_store(
        store_url: str) -> None:
    if store_url == "memory://":
        pytest.skip("a memory:// store lives only as long as its ledger")
    with school_ledger(store_url) as ledger:
        enrol(ledger, "c1")
        ledger.withdraw_consent("c1", SCHOOL_DAY, "mother", "withdrawal-1")
    reopened = open_ledger(store_url)
    try:
        assert reopened.personal_data(load_child(reopened, "c1")) == SHREDDED
    finally:
        close_ledger(reopened)


# -- offline decisions --------------------------------------------------------------------


def test_an_offline_funded_meal_for_a_child_already_funded_is_recorded_unfunded_and_flagged(
        ledger: Ledger) -> None:
    enrol(ledger, "c1", card="k1")
    scan(ledger, canteen(), "e1", card="k1")
    offline = scan(ledger, canteen(), "e2", card="k1", at=at(SCHOOL_DAY, 12),
                   offline=FUNDED_OFFLINE)
    assert (offline.status, offline.funding, offline.flagged) == ("recorded", "unfunded", True)
    assert offline.amount_kzt == 0
    assert balance(ledger, "c1") == 0


def test_an_offline_funded_meal_for_a_child_without_a_voucher_is_unfunded_and_flagged(
        ledger: Ledger) -> None:
    enrol(ledger, "c1", card="k1", voucher=False)
    offline = scan(ledger, canteen(), "e1", card="k1", offline=FUNDED_OFFLINE)
    assert (offline.status, offline.funding, offline.flagged) == ("recorded", "unfunded", True)


def test_an_offline_funded_meal_for_an_entitled_child_is_funded_without_a_flag(
        ledger: Ledger) -> None:
    enrol(ledger, "c1", card="k1")
    offline = scan(ledger, canteen(), "e1", card="k1", offline=FUNDED_OFFLINE)
    assert (offline.funding, offline.amount_kzt, offline.flagged) == ("funded", 585, False)
    online = scan(ledger, canteen(), "e2", card="k1", at=at(SCHOOL_DAY, 13))
    assert online.reason == "already_served"


def test_an_offline_paid_meal_is_charged_even_below_the_overdraft_and_flagged(
        ledger: Ledger) -> None:
    enrol(ledger, "c7", grade=7, card="k7")
    offline = scan(ledger, canteen(), "e1", card="k7", offline=paid(LUNCH.price_kzt))
    assert (offline.status, offline.funding, offline.amount_kzt) == (
        "recorded", "paid", LUNCH.price_kzt)
    assert (offline.balance_kzt, offline.flagged) == (-LUNCH.price_kzt, True)


def test_an_offline_refusal_is_recorded_with_the_terminals_reason(ledger: Ledger) -> None:
    enrol(ledger, "c1", card="k1")
    refused = OfflineDecision("refused", reason="insufficient_balance")
    outcome = scan(ledger, canteen(), "e1", card="k1", offline=refused)
    assert (outcome.status, outcome.reason) == ("refused", "insufficient_balance")
    assert scan(ledger, canteen(), "e2", card="k1").funding == "funded"


# -- gate passes ---------------------------------------------------------------------


def test_a_card_passes_the_gate_in_and_out(ledger: Ledger) -> None:
    enrol(ledger, "c1", card="k1", first_name="Dana")
    entry = gate_pass(ledger, gate(), "g1", card="k1", direction="in")
    leave = gate_pass(ledger, gate(), "g2", card="k1", direction="out", at=at(SCHOOL_DAY, 14))
    assert [(o.status, o.first_name) for o in (entry, leave)] == [("recorded", "Dana")] * 2


def test_a_manual_pass_needs_a_known_staff_member_of_that_school(ledger: Ledger) -> None:
    make_school(ledger, "s2")
    ledger.register_staff("s1", "teacher-1", "teacher")
    ledger.register_staff("s2", "teacher-2", "teacher")
    enrol(ledger, "c1")
    by_own = gate_pass(ledger, gate(), "g1", child_id="c1", method="manual",
                       authorized_by="teacher-1")
    by_other = gate_pass(ledger, gate(), "g2", child_id="c1", method="manual",
                         authorized_by="teacher-2")
    by_nobody = gate_pass(ledger, gate(), "g3", child_id="c1", method="manual",
                          authorized_by="stranger")
    assert by_own.status == "recorded"
    assert (by_other.reason, by_nobody.reason) == ("unknown_staff", "unknown_staff")
    with pytest.raises(InvalidInput, match="authorized_by"):
        gate_pass(ledger, gate(), "g4", child_id="c1", method="manual")


def test_a_staff_member_passes_the_gate_with_a_staff_card(ledger: Ledger) -> None:
    ledger.register_staff("s1", "guard-1", "guard")
    ledger.add_identifier("card", "staff-card-1", staff_id="guard-1")
    assert gate_pass(ledger, gate(), "g1", card="staff-card-1").status == "recorded"


# -- what storage holds ------------------------------------------------------------------


def _amounts(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every value stored under a key ending in _kzt, anywhere in a decoded event."""
    if isinstance(value, dict):
        for key, inner in value.items():
            if key.endswith("_kzt"):
                yield f"{path}.{key}", inner
            yield from _amounts(inner, f"{path}.{key}")
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            yield from _amounts(inner, f"{path}[{i}]")


def _exercise(ledger: Ledger) -> None:
    enrol(ledger, "c1", card="k1")
    enrol(ledger, "c7", grade=7, card="k7")
    ledger.set_rate("s1", "senior", 720, date(2025, 10, 20))
    ledger.top_up("c7", "pay-1", 2_000, PAID_AT)
    scan(ledger, canteen(), "e1", card="k1", item_ids=["lunch", "juice"])
    scan(ledger, canteen(), "e2", card="k7")
    scan(ledger, canteen(), "e3", card="k7", at=at(SCHOOL_DAY, 12), offline=paid(LUNCH.price_kzt))
    ledger.void_meal(canteen(), "e2", "cook", "mistake")
    ledger.refund("c7", "ref-1", 100, "change", "accountant")


def test_every_amount_in_every_stored_event_is_an_int(ledger: Ledger) -> None:
    _exercise(ledger)
    amounts = [(topic, path, value) for topic, state in stored_events(ledger)
               for path, value in _amounts(msgspec.json.decode(state))]
    assert len(amounts) > 20
    assert [a for a in amounts if type(a[2]) is not int and a[2] is not None] == []


def _state(aggregate: Aggregate) -> dict[str, Any]:
    return {k: v for k, v in vars(aggregate).items() if k != "_pending"}


def _replayed(ledger: Ledger, cls: type[Aggregate], aggregate_id: UUID) -> Aggregate:
    """Fold every stored event of an aggregate, ignoring snapshots and caches."""
    events = [ledger.mapper.to_domain_event(e)
              for e in ledger.recorder.select_events(aggregate_id)]
    rebuilt = projector(cls)(None, events)
    assert rebuilt is not None
    return rebuilt


def test_a_childs_aggregates_rebuilt_from_storage_equal_the_live_ones(store_url: str) -> None:
    with school_ledger(store_url) as ledger:
        _exercise(ledger)
        for i in range(105):  # past the wallet's snapshot interval
            ledger.top_up("c7", f"pay-x{i}", 10, PAID_AT)
        ids = [(Child, stable_id("child", "c7")), (Wallet, stable_id("wallet", "c7"))]
        live = [_state(ledger.load(cls, ident)) for cls, ident in ids]
        replayed = [_state(_replayed(ledger, cls, ident)) for cls, ident in ids]
        if store_url != "memory://":
            reopened = open_ledger(store_url)
            try:
                fresh = [_state(reopened.load(cls, ident)) for cls, ident in ids]
            finally:
                close_ledger(reopened)
            assert fresh == live
    assert replayed == live
    assert live[1]["balance_kzt"] == 2_000 - LUNCH.price_kzt - 100 + 105 * 10
