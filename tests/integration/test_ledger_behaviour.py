"""The ledger's behaviour, run against every store (memory, SQLite, PostgreSQL):
set-up, enrolment and the online meal rules. Money, corrections, offline decisions,
gate passes and storage are in test_ledger_money.py."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta

import pytest
from ledger_fixtures import (
    BUN,
    JUICE,
    LUNCH,
    MENU,
    MONTH,
    NOT_SCHOOL_DAY,
    SCHOOL_DAY,
    at,
    canteen,
    enrol,
    gate,
    load_child,
    load_school,
    make_school,
    notifications,
    scan,
    school_ledger,
    weekdays,
)

from ledger.child import Consent
from ledger.errors import InvalidInput, NotFound
from ledger.ledger import Ledger
from ledger.rules import entitled, on_list
from ledger.school import VoucherRequired


@pytest.fixture
def ledger(store_url: str) -> Iterator[Ledger]:
    with school_ledger(store_url) as ledger:
        yield ledger


def top_up(ledger: Ledger, child_id: str, amount_kzt: int, payment_id: str = "pay-1") -> int:
    return ledger.top_up(child_id, payment_id, amount_kzt, at(SCHOOL_DAY, 7))


# -- set-up --------------------------------------------------------------------------


def test_repeating_every_set_up_use_case_records_nothing(ledger: Ledger) -> None:
    ledger.register_staff("s1", "teacher-1", "teacher")
    before = notifications(ledger)
    repeats = [
        ledger.register_region("r1", "Region r1"),
        ledger.register_school("s1", name="School s1", region_id="r1", district="Central",
                               shifts=(1, 2)),
        ledger.set_calendar("s1", MONTH, weekdays(MONTH)),
        ledger.set_eligibility("s1", ["large_family", "low_income", "disability"],
                               VoucherRequired(), date(2025, 10, 1)),
        ledger.set_menu("s1", SCHOOL_DAY, MENU),
        ledger.register_terminal(canteen(), "s1", "canteen"),
        ledger.register_staff("s1", "teacher-1", "teacher"),
    ]
    make_school(ledger)
    assert repeats == [False] * len(repeats)
    assert notifications(ledger) == before


def test_setting_the_same_rate_twice_records_it_once(ledger: Ledger) -> None:
    assert ledger.set_rate("s1", "primary", 600, date(2025, 10, 15)) is True
    count = notifications(ledger)
    assert ledger.set_rate("s1", "primary", 600, date(2025, 10, 15)) is False
    assert notifications(ledger) == count


def test_a_calendar_day_outside_its_month_is_refused(ledger: Ledger) -> None:
    with pytest.raises(InvalidInput, match="school_days"):
        ledger.set_calendar("s1", MONTH, [date(2025, 11, 3)])


def test_a_school_in_an_unknown_region_is_not_registered(ledger: Ledger) -> None:
    with pytest.raises(NotFound, match="region"):
        ledger.register_school("s9", name="S9", region_id="nowhere", district="D")


# -- enrolment and identifiers ------------------------------------------------------------


def test_enrolment_needs_the_guardians_written_consent(ledger: Ledger) -> None:
    count = notifications(ledger)
    unsigned = Consent(given_by="mother", document_ref=" ", signed_on=date(2025, 8, 25))
    with pytest.raises(InvalidInput, match="consent.document_ref"):
        ledger.enrol_child("s1", "c1", first_name="A", last_name="B", iin=None, grade=2,
                           class_name="2A", shift=1, consent=unsigned)
    assert notifications(ledger) == count


def test_enrolling_the_same_child_twice_records_it_once(ledger: Ledger) -> None:
    enrol(ledger, "c1", voucher=False)
    count = notifications(ledger)
    enrol(ledger, "c1", voucher=False)
    assert notifications(ledger) == count


def test_a_palm_identifier_needs_biometric_consent(ledger: Ledger) -> None:
    enrol(ledger, "c1")
    with pytest.raises(InvalidInput, match="biometric"):
        ledger.add_identifier("palm", "palm-c1", child_id="c1")
    assert ledger.add_identifier("card", "card-c1", child_id="c1") is True
    assert ledger.add_identifier("palm", "palm-c1", child_id="c1",
                                 biometric_consent_ref="bio-1") is True


# -- online meal rules ----------------------------------------------------------------


def test_an_entitled_primary_childs_first_meal_is_funded_and_the_second_refused(
        ledger: Ledger) -> None:
    enrol(ledger, "c1", grade=2, card="k1")
    first = scan(ledger, canteen(), "e1", card="k1")
    second = scan(ledger, canteen(), "e2", card="k1", at=at(SCHOOL_DAY, 13))
    assert (first.status, first.funding, first.amount_kzt) == ("recorded", "funded", 585)
    assert (second.status, second.reason) == ("refused", "already_served")


def test_an_entitled_child_is_funded_again_on_the_next_school_day(ledger: Ledger) -> None:
    enrol(ledger, "c1", card="k1")
    scan(ledger, canteen(), "e1", card="k1")
    next_day = scan(ledger, canteen(), "e2", card="k1", at=at(SCHOOL_DAY + timedelta(days=1)))
    assert next_day.funding == "funded"


def test_an_entitled_child_buys_extra_items_beside_the_free_meal(ledger: Ledger) -> None:
    enrol(ledger, "c1", card="k1")
    top_up(ledger, "c1", 1_000)
    outcome = scan(ledger, canteen(), "e1", card="k1", item_ids=["lunch", "juice"])
    assert (outcome.funding, outcome.amount_kzt, outcome.balance_kzt) == (
        "funded", 585, 1_000 - JUICE.price_kzt)


def test_a_senior_child_without_an_eligible_category_pays(ledger: Ledger) -> None:
    enrol(ledger, "c7", grade=7, card="k7")
    top_up(ledger, "c7", 1_000)
    outcome = scan(ledger, canteen(), "e1", card="k7")
    assert (outcome.funding, outcome.amount_kzt, outcome.balance_kzt) == (
        "paid", LUNCH.price_kzt, 1_000 - LUNCH.price_kzt)


def test_a_senior_child_with_a_category_and_an_active_voucher_is_funded_at_710(
        ledger: Ledger) -> None:
    enrol(ledger, "c7", grade=7, categories=["large_family"], card="k7")
    outcome = scan(ledger, canteen(), "e1", card="k7")
    assert (outcome.funding, outcome.amount_kzt) == ("funded", 710)


def test_a_category_the_school_does_not_name_does_not_put_a_senior_on_the_list(
        ledger: Ledger) -> None:
    enrol(ledger, "c7", grade=7, categories=["divorced_parents"])
    assert not on_list(load_child(ledger, "c7"), load_school(ledger), SCHOOL_DAY)


def test_a_voucher_activated_after_the_day_does_not_fund_that_day(ledger: Ledger) -> None:
    enrol(ledger, "c1", card="k1", activated_on=SCHOOL_DAY + timedelta(days=1))
    top_up(ledger, "c1", 1_000)
    before = scan(ledger, canteen(), "e1", card="k1")
    on_the_day = scan(ledger, canteen(), "e2", card="k1", at=at(SCHOOL_DAY + timedelta(days=1)))
    assert (before.funding, before.amount_kzt) == ("paid", LUNCH.price_kzt)
    assert on_the_day.funding == "funded"


def test_a_revoked_voucher_stops_funding_from_its_revocation_date(ledger: Ledger) -> None:
    enrol(ledger, "c1", card="k1")
    top_up(ledger, "c1", 1_000)
    ledger.revoke_voucher("c1", "v-c1", SCHOOL_DAY + timedelta(days=1), "left the programme")
    before = scan(ledger, canteen(), "e1", card="k1")
    after = scan(ledger, canteen(), "e2", card="k1", at=at(SCHOOL_DAY + timedelta(days=1)))
    assert (before.funding, after.funding) == ("funded", "paid")


def test_a_school_that_needs_no_voucher_funds_a_child_without_one(ledger: Ledger) -> None:
    ledger.set_eligibility("s1", ["large_family"], VoucherRequired(primary=False),
                           date(2025, 10, 1))
    enrol(ledger, "c1", voucher=False, card="k1")
    assert scan(ledger, canteen(), "e1", card="k1").funding == "funded"


def test_a_home_schooled_child_is_on_the_list_but_not_entitled(ledger: Ledger) -> None:
    enrol(ledger, "c1", card="k1")
    ledger.record_home_schooling("c1", date(2025, 10, 1), None)
    child, school = load_child(ledger, "c1"), load_school(ledger)
    assert on_list(child, school, SCHOOL_DAY)
    assert not entitled(child, school, SCHOOL_DAY)
    assert entitled(child, school, date(2025, 9, 30))
    top_up(ledger, "c1", 1_000)
    assert scan(ledger, canteen(), "e1", card="k1").funding == "paid"


def test_a_scan_on_a_day_that_is_not_a_school_day_is_refused(ledger: Ledger) -> None:
    enrol(ledger, "c1", card="k1")
    outcome = scan(ledger, canteen(), "e1", card="k1", at=at(NOT_SCHOOL_DAY))
    assert (outcome.status, outcome.reason) == ("refused", "not_school_day")


def test_the_school_day_is_the_local_date_in_almaty(ledger: Ledger) -> None:
    enrol(ledger, "c1", card="k1")
    # 23:30 local on Saturday is 18:30 UTC: a Saturday, whatever the UTC date says
    late_saturday = scan(ledger, canteen(), "e1", card="k1", at=at(NOT_SCHOOL_DAY, 23, 30))
    # 00:30 local on Monday is 19:30 UTC on Sunday: a school day
    early_monday = scan(ledger, canteen(), "e2", card="k1", at=at(SCHOOL_DAY, 0, 30))
    assert late_saturday.reason == "not_school_day"
    assert early_monday.funding == "funded"


def test_an_item_with_a_restricted_allergen_is_refused(ledger: Ledger) -> None:
    enrol(ledger, "c1", card="k1")
    top_up(ledger, "c1", 1_000)
    ledger.set_allergens("c1", ["gluten"], "mother")
    outcome = scan(ledger, canteen(), "e1", card="k1", item_ids=[BUN.item_id])
    assert (outcome.status, outcome.reason) == ("refused", "allergen_restriction")


def test_a_short_balance_is_refused_without_an_overdraft_limit(ledger: Ledger) -> None:
    enrol(ledger, "c7", grade=7, card="k7")
    top_up(ledger, "c7", JUICE.price_kzt - 1)
    outcome = scan(ledger, canteen(), "e1", card="k7", item_ids=[JUICE.item_id])
    assert (outcome.status, outcome.reason) == ("refused", "insufficient_balance")


def test_an_overdraft_limit_lets_the_balance_go_below_zero_up_to_the_limit(
        store_url: str) -> None:
    with school_ledger(store_url, overdraft_limit_kzt=250) as ledger:
        enrol(ledger, "c7", grade=7, card="k7")
        within = scan(ledger, canteen(), "e1", card="k7", item_ids=[JUICE.item_id])
        beyond = scan(ledger, canteen(), "e2", card="k7", item_ids=[JUICE.item_id])
    assert (within.funding, within.balance_kzt) == ("paid", -JUICE.price_kzt)
    assert beyond.reason == "insufficient_balance"


def test_a_meal_without_items_is_refused_when_the_menu_has_no_free_item(ledger: Ledger) -> None:
    ledger.set_menu("s1", SCHOOL_DAY, [BUN, JUICE])
    enrol(ledger, "c1", card="k1")
    outcome = scan(ledger, canteen(), "e1", card="k1")
    assert (outcome.status, outcome.reason) == ("refused", "no_free_meal_item")


def test_an_unknown_card_is_refused_as_unknown_identifier(ledger: Ledger) -> None:
    outcome = scan(ledger, canteen(), "e1", card="nobody")
    assert (outcome.status, outcome.reason) == ("refused", "unknown_identifier")


def test_a_rate_change_applies_from_its_date_and_never_rewrites_earlier_days(
        ledger: Ledger) -> None:
    for child_id in ("c1", "c2"):
        enrol(ledger, child_id, card=f"k-{child_id}")
    change = SCHOOL_DAY + timedelta(days=2)
    early = scan(ledger, canteen(), "e1", card="k-c1")
    ledger.set_rate("s1", "primary", 650, change)
    late_for_an_early_day = scan(ledger, canteen(), "e2", card="k-c2")
    on_the_change = scan(ledger, canteen(), "e3", card="k-c1", at=at(change))
    assert (early.amount_kzt, late_for_an_early_day.amount_kzt, on_the_change.amount_kzt) == (
        585, 585, 650)
    retried = scan(ledger, canteen(), "e1", card="k-c1")
    assert (retried.status, retried.amount_kzt) == ("duplicate", 585)
    assert load_school(ledger).rate_on("primary", SCHOOL_DAY) == 585


def test_a_terminal_scanning_a_child_of_another_school_is_refused_wrong_school(
        ledger: Ledger) -> None:
    make_school(ledger, "s2")
    enrol(ledger, "b1", school_id="s2", card="kb1")
    outcome = scan(ledger, canteen("s1"), "e1", card="kb1")
    assert (outcome.status, outcome.reason) == ("refused", "wrong_school")


def test_a_gate_terminal_sending_a_meal_is_refused_wrong_terminal_kind(ledger: Ledger) -> None:
    enrol(ledger, "c1", card="k1")
    outcome = scan(ledger, gate(), "e1", card="k1")
    assert (outcome.status, outcome.reason) == ("refused", "wrong_terminal_kind")
    assert scan(ledger, canteen(), "e2", card="k1").funding == "funded"


def test_a_scan_from_an_unregistered_terminal_raises_not_found(ledger: Ledger) -> None:
    with pytest.raises(NotFound, match="terminal"):
        scan(ledger, "ghost-terminal", "e1", card="k1")



def test_another_scan_under_a_used_event_id_is_refused_not_lost_quietly(store_url: str) -> None:
    from ledger_fixtures import SCHOOL_DAY, at, canteen, enrol, make_school, scan

    from ledger.store import close_ledger, open_ledger

    ledger = open_ledger(store_url)
    try:
        make_school(ledger)
        enrol(ledger, "c1", card="k1")
        first = scan(ledger, canteen(), "e1", card="k1", at=at(SCHOOL_DAY, 12))
        again = scan(ledger, canteen(), "e1", card="k1", at=at(SCHOOL_DAY, 12))
        other = scan(ledger, canteen(), "e1", card="k1", at=at(SCHOOL_DAY, 13))
        assert (first.status, again.status) == ("recorded", "duplicate")
        assert (other.status, other.reason) == ("refused", "event_id_reused")
    finally:
        close_ledger(ledger)
