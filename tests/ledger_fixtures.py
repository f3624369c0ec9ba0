"""Given-helpers for ledger tests: a school set up in a few lines.

    ledger = open_ledger("memory://")
    make_school(ledger)                                   # region r1, school s1, 2025-10
    enrol(ledger, "c1", grade=2, card="card-c1")          # primary, consent, active voucher
    outcome = scan(ledger, CANTEEN, "e1", card="card-c1", at=at(SCHOOL_DAY))

Every helper goes through the Ledger's public use cases, so a test that uses them tests the
real write path. Names and dates are plain defaults a test can override.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from ledger.base import stable_id
from ledger.child import Child, Consent, Wallet
from ledger.ledger import Ledger
from ledger.rules import OfflineDecision
from ledger.scans import IdentifierRef, ItemOutcome, TerminalItem
from ledger.school import MenuItem, School
from ledger.store import close_ledger, open_ledger

LOCAL = ZoneInfo("Asia/Almaty")
MONTH = "2025-10"
SCHOOL_YEAR = "2025-2026"
ENROLLED_ON = date(2025, 9, 1)
SCHOOL_DAY = date(2025, 10, 6)  # a Monday
NOT_SCHOOL_DAY = date(2025, 10, 4)  # a Saturday

# The canteen's menu every school day: one free-meal item, two extras.
LUNCH = MenuItem("lunch", "Lunch", 700, free_meal=True)
BUN = MenuItem("bun", "Bun", 150, allergens=("gluten",))
JUICE = MenuItem("juice", "Juice", 200)
MENU: tuple[MenuItem, ...] = (LUNCH, BUN, JUICE)


def canteen(school_id: str = "s1") -> str:
    return f"{school_id}-canteen"


def gate(school_id: str = "s1") -> str:
    return f"{school_id}-gate"


def weekdays(month: str = MONTH) -> list[date]:
    """Monday to Friday of a month: the default school calendar."""
    year, mon = int(month[:4]), int(month[5:7])
    day, days = date(year, mon, 1), []
    while day.month == mon:
        if day.weekday() < 5:
            days.append(day)
        day += timedelta(days=1)
    return days


def at(day: date, hour: int = 9, minute: int = 0) -> datetime:
    """The UTC instant of a local (Asia/Almaty) time on a school day."""
    return datetime.combine(day, time(hour, minute), LOCAL).astimezone(UTC)


_local = at  # the helpers below take a parameter named `at`, as terminals send it


def make_school(
    ledger: Ledger,
    school_id: str = "s1",
    *,
    month: str = MONTH,
    days: Iterable[date] | None = None,
    region_id: str = "r1",
    overdraft_limit_kzt: int = 0,
    menu: Sequence[MenuItem] | None = MENU,
    senior_categories: Iterable[str] = ("large_family", "low_income", "disability"),
) -> list[date]:
    """Region, school, calendar, eligibility, a menu on each school day, one canteen and one
    gate terminal (`canteen(school_id)`, `gate(school_id)`). Returns the school days."""
    from ledger.school import VoucherRequired

    school_days = sorted(days) if days is not None else weekdays(month)
    ledger.register_region(region_id, f"Region {region_id}")
    ledger.register_school(school_id, name=f"School {school_id}", region_id=region_id,
                           district="Central", shifts=(1, 2),
                           overdraft_limit_kzt=overdraft_limit_kzt)
    ledger.set_calendar(school_id, month, school_days)
    ledger.set_eligibility(school_id, senior_categories, VoucherRequired(), ENROLLED_ON)
    if menu is not None:
        for day in school_days:
            ledger.set_menu(school_id, day, menu)
    ledger.register_terminal(canteen(school_id), school_id, "canteen")
    ledger.register_terminal(gate(school_id), school_id, "gate")
    return school_days


@contextmanager
def school_ledger(database_url: str, **school: object) -> Iterator[Ledger]:
    """A ledger on `database_url` with `make_school(ledger, **school)` done; closed after."""
    ledger = open_ledger(database_url)
    try:
        make_school(ledger, **school)  # type: ignore[arg-type]
        yield ledger
    finally:
        close_ledger(ledger)


@contextmanager
def enrolled_school(database_url: str, children: int) -> Iterator[Ledger]:
    """`school_ledger` with children c0, c1, ... enrolled, each with card k0, k1, ..."""
    with school_ledger(database_url) as ledger:
        for i in range(children):
            enrol(ledger, f"c{i}", card=f"k{i}")
        yield ledger


def consent(child_id: str) -> Consent:
    return Consent(given_by=f"guardian of {child_id}", document_ref=f"consent-{child_id}",
                   signed_on=ENROLLED_ON - timedelta(days=7))


def enrol(
    ledger: Ledger,
    child_id: str,
    grade: int = 2,
    *,
    school_id: str = "s1",
    categories: Iterable[str] = (),
    voucher: bool = True,
    activated_on: date = ENROLLED_ON,
    card: str | None = None,
    palm: str | None = None,
    first_name: str = "Aruzhan",
) -> None:
    """Enrol a child with consent; optionally categories (from enrolment on), an activated
    voucher for 2025-2026, a card and a palm token (with biometric consent)."""
    ledger.enrol_child(school_id, child_id, first_name=first_name, last_name="Test",
                       iin=None, grade=grade, class_name=f"{grade}A", shift=1,
                       consent=consent(child_id), enrolled_on=ENROLLED_ON)
    for category in categories:
        ledger.assign_category(child_id, category, ENROLLED_ON, None, f"doc-{category}")
    if voucher:
        ledger.assign_voucher(child_id, f"v-{child_id}", SCHOOL_YEAR)
        ledger.activate_voucher(child_id, f"v-{child_id}", activated_on)
    if card is not None:
        ledger.add_identifier("card", card, child_id=child_id)
    if palm is not None:
        ledger.add_identifier("palm", palm, child_id=child_id,
                              biometric_consent_ref=f"bio-{child_id}")


def meal_item(
    event_id: str,
    *,
    card: str | None = None,
    child_id: str | None = None,
    at: datetime | None = None,
    item_ids: Sequence[str] | None = None,
    offline: OfflineDecision | None = None,
) -> TerminalItem:
    return TerminalItem(
        event_id=event_id, kind="meal", at=at or _local(SCHOOL_DAY),
        identifier=IdentifierRef("card", card) if card is not None else None,
        child_id=child_id if card is None else None,
        item_ids=tuple(item_ids) if item_ids is not None else None,
        offline_decision=offline)


def scan(
    ledger: Ledger,
    terminal: str,
    event_id: str,
    card: str | None = None,
    at: datetime | None = None,
    item_ids: Sequence[str] | None = None,
    offline: OfflineDecision | None = None,
    *,
    child_id: str | None = None,
) -> ItemOutcome:
    """One meal scan by card (or by child id), decided online unless `offline` is given."""
    item = meal_item(event_id, card=card, child_id=child_id, at=at, item_ids=item_ids,
                     offline=offline)
    [outcome] = ledger.record_terminal_events(terminal, [item])
    return outcome


def gate_pass(
    ledger: Ledger,
    terminal: str,
    event_id: str,
    *,
    card: str | None = None,
    child_id: str | None = None,
    direction: str = "in",
    method: str = "card",
    authorized_by: str | None = None,
    at: datetime | None = None,
) -> ItemOutcome:
    item = TerminalItem(
        event_id=event_id, kind="gate_pass", at=at or _local(SCHOOL_DAY, 8),
        identifier=IdentifierRef("card", card) if card is not None else None,
        child_id=child_id if card is None else None,
        direction=direction, method=method, authorized_by=authorized_by)  # type: ignore[arg-type]
    [outcome] = ledger.record_terminal_events(terminal, [item])
    return outcome


def paid(amount_kzt: int) -> OfflineDecision:
    return OfflineDecision("paid", amount_kzt)


FUNDED_OFFLINE = OfflineDecision("funded")


def notifications(ledger: Ledger) -> int:
    """How many events the store holds: a command that writes nothing leaves it unchanged."""
    return int(ledger.recorder.max_notification_id() or 0)


def load_child(ledger: Ledger, child_id: str) -> Child:
    child = ledger.load(Child, stable_id("child", child_id))
    assert child is not None, f"child {child_id!r} is not in the ledger"
    return child  # type: ignore[no-any-return]


def load_school(ledger: Ledger, school_id: str = "s1") -> School:
    school = ledger.load(School, stable_id("school", school_id))
    assert school is not None, f"school {school_id!r} is not in the ledger"
    return school  # type: ignore[no-any-return]


def balance(ledger: Ledger, child_id: str) -> int:
    wallet = ledger.load(Wallet, stable_id("wallet", child_id))
    return 0 if wallet is None else int(wallet.balance_kzt)


def stored_events(ledger: Ledger, page: int = 5_000) -> Iterator[tuple[str, bytes]]:
    """(topic, state) of every event in the notification log, in order."""
    start = 1
    while True:
        rows = ledger.recorder.select_notifications(start, page)
        for row in rows:
            yield row.topic, row.state
        if len(rows) < page:
            return
        start = rows[-1].id + 1
