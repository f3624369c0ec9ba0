"""Use cases that set a school up: regions, schools, rates, calendar, eligibility, menus,
staff and terminals. Setting the same values again records nothing."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from ledger import limits
from ledger.base import stable_id
from ledger.dates import BANDS, month_bounds, parse_month
from ledger.errors import InvalidInput, NotFound
from ledger.school import (
    CATEGORIES,
    DEFAULT_RATES_KZT,
    RATES_FROM,
    Eligibility,
    Menu,
    MenuItem,
    Rate,
    Region,
    School,
    Staff,
    Terminal,
    TerminalKind,
    VoucherRequired,
)
from ledger.unit import Unit

STAFF_ROLES = ("director", "deputy", "accountant", "teacher", "social_pedagogue", "guard",
               "canteen", "nurse", "other")


def check_categories(categories: Iterable[str]) -> tuple[str, ...]:
    result = tuple(sorted(set(categories)))
    if len(result) > limits.CATEGORIES_MAX:
        raise InvalidInput("senior_categories", f"at most {limits.CATEGORIES_MAX}")
    unknown = [c for c in result if c not in CATEGORIES]
    if unknown:
        raise InvalidInput("category", f"unknown {unknown}; known: {', '.join(CATEGORIES)}")
    return result


class SetupCases:
    def run(self, command):  # type: ignore[no-untyped-def]  # provided by LedgerApplication
        raise NotImplementedError

    def school(self, unit: Unit, school_id: str) -> School:
        school = unit.get(School, stable_id("school", school_id))
        if school is None:
            raise NotFound("school", school_id)
        return school

    def register_region(self, region_id: str, name: str) -> bool:
        limits.check_id("region_id", region_id)
        limits.check_text("name", name)

        def command(unit: Unit) -> bool:
            region = unit.get(Region, stable_id("region", region_id))
            if region is None:
                unit.create(Region, stable_id("region", region_id), region_id=region_id, name=name)
                return True
            if region.name != name:
                unit.trigger(region, Region.Renamed, name=name)
            return False

        return self.run(command)

    def register_school(
        self, school_id: str, *, name: str, region_id: str, district: str,
        shifts: tuple[int, ...] = (1,), operator: str | None = None,
        overdraft_limit_kzt: int = 0,
    ) -> bool:
        limits.check_id("school_id", school_id)
        limits.check_id("region_id", region_id)
        limits.check_text("name", name)
        limits.check_text("district", district)
        if operator is not None:
            limits.check_text("operator", operator)
        shifts = tuple(sorted(set(shifts)))
        if not shifts or len(shifts) > limits.SHIFTS_MAX:
            raise InvalidInput("shifts", "name 1 to 3 shifts, e.g. [1, 2]")
        for shift in shifts:
            limits.check_shift(shift)
        limits.check_kzt("overdraft_limit_kzt", overdraft_limit_kzt, low=0,
                         high=limits.OVERDRAFT_KZT_MAX)
        details = dict(name=name, region_id=region_id, district=district, shifts=shifts,
                       operator=operator, overdraft_limit_kzt=overdraft_limit_kzt)

        def command(unit: Unit) -> bool:
            if unit.get(Region, stable_id("region", region_id)) is None:
                raise NotFound("region", region_id)
            sid = stable_id("school", school_id)
            school = unit.get(School, sid)
            if school is None:
                rates = tuple(Rate(band, amount, RATES_FROM)
                              for band, amount in DEFAULT_RATES_KZT.items())
                eligibility = Eligibility(CATEGORIES, VoucherRequired(), RATES_FROM)
                unit.create(School, sid, school_id=school_id, rates=rates,
                            eligibility=eligibility, **details)
                return True
            current = dict(name=school.name, region_id=school.region_id,
                           district=school.district, shifts=school.shifts,
                           operator=school.operator,
                           overdraft_limit_kzt=school.overdraft_limit_kzt)
            if current != details:
                unit.trigger(school, School.DetailsChanged, **details)
            return False

        return self.run(command)

    def set_rate(self, school_id: str, band: str, amount_kzt: int, effective_from: date,
                 set_by: str = "admin") -> bool:
        if band not in BANDS:
            raise InvalidInput("band", f"must be one of {', '.join(BANDS)}")
        limits.check_kzt("amount_kzt", amount_kzt, low=0, high=limits.RATE_KZT_MAX)
        limits.check_date("effective_from", effective_from)
        rate = Rate(band, amount_kzt, effective_from)  # type: ignore[arg-type]

        def command(unit: Unit) -> bool:
            school = self.school(unit, school_id)
            if school.rates and school.rates[-1] == rate:
                return False
            unit.trigger(school, School.RateSet, rate=rate, set_by=set_by)
            return True

        return self.run(command)

    def set_calendar(self, school_id: str, month: str, school_days: Iterable[date]) -> bool:
        parse_month("month", month)
        days = tuple(sorted(set(school_days)))
        first, nxt = month_bounds(month)
        for day in days:
            limits.check_date("school_days", day)
            if not first <= day < nxt:
                raise InvalidInput("school_days", f"{day} is not in {month}")

        def command(unit: Unit) -> bool:
            school = self.school(unit, school_id)
            if school.calendar.get(month) == frozenset(days):
                return False
            unit.trigger(school, School.CalendarSet, month=month, school_days=days)
            return True

        return self.run(command)

    def set_eligibility(self, school_id: str, senior_categories: Iterable[str],
                        voucher_required: VoucherRequired, effective_from: date) -> bool:
        eligibility = Eligibility(check_categories(senior_categories), voucher_required,
                                  limits.check_date("effective_from", effective_from))

        def command(unit: Unit) -> bool:
            school = self.school(unit, school_id)
            current = school.eligibility_on(effective_from)
            if (current.senior_categories, current.voucher_required) == (
                    eligibility.senior_categories, eligibility.voucher_required):
                return False
            unit.trigger(school, School.EligibilitySet, eligibility=eligibility)
            return True

        return self.run(command)

    def set_menu(self, school_id: str, day: date, items: Iterable[MenuItem]) -> bool:
        limits.check_date("date", day)
        menu_items = tuple(items)
        if len(menu_items) > limits.MENU_ITEMS_MAX:
            raise InvalidInput("items", f"at most {limits.MENU_ITEMS_MAX} items a day")
        seen: set[str] = set()
        for item in menu_items:
            limits.check_id("item_id", item.item_id)
            limits.check_text("name", item.name)
            limits.check_kzt("price_kzt", item.price_kzt, low=0, high=limits.PRICE_KZT_MAX)
            if item.item_id in seen:
                raise InvalidInput("item_id", f"{item.item_id!r} appears twice")
            seen.add(item.item_id)
        if sum(item.free_meal for item in menu_items) > 1:
            raise InvalidInput("free_meal", "at most one item a day is the free meal")

        def command(unit: Unit) -> bool:
            self.school(unit, school_id)
            mid = stable_id("menu", school_id, day.isoformat())
            menu = unit.get(Menu, mid)
            if menu is None:
                unit.create(Menu, mid, school_id=school_id, day=day, items=menu_items)
                return True
            if tuple(menu.items.values()) == menu_items:
                return False
            unit.trigger(menu, Menu.MenuSet, school_id=school_id, day=day, items=menu_items)
            return True

        return self.run(command)

    def register_staff(self, school_id: str, staff_id: str, role: str) -> bool:
        limits.check_id("staff_id", staff_id)
        if role not in STAFF_ROLES:
            raise InvalidInput("role", f"must be one of {', '.join(STAFF_ROLES)}")
        return self._register_once(Staff, "staff", staff_id, school_id,
                                   dict(staff_id=staff_id, school_id=school_id, role=role))

    def register_terminal(self, terminal_id: str, school_id: str, kind: TerminalKind) -> bool:
        limits.check_id("terminal_id", terminal_id)
        if kind not in ("gate", "canteen"):
            raise InvalidInput("kind", "must be gate or canteen")
        return self._register_once(Terminal, "terminal", terminal_id, school_id,
                                   dict(terminal_id=terminal_id, school_id=school_id, kind=kind))

    def _register_once(self, cls: type, kind: str, ident: str, school_id: str,
                       fields: dict[str, object]) -> bool:
        from ledger.errors import IdempotencyConflict

        def command(unit: Unit) -> bool:
            self.school(unit, school_id)
            existing = unit.get(cls, stable_id(kind, ident))
            if existing is None:
                unit.create(cls, stable_id(kind, ident), **fields)
                return True
            if any(getattr(existing, key) != value for key, value in fields.items()):
                raise IdempotencyConflict(f"{kind} {ident!r} is already registered differently")
            return False

        return self.run(command)
