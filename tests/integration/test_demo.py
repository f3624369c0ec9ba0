"""`tamaq demo`: the report's school reproduced through the ledger, read back from the read
models; deterministic for a seed; `--if-empty` loads once."""

from __future__ import annotations

import argparse
import contextlib
import io
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from api.cli import OneLineParser
from api.cli_demo import register
from api.demo import DemoResult, Month, run_demo
from api.demo_plan import plan_demo, previous_month, school_days
from ledger.base import stable_id
from ledger.dates import month_bounds
from ledger.ledger import Ledger
from ledger.scans import TerminalItem, validate_items
from ledger.school import School
from ledger.store import close_ledger, open_ledger
from projections import build_runner
from projections.queries import entitlements
from projections.reports import region_savings, school_savings
from projections.views import Entitlements, RegionSavings, SchoolSavings

MONTH = "2025-10"
SEED = 7


class Loaded:
    def __init__(self, ledger: Ledger, result: DemoResult) -> None:
        self.ledger, self.result = ledger, result
        self.runner = build_runner(ledger)
        self.runner.catch_up()

    def entitlements(self, day: date) -> Entitlements:
        with self.runner.db.read() as cur:
            return entitlements(cur, self.result.seed_school_id, day)

    def savings(self) -> SchoolSavings:
        with self.runner.db.read() as cur:
            return school_savings(cur, self.result.seed_school_id, MONTH)

    def region(self) -> RegionSavings:
        with self.runner.db.read() as cur:
            return region_savings(cur, self.result.region_id, MONTH)

    def school(self) -> School:
        school: School = self.ledger.load(School, stable_id("school", self.result.seed_school_id))
        return school


def load(seed: int = SEED) -> Loaded:
    ledger = open_ledger("memory://")
    return Loaded(ledger, run_demo(ledger, seed=seed, extra_schools=1, month=MONTH))


@pytest.fixture(scope="module")
def demo() -> Iterator[Loaded]:
    loaded = load()
    yield loaded
    close_ledger(loaded.ledger)


def calendar(demo: Loaded) -> list[date]:
    return sorted(demo.school().calendar[MONTH])


def by_band(view: Entitlements) -> dict[str, list[Any]]:
    bands: dict[str, list[Any]] = {"preschool": [], "primary": [], "senior": []}
    for child in view.children:
        bands[child.band].append(child)
    return bands


def test_the_seed_school_has_the_reports_pupils_on_every_school_day(demo: Loaded) -> None:
    days = calendar(demo)
    assert len(days) == 18 == demo.savings().school_days
    view = demo.entitlements(days[-1])
    bands = by_band(view)
    assert view.school_day
    assert len(view.children) == 611
    assert {band: len(children) for band, children in bands.items()} == {
        "preschool": 23, "primary": 256, "senior": 332}
    assert sum(c.on_list for c in bands["senior"]) == 47
    assert sum(c.on_list for c in bands["preschool"]) == 0
    assert sum(c.home_schooled for c in view.children) == 2


def test_vouchers_are_as_in_the_report_at_month_end(demo: Loaded) -> None:
    last = demo.entitlements(calendar(demo)[-1])
    seniors = [c for c in by_band(last)["senior"] if c.on_list]
    primary = by_band(last)["primary"]
    assert sum(c.voucher_active for c in primary) == 256
    assert sum(c.voucher_active for c in seniors) == 38
    assert len(last.eligible_without_voucher) == 8
    assert len(last.voucher_not_activated) == 1
    assert sum(c.entitled for c in seniors) == 38
    assert sum(c.entitled for c in primary) == 256 - 2  # the home-schooled eat at home


def test_one_voucher_is_activated_in_the_middle_of_the_month(demo: Loaded) -> None:
    days = calendar(demo)
    first, last = demo.entitlements(days[0]), demo.entitlements(days[-1])
    active_first = {c.child_id for c in first.children if c.voucher_active}
    active_last = {c.child_id for c in last.children if c.voucher_active}
    assert len(active_last - active_first) == 1
    assert active_first < active_last


def test_the_child_who_refused_palm_scanning_uses_a_card(demo: Loaded) -> None:
    [refuser] = demo.entitlements(calendar(demo)[-1]).voucher_not_activated
    with demo.runner.db.read() as cur:
        kinds = {kind for (kind,) in cur.fetchall(
            "SELECT kind FROM pm_identifier WHERE child_id = ?", (refuser,))}
    assert kinds == {"card"}


def test_planned_cost_is_the_list_times_the_rates_of_the_calendar(demo: Loaded) -> None:
    school, days = demo.school(), calendar(demo)
    primary_rates = [school.rate_on("primary", day) or 0 for day in days]
    senior_rates = [school.rate_on("senior", day) or 0 for day in days]
    assert len(set(primary_rates)) == 2, "the primary rate changes in the middle of the month"
    bands = {b.band: b for b in demo.savings().bands}
    assert bands["primary"].planned_kzt == 256 * sum(primary_rates)
    assert bands["senior"].planned_kzt == 47 * sum(senior_rates)
    assert bands["primary"].list_child_days == 256 * len(days)


def test_primary_participation_lands_near_the_reports(demo: Loaded) -> None:
    primary = {b.band: b for b in demo.savings().bands}["primary"]
    share = primary.funded_meals / primary.list_child_days
    assert 0.45 <= share <= 0.60, f"{primary.funded_meals} of {primary.list_child_days}"
    assert 0 < demo.savings().saving_kzt < demo.savings().planned_kzt


def demo_command(*args: str) -> str:
    """Run `tamaq demo ARGS` in this process; returns what it printed."""
    parser = OneLineParser(prog="tamaq")
    register(parser.add_subparsers(dest="command", required=True))
    parsed: argparse.Namespace = parser.parse_args(["demo", *args])
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert parsed.handler(parsed) == 0
    return out.getvalue()


def head(url: str) -> int:
    ledger = open_ledger(url)
    try:
        return int(ledger.recorder.max_notification_id() or 0)
    finally:
        close_ledger(ledger)


IF_EMPTY = ("--schools", "1", "--month", MONTH, "--seed", str(SEED), "--if-empty")


@pytest.fixture(scope="module")
def sqlite_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """`tamaq demo --if-empty` on an empty SQLite file: (url, what it printed)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('demo') / 'demo.sqlite3'}"
    with pytest.MonkeyPatch.context() as env:
        env.setenv("TAMAQ_DATABASE_URL", url)
        env.setenv("TAMAQ_TOKEN_SECRET", "demo-test-secret-0123456789")
        yield url, demo_command(*IF_EMPTY)


def test_the_demo_command_prints_the_headline_figures(sqlite_demo: tuple[str, str],
                                                      demo: Loaded) -> None:
    _, printed = sqlite_demo
    savings = demo.savings()
    assert f"School {demo.result.seed_school_id}, {MONTH} (18 school days)" in printed
    assert f"planned by list {savings.planned_kzt:,} tenge" in printed
    assert f"saving {savings.saving_kzt:,}" in printed


def test_two_runs_with_one_seed_give_identical_figures(sqlite_demo: tuple[str, str],
                                                       demo: Loaded) -> None:
    url, _ = sqlite_demo
    ledger = open_ledger(url)
    try:
        again = Loaded(ledger, demo.result)
        assert again.savings() == demo.savings()
        assert again.region() == demo.region()
        assert len(again.region().schools) == 2
    finally:
        close_ledger(ledger)


def test_demo_if_empty_twice_loads_only_once(sqlite_demo: tuple[str, str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    url, _ = sqlite_demo
    first = head(url)
    monkeypatch.setenv("TAMAQ_DATABASE_URL", url)
    monkeypatch.setenv("TAMAQ_TOKEN_SECRET", "demo-test-secret-0123456789")
    assert "nothing loaded" in demo_command(*IF_EMPTY)
    assert head(url) == first > 0


class RecordingLedger:
    """Stands in for the ledger to look at what the month would send."""

    time_zone = "Asia/Almaty"

    def __init__(self) -> None:
        self.calls: list[list[tuple[str, TerminalItem]]] = []

    def record_scans(self, scans: list[tuple[str, TerminalItem]]) -> list[object]:
        self.calls.append(list(scans))
        return []

    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: None


def test_every_terminal_item_of_the_month_passes_the_ledgers_checks() -> None:
    plan = plan_demo(SEED, 0, MONTH)
    fake = RecordingLedger()
    sent = Month(fake, plan).play(lambda stage, done, total: None)  # type: ignore[arg-type]
    assert sent == sum(len(call) for call in fake.calls) > 18 * 500
    for call in fake.calls:
        validate_items([item for _, item in call])
        ids = [(terminal, item.event_id) for terminal, item in call]
        assert len(ids) == len(set(ids))
    manual = [i for call in fake.calls for _, i in call if i.method == "manual"]
    assert manual and all(i.authorized_by for i in manual)


@pytest.mark.parametrize("month", [f"{y}-{m:02d}" for y in (2025, 2026) for m in range(1, 13)])
def test_every_month_has_eighteen_school_days(month: str) -> None:
    days = school_days(month)
    first, nxt = month_bounds(month)
    assert len(set(days)) == 18 and list(days) == sorted(days)
    assert all(first <= day < nxt and day.weekday() < 6 for day in days)


def test_the_default_month_is_the_one_before() -> None:
    assert previous_month(date(2026, 1, 15)) == "2025-12"
    assert previous_month(date(2026, 11, 1)) == "2026-10"
