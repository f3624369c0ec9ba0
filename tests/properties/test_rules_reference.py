"""The shipped meal rules decide exactly as the plain reference rules (tests/rules_reference.py)
for random children, schools, menus and days, also after the school's rates, calendar and
eligibility change between decisions (the per-day facts a school caches must follow)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import rules_reference as reference
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger import rules
from ledger.base import stable_id
from ledger.child import CategoryPeriod, Child, Consent, HomeSchoolingPeriod, Placement
from ledger.rules import OfflineDecision
from ledger.school import CATEGORIES, Eligibility, Menu, MenuItem, Rate, School, VoucherRequired

FIRST = date(2025, 8, 25)
DAYS = [FIRST + timedelta(days=i) for i in range(0, 60, 3)]
days = st.sampled_from(DAYS)
maybe_days = st.none() | days
bands = st.sampled_from(("preschool", "primary", "senior"))
categories = st.lists(st.sampled_from(CATEGORIES[:4]), max_size=3, unique=True).map(tuple)
allergens = st.lists(st.sampled_from(("gluten", "milk", "nuts")), max_size=2, unique=True).map(tuple)
ITEM_IDS = ("lunch", "soup", "bun", "juice")


@st.composite
def menus(draw: Any) -> Menu:
    items = [MenuItem(item_id, item_id.title(), draw(st.sampled_from((0, 150, 585, 700))),
                      draw(allergens), draw(st.booleans()))
             for item_id in draw(st.lists(st.sampled_from(ITEM_IDS), max_size=4, unique=True))]
    return Menu.new(stable_id("menu", "s1", "x"), school_id="s1", day=FIRST, items=tuple(items))


def eligibility(draw: Any, effective_from: date) -> Eligibility:
    return Eligibility(draw(categories), VoucherRequired(draw(st.booleans()), draw(st.booleans()),
                                                         draw(st.booleans())), effective_from)


@st.composite
def schools(draw: Any) -> School:
    rates = tuple(Rate(band, draw(st.sampled_from((0, 585, 710))), draw(days))
                  for band in draw(st.lists(bands, max_size=3)))
    school = School.new(stable_id("school", "s1"), school_id="s1", name="S", region_id="r1",
                        district="D", shifts=(1, 2), operator=None,
                        overdraft_limit_kzt=draw(st.sampled_from((0, 300))), rates=rates,
                        eligibility=eligibility(draw, draw(days)))
    for month in ("2025-08", "2025-09", "2025-10"):
        chosen = tuple(d for d in DAYS if f"{d:%Y-%m}" == month and draw(st.booleans()))
        school.trigger(School.CalendarSet, month=month, school_days=chosen)
    return school


def school_change(draw: Any, school: School) -> None:
    """One more event of the school's: a rate, a calendar month or an eligibility."""
    kind = draw(st.sampled_from(("rate", "calendar", "eligibility")))
    if kind == "rate":
        school.trigger(School.RateSet, rate=Rate(draw(bands), draw(st.sampled_from((0, 600, 720))),
                                                 draw(days)), set_by="t")
    elif kind == "calendar":
        school.trigger(School.CalendarSet, month="2025-09",
                       school_days=tuple(d for d in DAYS if d.month == 9 and draw(st.booleans())))
    else:
        school.trigger(School.EligibilitySet, eligibility=eligibility(draw, draw(days)))


@st.composite
def children(draw: Any) -> Child:
    grade = draw(st.integers(0, 11))
    child = Child.new(stable_id("child", "c1"), child_id="c1",
                      placement=Placement(draw(st.sampled_from(("s1", "s2"))), grade, "1A", 1,
                                          draw(days)),
                      consent=Consent("mother", "doc", FIRST), personal=b"", request_hash="h")
    if draw(st.booleans()):
        child.trigger(Child.PlacementChanged, reason="moved", placement=Placement(
            draw(st.sampled_from(("s1", "s2"))), draw(st.integers(0, 11)), "2B", 2, draw(days)))
    for category in draw(categories):
        child.trigger(Child.CategoryAssigned,
                      period=CategoryPeriod(category, draw(days), draw(maybe_days), "doc"))
    if draw(st.booleans()):
        child.trigger(Child.HomeSchoolingRecorded,
                      period=HomeSchoolingPeriod(draw(days), draw(maybe_days)))
    for n, year in enumerate(draw(st.lists(st.sampled_from(("2024-2025", "2025-2026")),
                                           max_size=2))):
        child.trigger(Child.VoucherAssigned, voucher_id=f"v{n}", school_year=year)
        if draw(st.booleans()):
            child.trigger(Child.VoucherActivated, voucher_id=f"v{n}", activated_on=draw(days))
        if draw(st.booleans()):
            child.trigger(Child.VoucherRevoked, voucher_id=f"v{n}", revoked_on=draw(days),
                          reason="r")
    if draw(st.booleans()):
        child.trigger(Child.AllergensSet, allergens=draw(allergens), set_by="p")
    if draw(st.booleans()):
        child.trigger(Child.Left, left_on=draw(days), reason="moved")
    if draw(st.booleans()):
        child.trigger(Child.ConsentWithdrawn, withdrawn_on=draw(days), by="p",
                      document_ref="doc")
    return child


offline_decisions = st.builds(
    OfflineDecision, st.sampled_from(("funded", "paid", "refused")),
    st.sampled_from((0, 150, 700)), st.sampled_from((None, "no_consent")))
item_choices = st.none() | st.lists(st.sampled_from(ITEM_IDS + ("cake",)), min_size=1,
                                    max_size=3).map(tuple)


@settings(max_examples=400, deadline=None)
@given(data=st.data(), child=children(), school=schools(), menu=st.none() | menus())
def test_shipped_rules_decide_as_the_reference_rules(data: Any, child: Child, school: School,
                                                      menu: Menu | None) -> None:
    for _ in range(4):
        day = data.draw(days)
        items = data.draw(item_choices)
        taken, balance_kzt = data.draw(st.booleans()), data.draw(st.sampled_from((-400, 0, 1000)))
        offline = data.draw(offline_decisions)
        assert rules.on_list(child, school, day) == reference.on_list(child, school, day)
        assert rules.entitled(child, school, day) == reference.entitled(child, school, day)
        assert rules.decide_meal(child, school, day, menu, items, free_meal_taken=taken,
                                 balance_kzt=balance_kzt) == reference.decide_meal(
            child, school, day, menu, items, free_meal_taken=taken, balance_kzt=balance_kzt)
        assert rules.decide_offline_meal(
            child, school, day, menu, items, offline, free_meal_taken=taken,
            balance_kzt=balance_kzt) == reference.decide_offline_meal(
            child, school, day, menu, items, offline, free_meal_taken=taken,
            balance_kzt=balance_kzt)
        school_change(data.draw, school)  # the next decision sees the school as it is now
