"""Regions, schools (rates, calendar, eligibility), daily menus, staff and terminals."""

from __future__ import annotations

from datetime import date
from typing import Literal, NamedTuple

import msgspec

from ledger.base import Aggregate, Event
from ledger.dates import Band, school_year_of

TerminalKind = Literal["gate", "canteen"]

# Which social categories a school may name (stable codes; DOMAIN.md, the 2025-2026 report).
CATEGORIES: tuple[str, ...] = (
    "large_family",
    "incomplete_family",
    "dysfunctional_family",
    "divorced_parents",
    "low_income",
    "home_schooled",
    "disability",
    "guardianship",
    "targeted_social_assistance",
)

# A new installation starts with these rates (DOMAIN.md); they are data in every school's
# registration event, never read from code again.
DEFAULT_RATES_KZT: dict[Band, int] = {"primary": 585, "senior": 710}
RATES_FROM = date(2015, 1, 1)


class Rate(msgspec.Struct, frozen=True):
    band: Band
    amount_kzt: int
    effective_from: date


class VoucherRequired(msgspec.Struct, frozen=True):
    primary: bool = True
    senior: bool = True
    preschool: bool = False

    def for_band(self, band: Band) -> bool:
        return bool(getattr(self, band))


class Eligibility(msgspec.Struct, frozen=True):
    senior_categories: tuple[str, ...]
    voucher_required: VoucherRequired
    effective_from: date


class MenuItem(msgspec.Struct, frozen=True):
    item_id: str
    name: str
    price_kzt: int
    allergens: tuple[str, ...] = ()
    free_meal: bool = False
    photo_url: str | None = None


class SchoolDayFacts(NamedTuple):
    """A school's rules for one day (`School.day_facts`)."""

    is_school_day: bool
    rates: dict[str, int | None]  # by band; None: no rate in force
    senior_categories: frozenset[str]
    voucher_required: VoucherRequired
    school_year: str


class Region(Aggregate):
    class Registered(Event, frozen=True, kw_only=True):
        region_id: str
        name: str

        def apply(self, region: Region) -> None:
            region.region_id = self.region_id
            region.name = self.name

    class Renamed(Event, frozen=True, kw_only=True):
        name: str

        def apply(self, region: Region) -> None:
            region.name = self.name

    Created = Registered
    region_id: str
    name: str


class School(Aggregate):
    class Registered(Event, frozen=True, kw_only=True):
        school_id: str
        name: str
        region_id: str
        district: str
        shifts: tuple[int, ...]
        operator: str | None
        overdraft_limit_kzt: int
        rates: tuple[Rate, ...]
        eligibility: Eligibility

        def apply(self, school: School) -> None:
            school.school_id = self.school_id
            school.rates = list(self.rates)
            school.calendar = {}
            school.eligibility = [self.eligibility]
            school.set_details(self)

    class DetailsChanged(Event, frozen=True, kw_only=True):
        name: str
        region_id: str
        district: str
        shifts: tuple[int, ...]
        operator: str | None
        overdraft_limit_kzt: int

        def apply(self, school: School) -> None:
            school.set_details(self)

    class RateSet(Event, frozen=True, kw_only=True):
        rate: Rate
        set_by: str

        def apply(self, school: School) -> None:
            school.rates.append(self.rate)

    class CalendarSet(Event, frozen=True, kw_only=True):
        month: str
        school_days: tuple[date, ...]

        def apply(self, school: School) -> None:
            school.calendar[self.month] = frozenset(self.school_days)

    class EligibilitySet(Event, frozen=True, kw_only=True):
        eligibility: Eligibility

        def apply(self, school: School) -> None:
            school.eligibility.append(self.eligibility)

    Created = Registered
    school_id: str
    name: str
    region_id: str
    district: str
    shifts: tuple[int, ...]
    operator: str | None
    overdraft_limit_kzt: int
    rates: list[Rate]
    calendar: dict[str, frozenset[date]]
    eligibility: list[Eligibility]

    def set_details(self, e: Registered | DetailsChanged) -> None:
        self.name, self.region_id, self.district = e.name, e.region_id, e.district
        self.shifts, self.operator = e.shifts, e.operator
        self.overdraft_limit_kzt = e.overdraft_limit_kzt

    def mutate(self, event: Event) -> None:
        super().mutate(event)
        self._days: dict[date, SchoolDayFacts] = {}  # an event may change a day's facts

    def day_facts(self, day: date) -> SchoolDayFacts:
        """What the rules ask of this school on a day, worked out once per day and state:
        a sync decides thousands of meals on a handful of days."""
        days: dict[date, SchoolDayFacts] | None = self.__dict__.get("_days")
        if days is None:
            days = self._days = {}
        facts = days.get(day)
        if facts is None:
            eligibility = self.eligibility_on(day)
            facts = days[day] = SchoolDayFacts(
                self.is_school_day(day),
                {band: self.rate_on(band, day) for band in ("preschool", "primary", "senior")},
                frozenset(eligibility.senior_categories),
                eligibility.voucher_required,
                school_year_of(day),
            )
        return facts

    def rate_on(self, band: Band, day: date) -> int | None:
        """The band's rate in force on a day: the latest effective date wins; a later
        setting for the same effective date corrects an earlier one."""
        best: Rate | None = None
        for rate in self.rates:
            if rate.band == band and rate.effective_from <= day:
                if best is None or rate.effective_from >= best.effective_from:
                    best = rate
        return best.amount_kzt if best else None

    def is_school_day(self, day: date) -> bool:
        return day in self.calendar.get(f"{day.year:04d}-{day.month:02d}", frozenset())

    def eligibility_on(self, day: date) -> Eligibility:
        best = self.eligibility[0]
        for item in self.eligibility:
            if item.effective_from <= day and item.effective_from >= best.effective_from:
                best = item
        return best


class Menu(Aggregate):
    class MenuSet(Event, frozen=True, kw_only=True):
        school_id: str
        day: date
        items: tuple[MenuItem, ...]

        def apply(self, menu: Menu) -> None:
            menu.school_id, menu.day = self.school_id, self.day
            menu.items = {item.item_id: item for item in self.items}

    Created = MenuSet
    school_id: str
    day: date
    items: dict[str, MenuItem]

    def mutate(self, event: Event) -> None:
        super().mutate(event)
        self._free: MenuItem | None = next((item for item in self.items.values() if item.free_meal), None)

    def free_item(self) -> MenuItem | None:
        """The first item that is a free meal (worked out once per state)."""
        return self._free


class Staff(Aggregate):
    class Registered(Event, frozen=True, kw_only=True):
        staff_id: str
        school_id: str
        role: str

        def apply(self, staff: Staff) -> None:
            staff.staff_id, staff.school_id, staff.role = self.staff_id, self.school_id, self.role

    Created = Registered
    staff_id: str
    school_id: str
    role: str


class Terminal(Aggregate):
    class Registered(Event, frozen=True, kw_only=True):
        terminal_id: str
        school_id: str
        kind: TerminalKind

        def apply(self, terminal: Terminal) -> None:
            terminal.terminal_id = self.terminal_id
            terminal.school_id, terminal.kind = self.school_id, self.kind

    Created = Registered
    terminal_id: str
    school_id: str
    kind: TerminalKind
