"""The meal-finance rules as pure functions: on the list, entitled, the online and the
offline meal decision. Aggregates are built from their own events, no store involved."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from ledger.base import stable_id
from ledger.child import CategoryPeriod, Child, Consent, HomeSchoolingPeriod, Placement
from ledger.rules import OfflineDecision, decide_meal, decide_offline_meal, entitled, on_list
from ledger.school import (
    CATEGORIES,
    DEFAULT_RATES_KZT,
    RATES_FROM,
    Eligibility,
    Menu,
    MenuItem,
    Rate,
    School,
    VoucherRequired,
)

DAY = date(2025, 10, 6)
SATURDAY = date(2025, 10, 4)
ENROLLED = date(2025, 9, 1)
LUNCH = MenuItem("lunch", "Lunch", 700, free_meal=True)
BUN = MenuItem("bun", "Bun", 150, allergens=("gluten",))
JUICE = MenuItem("juice", "Juice", 200)


def make_school(*, overdraft_kzt: int = 0, senior: tuple[str, ...] = ("large_family",),
                vouchers: VoucherRequired = VoucherRequired(), school_id: str = "s1") -> School:
    rates = tuple(Rate(band, amount, RATES_FROM) for band, amount in DEFAULT_RATES_KZT.items())
    school = School.new(stable_id("school", school_id), school_id=school_id, name="S",
                        region_id="r1", district="D", shifts=(1,), operator=None,
                        overdraft_limit_kzt=overdraft_kzt, rates=rates,
                        eligibility=Eligibility(senior, vouchers, RATES_FROM))
    days = tuple(d for d in (DAY + timedelta(days=i) for i in range(-5, 20))
                 if d.month == 10 and d.weekday() < 5)
    school.trigger(School.CalendarSet, month="2025-10", school_days=days)
    return school


def make_child(grade: int = 2, *, voucher_on: date | None = ENROLLED,
               categories: tuple[str, ...] = (), school_id: str = "s1") -> Child:
    child = Child.new(stable_id("child", "c1"), child_id="c1",
                      placement=Placement(school_id, grade, f"{grade}A", 1, ENROLLED),
                      consent=Consent("mother", "doc-1", ENROLLED), personal=b"",
                      request_hash="h")
    for category in categories:
        child.trigger(Child.CategoryAssigned,
                      period=CategoryPeriod(category, ENROLLED, None, "doc"))
    if voucher_on is not None:
        child.trigger(Child.VoucherAssigned, voucher_id="v1", school_year="2025-2026")
        child.trigger(Child.VoucherActivated, voucher_id="v1", activated_on=voucher_on)
    return child


def make_menu(*items: MenuItem, day: date = DAY) -> Menu:
    return Menu.new(stable_id("menu", "s1", day.isoformat()), school_id="s1", day=day,
                    items=items or (LUNCH, BUN, JUICE))


def decide(child: Child, school: School, *, items: tuple[str, ...] | None = None,
           taken: bool = False, balance_kzt: int = 0, day: date = DAY,
           menu: Menu | None = None):  # type: ignore[no-untyped-def]
    return decide_meal(child, school, day, menu or make_menu(day=day), items,
                       free_meal_taken=taken, balance_kzt=balance_kzt)


# -- on the list, entitled ------------------------------------------------------------


def test_every_enrolled_primary_child_is_on_the_list() -> None:
    assert on_list(make_child(voucher_on=None), make_school(), DAY)


def test_a_child_is_not_on_the_list_before_enrolment_or_after_leaving() -> None:
    child = make_child()
    child.trigger(Child.Left, left_on=DAY, reason="moved")
    assert not on_list(child, make_school(), ENROLLED - timedelta(days=1))
    assert on_list(child, make_school(), DAY - timedelta(days=1))
    assert not on_list(child, make_school(), DAY)


def test_a_child_of_another_school_is_not_on_this_schools_list() -> None:
    assert not on_list(make_child(school_id="s2"), make_school(), DAY)


def test_withdrawn_consent_takes_a_child_off_the_list_from_that_day() -> None:
    child = make_child()
    child.trigger(Child.ConsentWithdrawn, withdrawn_on=DAY, by="mother", document_ref="w")
    assert on_list(child, make_school(), DAY - timedelta(days=1))
    assert not on_list(child, make_school(), DAY)


def test_a_senior_child_is_on_the_list_only_with_a_category_the_school_names() -> None:
    school = make_school(senior=("large_family",))
    assert not on_list(make_child(7), school, DAY)
    assert not on_list(make_child(7, categories=("divorced_parents",)), school, DAY)
    assert on_list(make_child(7, categories=("large_family",)), school, DAY)


def test_a_category_period_that_ended_no_longer_counts() -> None:
    child = make_child(7)
    child.trigger(Child.CategoryAssigned, period=CategoryPeriod(
        "large_family", ENROLLED, DAY - timedelta(days=1), "doc"))
    assert on_list(child, make_school(), DAY - timedelta(days=1))
    assert not on_list(child, make_school(), DAY)


def test_a_preschool_child_is_not_on_the_list_while_the_band_has_no_rate() -> None:
    school = make_school()
    assert not on_list(make_child(0), school, DAY)
    school.trigger(School.RateSet, rate=Rate("preschool", 400, ENROLLED), set_by="admin")
    assert on_list(make_child(0), school, DAY)
    assert entitled(make_child(0, voucher_on=None), school, DAY)


def test_a_home_schooled_child_is_on_the_list_but_not_entitled() -> None:
    child = make_child()
    child.trigger(Child.HomeSchoolingRecorded, period=HomeSchoolingPeriod(DAY, None))
    assert on_list(child, make_school(), DAY)
    assert not entitled(child, make_school(), DAY)
    assert entitled(child, make_school(), DAY - timedelta(days=1))


def test_a_voucher_counts_from_its_activation_day_until_its_revocation_day() -> None:
    child = make_child(voucher_on=DAY)
    child.trigger(Child.VoucherRevoked, voucher_id="v1", revoked_on=DAY + timedelta(days=1),
                  reason="r")
    school = make_school()
    assert not entitled(child, school, DAY - timedelta(days=1))
    assert entitled(child, school, DAY)
    assert not entitled(child, school, DAY + timedelta(days=1))


def test_a_voucher_of_another_school_year_does_not_entitle() -> None:
    child = make_child(voucher_on=None)
    child.trigger(Child.VoucherAssigned, voucher_id="old", school_year="2024-2025")
    child.trigger(Child.VoucherActivated, voucher_id="old", activated_on=date(2024, 9, 2))
    assert not entitled(child, make_school(), DAY)


def test_a_school_that_needs_no_voucher_entitles_without_one() -> None:
    school = make_school(vouchers=VoucherRequired(primary=False, senior=False))
    assert entitled(make_child(voucher_on=None), school, DAY)


# -- the online decision ---------------------------------------------------------------


def test_a_scan_without_items_gives_an_entitled_child_the_free_meal_at_the_band_rate() -> None:
    decision = decide(make_child(), make_school())
    assert (decision.funding, decision.funded_kzt, decision.paid_kzt) == ("funded", 585, 0)
    assert decision.takes_free_meal and [i.item_id for i in decision.items] == ["lunch"]


def test_a_senior_entitled_child_is_funded_at_the_senior_rate() -> None:
    decision = decide(make_child(7, categories=("large_family",)), make_school())
    assert (decision.funding, decision.funded_kzt, decision.band) == ("funded", 710, "senior")


def test_a_second_free_meal_the_same_day_is_refused_already_served() -> None:
    assert decide(make_child(), make_school(), taken=True).refused == "already_served"


def test_an_entitled_child_who_takes_only_extras_pays_and_keeps_the_free_meal() -> None:
    decision = decide(make_child(), make_school(), items=("juice",), balance_kzt=500)
    assert (decision.funding, decision.paid_kzt, decision.takes_free_meal) == ("paid", 200, False)


def test_extras_beside_the_free_meal_are_paid_from_the_balance() -> None:
    decision = decide(make_child(), make_school(), items=("lunch", "juice"), balance_kzt=500)
    assert (decision.funding, decision.funded_kzt, decision.paid_kzt) == ("funded", 585, 200)


def test_a_child_not_entitled_buys_the_free_meal_item_at_its_menu_price() -> None:
    decision = decide(make_child(voucher_on=None), make_school(), balance_kzt=1_000)
    assert (decision.funding, decision.paid_kzt, decision.takes_free_meal) == (
        "paid", LUNCH.price_kzt, False)


@pytest.mark.parametrize(("balance_kzt", "overdraft_kzt", "refused"), [
    (699, 0, "insufficient_balance"),
    (700, 0, None),
    (0, 699, "insufficient_balance"),
    (0, 700, None),
    (-100, 800, None),
])
def test_the_balance_may_not_go_below_minus_the_overdraft_limit(
        balance_kzt: int, overdraft_kzt: int, refused: str | None) -> None:
    decision = decide(make_child(voucher_on=None), make_school(overdraft_kzt=overdraft_kzt),
                      balance_kzt=balance_kzt)
    assert decision.refused == refused


@pytest.mark.parametrize(("menu", "items", "refused"), [
    (None, None, "no_free_meal_item"),
    ((BUN, JUICE), None, "no_free_meal_item"),
    ((LUNCH,), ("soup",), "unknown_item"),
    ((LUNCH, BUN), ("bun",), "allergen_restriction"),
])
def test_a_scan_the_menu_cannot_satisfy_is_refused_with_a_named_reason(
        menu: tuple[MenuItem, ...] | None, items: tuple[str, ...] | None, refused: str) -> None:
    child = make_child()
    child.trigger(Child.AllergensSet, allergens=("gluten",), set_by="mother")
    the_menu = make_menu(*menu) if menu is not None else None
    decision = decide_meal(child, make_school(), DAY, the_menu, items, free_meal_taken=False,
                           balance_kzt=10_000)
    assert decision.refused == refused


def test_a_scan_on_a_day_off_is_refused_not_school_day() -> None:
    assert decide(make_child(), make_school(), day=SATURDAY).refused == "not_school_day"


def test_a_scan_at_another_schools_canteen_is_refused_wrong_school() -> None:
    assert decide(make_child(school_id="s2"), make_school()).refused == "wrong_school"


def test_a_rate_change_applies_from_its_effective_date_only() -> None:
    school = make_school()
    school.trigger(School.RateSet, rate=Rate("primary", 650, DAY + timedelta(days=1)),
                   set_by="admin")
    before = decide(make_child(), school)
    after = decide(make_child(), school, day=DAY + timedelta(days=1))
    assert (before.funded_kzt, after.funded_kzt) == (585, 650)


# -- the offline decision --------------------------------------------------------------


def offline(decision: OfflineDecision, child: Child, *, taken: bool = False,
            balance_kzt: int = 0, school: School | None = None,
            items: tuple[str, ...] | None = None):  # type: ignore[no-untyped-def]
    return decide_offline_meal(child, school or make_school(), DAY, make_menu(), items,
                               decision, free_meal_taken=taken, balance_kzt=balance_kzt)


def test_an_offline_free_meal_the_rules_allow_is_funded_without_flags() -> None:
    decision = offline(OfflineDecision("funded"), make_child())
    assert (decision.funding, decision.funded_kzt, decision.flags) == ("funded", 585, ())


def test_an_offline_second_free_meal_is_served_unfunded_and_flagged_never_refused() -> None:
    decision = offline(OfflineDecision("funded"), make_child(), taken=True)
    assert decision.refused is None
    assert (decision.funding, decision.funded_kzt, decision.paid_kzt) == ("unfunded", 0, 0)
    assert decision.flags == ("offline_unfunded", "already_served")
    assert not decision.takes_free_meal


def test_an_offline_free_meal_without_a_voucher_is_unfunded_and_flagged_not_entitled() -> None:
    decision = offline(OfflineDecision("funded"), make_child(voucher_on=None), balance_kzt=5_000)
    assert (decision.funding, decision.flags) == ("unfunded", ("offline_unfunded", "not_entitled"))


def test_an_offline_paid_meal_is_charged_below_the_overdraft_and_flagged() -> None:
    decision = offline(OfflineDecision("paid", 700), make_child(voucher_on=None), balance_kzt=0)
    assert (decision.refused, decision.funding, decision.paid_kzt) == (None, "paid", 700)
    # the server would have refused it for the short balance: charged, and flagged as such
    assert decision.flags == ("offline_overdraft",)


def test_an_offline_paid_meal_is_charged_at_the_menu_price_and_a_different_terminal_amount_flagged() -> None:
    decision = offline(OfflineDecision("paid", 300), make_child(voucher_on=None), balance_kzt=5_000)
    assert (decision.funding, decision.paid_kzt) == ("paid", 700)
    assert decision.flags == ("offline_amount_differs",)


def test_an_offline_paid_meal_the_server_would_refuse_is_charged_and_flagged_disputed() -> None:
    child = make_child(voucher_on=None)
    child.trigger(Child.AllergensSet, allergens=("gluten",), set_by="mother")
    decision = offline(OfflineDecision("paid", 150), child, balance_kzt=1_000, items=("bun",))
    assert (decision.funding, decision.paid_kzt) == ("paid", 150)
    assert decision.flags == ("offline_disputed", "allergen_restriction")


def test_every_category_a_school_may_name_is_a_stable_code() -> None:
    assert all(c.isidentifier() and c.islower() for c in CATEGORIES)
