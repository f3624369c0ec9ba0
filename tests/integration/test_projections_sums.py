"""Sums hold across the read models: days add up to the month, daily cost adds up to the
statement, schools add up to their district and region; and a child who moved school keeps
the days it spent at the old one."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from ledger_fixtures import MONTH, consent, make_school, weekdays
from projection_fixtures import make_runner, small_history

from ledger.ledger import Ledger
from ledger.store import close_ledger, open_ledger
from projections import queries, reports
from projections.runner import Runner

SCHOOLS = {"s1": "North", "s2": "North", "s3": "South"}


@pytest.fixture
def region(store_url: str) -> Iterator[tuple[Ledger, Runner]]:
    ledger = open_ledger(store_url)
    try:
        runner = make_runner(ledger)
        for school_id, district in SCHOOLS.items():
            small_history(ledger, school_id)
            ledger.register_school(school_id, name=f"School {school_id}", region_id="r1",
                                   district=district, shifts=(1, 2))
        make_school(ledger, "other", region_id="r2")  # another region stays out of r1
        runner.catch_up()
        yield ledger, runner
    finally:
        close_ledger(ledger)


def test_daily_cost_over_the_month_equals_savings_actual_and_the_statement(
        region: tuple[Ledger, Runner]) -> None:
    _, runner = region
    with runner.db.read() as cur:
        for school_id in SCHOOLS:
            funded_by_day = sum(queries.daily_cost(cur, school_id, day).funded_kzt
                                for day in weekdays())
            savings = reports.school_savings(cur, school_id, MONTH)
            statement = reports.tenant_statement(cur, school_id, MONTH)
            allowances = sum(b.allowance_kzt for b in savings.bands)
            assert funded_by_day > 0 and allowances > 0
            assert funded_by_day == savings.actual_kzt - allowances == statement.meals_kzt
            assert statement.allowances_kzt == allowances
            assert savings.saving_kzt == savings.planned_kzt - savings.actual_kzt


def test_list_days_of_every_school_day_add_up_to_the_month(
        region: tuple[Ledger, Runner]) -> None:
    _, runner = region
    with runner.db.read() as cur:
        for school_id in SCHOOLS:
            savings = reports.school_savings(cur, school_id, MONTH)
            for band in savings.bands:
                per_day = [queries.entitlements(cur, school_id, day) for day in weekdays()]
                listed = sum(c.on_list for e in per_day for c in e.by_band if c.key == band.band)
                assert listed == band.list_child_days
            assert savings.school_days == len(weekdays())


def test_schools_add_up_to_their_district_and_the_region(region: tuple[Ledger, Runner]) -> None:
    _, runner = region
    with runner.db.read() as cur:
        view = reports.region_savings(cur, "r1", MONTH)
        assert sorted(r.school_id for r in view.schools) == sorted(SCHOOLS)
        for row in view.schools:
            alone = reports.school_savings(cur, row.school_id, MONTH)
            assert (row.planned_kzt, row.actual_kzt, row.saving_kzt, row.school_days) == (
                alone.planned_kzt, alone.actual_kzt, alone.saving_kzt, alone.school_days)
        for district in view.districts:
            mine = [r for r in view.schools if SCHOOLS[r.school_id] == district.district]
            assert district.planned_kzt == sum(r.planned_kzt for r in mine)
            assert district.actual_kzt == sum(r.actual_kzt for r in mine)
            assert district.saving_kzt == district.planned_kzt - district.actual_kzt
        assert view.planned_kzt == sum(d.planned_kzt for d in view.districts) > 0
        assert view.actual_kzt == sum(d.actual_kzt for d in view.districts) > 0
        assert view.saving_kzt == view.planned_kzt - view.actual_kzt


def test_a_child_who_moved_on_gets_its_old_school_days_when_that_calendar_comes_late() -> None:
    ledger = open_ledger("memory://")
    try:
        days = make_school(ledger, "s1", days=[])
        make_school(ledger, "s2")
        ledger.enrol_child("s1", "c1", first_name="A", last_name="B", iin=None, grade=2,
                           class_name="2A", shift=1, consent=consent("c1"), enrolled_on=weekdays()[0])
        ledger.change_placement("c1", school_id="s2", grade=2, class_name="2B", shift=1,
                                effective_from=weekdays()[10], reason="transfer")
        runner = make_runner(ledger)
        runner.catch_up()
        assert days == []
        ledger.set_calendar("s1", MONTH, weekdays()[:12])
        runner.catch_up()
        with runner.db.read() as cur:
            at_old = [queries.entitlements(cur, "s1", d).children for d in weekdays()[:12]]
        assert [len(children) for children in at_old] == [1] * 10 + [0] * 2
    finally:
        close_ledger(ledger)

