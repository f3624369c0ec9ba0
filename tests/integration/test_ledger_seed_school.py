"""The seed school's arithmetic (DOMAIN.md, report 004): the planned-by-list figures are
derived from ledger state — the children found in the event log, `rules.on_list` and
`School.rate_on` over the school calendar — and compared with the documented figures."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import date

import pytest
from ledger_fixtures import enrol, load_child, load_school, make_school, stored_events, weekdays

from ledger.dates import band_of
from ledger.ledger import Ledger
from ledger.mapper import decode_stored
from ledger.rules import entitled, on_list
from ledger.store import close_ledger, open_ledger

MONTH = "2025-10"
AUTUMN_BREAK = {date(2025, 10, day) for day in range(27, 32)}
SENIOR_CATEGORIES = ("large_family", "low_income", "disability", "guardianship",
                     "targeted_social_assistance")


@pytest.fixture(scope="module")
def seed_school() -> Iterator[Ledger]:
    """The report's school: 256 primary pupils, all with an activated voucher; 47 eligible
    seniors (38 activated, 8 never assigned a voucher, 1 refused palm scanning: card only);
    and children who must not count: seniors without a category, a preschool child."""
    ledger = open_ledger("memory://")
    make_school(ledger, days=[d for d in weekdays(MONTH) if d not in AUTUMN_BREAK],
                senior_categories=SENIOR_CATEGORIES, menu=None)
    for i in range(256):
        enrol(ledger, f"p{i:03d}", grade=1 + i % 4, palm=f"palm-p{i:03d}")
    for i in range(47):
        category = SENIOR_CATEGORIES[i % len(SENIOR_CATEGORIES)]
        enrol(ledger, f"s{i:02d}", grade=5 + i % 7, categories=[category], voucher=i < 38,
              palm=f"palm-s{i:02d}" if i != 46 else None, card="card-s46" if i == 46 else None)
    for i in range(20):
        enrol(ledger, f"n{i:02d}", grade=5 + i % 7, categories=["divorced_parents"] * (i % 2))
    enrol(ledger, "k00", grade=0)
    yield ledger
    close_ledger(ledger)


def enrolled_child_ids(ledger: Ledger) -> list[str]:
    """The children the ledger knows, read from the event log."""
    return [decode_stored(topic, state).child_id for topic, state in stored_events(ledger)
            if topic == "ledger.child:Child.Enrolled"]


def planned_by_list(ledger: Ledger, school_id: str = "s1"
                    ) -> dict[tuple[str, date], tuple[int, int]]:
    """(band, day) -> (children on the list, planned tenge), over the month's calendar."""
    school = load_school(ledger, school_id)
    children = [load_child(ledger, child_id) for child_id in enrolled_child_ids(ledger)]
    plan: dict[tuple[str, date], tuple[int, int]] = defaultdict(lambda: (0, 0))
    for day in sorted(school.calendar[MONTH]):
        for child in children:
            if on_list(child, school, day):
                band = band_of(child.placement_on(day).grade)  # type: ignore[union-attr]
                count, amount = plan[(band, day)]
                plan[(band, day)] = (count + 1, amount + (school.rate_on(band, day) or 0))
    return dict(plan)


def test_the_month_has_18_school_days(seed_school: Ledger) -> None:
    assert len(load_school(seed_school).calendar[MONTH]) == 18


def test_256_primary_pupils_on_the_list_for_18_days_at_585_plan_2_695_680(
        seed_school: Ledger) -> None:
    plan = planned_by_list(seed_school)
    primary = {day: value for (band, day), value in plan.items() if band == "primary"}
    assert len(primary) == 18
    assert {count for count, _ in primary.values()} == {256}
    assert {amount for _, amount in primary.values()} == {149_760}
    assert sum(amount for _, amount in primary.values()) == 2_695_680


def test_each_primary_child_is_planned_at_10_530_a_month(seed_school: Ledger) -> None:
    school = load_school(seed_school)
    child = load_child(seed_school, "p000")
    per_child = sum(school.rate_on("primary", day) or 0
                    for day in school.calendar[MONTH] if on_list(child, school, day))
    assert per_child == 10_530


def test_47_seniors_on_the_list_at_710_plan_33_370_a_day(seed_school: Ledger) -> None:
    plan = planned_by_list(seed_school)
    senior = {day: value for (band, day), value in plan.items() if band == "senior"}
    assert len(senior) == 18
    assert set(senior.values()) == {(47, 33_370)}
    assert "preschool" not in {band for band, _ in plan}


def test_each_senior_child_is_planned_at_12_780_a_month_not_the_reports_10_650(
        seed_school: Ledger) -> None:
    school = load_school(seed_school)
    per_child = {
        child_id: sum(school.rate_on("senior", day) or 0 for day in school.calendar[MONTH]
                      if on_list(load_child(seed_school, child_id), school, day))
        for child_id in enrolled_child_ids(seed_school) if child_id.startswith("s")
    }
    assert set(per_child.values()) == {12_780}
    assert 10_650 not in per_child.values()  # the report's 710 x 18 is 710 x 15


def test_only_the_38_seniors_with_an_activated_voucher_are_entitled(seed_school: Ledger) -> None:
    school = load_school(seed_school)
    day = min(school.calendar[MONTH])
    seniors = [load_child(seed_school, c) for c in enrolled_child_ids(seed_school)
               if c.startswith("s")]
    assert sum(entitled(child, school, day) for child in seniors) == 38
