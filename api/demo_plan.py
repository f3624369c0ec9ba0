"""The demo's plan: who is in which school, decided by the seed alone (pure; no ledger).

The seed school copies the report in DOMAIN.md: 611 pupils = 23 preschool + 256 in grades
1-4 (every voucher activated; 2 of them home-schooled) + 332 in grades 5-11, of whom 47 are
eligible by a social category: 38 with an activated voucher (one of them activated
mid-month), 8 never assigned one, and 1 whose parents refused palm scanning. That child uses
a card and has a voucher that was assigned but never activated: the report counts 38
activated, so the 47th is on the list (planned) but not paid for. The other schools
(100-900 pupils) follow the same rules with random proportions.

Every choice comes from `random.Random` seeded with a string built from the seed, so a seed
always gives the same plan (string seeds do not depend on PYTHONHASHSEED).
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from ledger.dates import month_bounds, parse_month, school_year_of

Voucher = Literal["active", "late", "assigned", "none"]

REGION_ID = "almaty-region"
REGION_NAME = "Almaty region (demo)"
DISTRICTS = ("Medeu", "Bostandyq", "Auezov", "Almaly")
SCHOOL_DAYS = 18
EXTRA_SCHOOLS_MAX = 20
SCHOOL_PUPILS_MIN, SCHOOL_PUPILS_MAX = 100, 900
CLASS_SIZE_MAX = 30
RATE_CHANGE = ("primary", 600)  # primary 585 -> 600 from the 10th school day
RATE_CHANGE_DAY_INDEX = 9
LATE_ACTIVATION_DAY_INDEX = 7
LOST_CARD_DAY_INDEXES = (4, 12)  # the seed school's two lost cards
# Eligible categories of the region; "divorced_parents" is deliberately not among them.
SENIOR_CATEGORIES = ("large_family", "incomplete_family", "dysfunctional_family",
                     "low_income", "disability", "guardianship", "targeted_social_assistance",
                     "home_schooled")
CATEGORY_WEIGHTS = (30, 20, 6, 25, 8, 4, 7, 0)
# Kazakhstan's fixed-date public holidays (month, day); one on a weekend moves to Monday.
HOLIDAYS = ((1, 1), (1, 2), (1, 7), (3, 8), (3, 21), (3, 22), (3, 23), (5, 1), (5, 7), (5, 9),
            (7, 6), (8, 30), (10, 25), (12, 16))
GRADE_SHIFT = {0: 1, 1: 1, 2: 2, 3: 2, 4: 1, 5: 1, 6: 2, 7: 2, 8: 2, 9: 1, 10: 1, 11: 1}
CARD_SHARE = 0.14  # parents who refuse biometrics (the report: 219 of 256 on palm)
FIRST_NAMES = ("Aruzhan", "Alikhan", "Amina", "Ayaulym", "Nursultan", "Dias", "Aisha",
               "Yerassyl", "Madina", "Temirlan", "Zhansaya", "Arman", "Dana", "Sultan",
               "Inkar", "Bekzat", "Kamila", "Nurlan", "Aigerim", "Damir", "Sofia", "Timur")
LAST_NAMES = ("Akhmetov", "Bekova", "Zhaksylykov", "Omarova", "Nurpeisov", "Sadykova",
              "Tokayev", "Iskakova", "Mukanov", "Seitkali", "Abenova", "Kassymov", "Ivanova",
              "Kim", "Tulegenov", "Zhumabayeva", "Serikbayev", "Utepova")
STAFF_ROLES = (("director", "director"), ("deputy", "deputy"), ("accountant", "accountant"),
               ("social-pedagogue", "social_pedagogue"), ("nurse", "nurse"),
               ("guard1", "guard"), ("guard2", "guard"), ("cook1", "canteen"))


@dataclass(frozen=True, slots=True)
class Pupil:
    child_id: str
    first_name: str
    last_name: str
    grade: int
    class_name: str
    shift: int
    ident: Literal["palm", "card"]
    token: str
    category: str | None
    voucher: Voucher
    home_schooled: bool
    pays: bool  # parents top up a balance for bought meals
    absent_p: float
    eat_p: float
    allergens: tuple[str, ...]
    gate: int  # which gate the child uses


@dataclass(frozen=True, slots=True)
class SchoolPlan:
    school_id: str
    name: str
    district: str
    shifts: tuple[int, ...]
    pupils: tuple[Pupil, ...]
    staff: tuple[tuple[str, str], ...]  # (staff_id, role)
    gates: tuple[str, ...]
    canteen: str

    def teacher_of(self, class_name: str) -> str:
        return f"{self.school_id}-t-{class_name}"


@dataclass(frozen=True, slots=True)
class DemoPlan:
    seed: int
    month: str
    time_zone: str
    days: tuple[date, ...]
    school_year: str
    year_start: date  # enrolment, consents and most voucher activations
    schools: tuple[SchoolPlan, ...]

    @property
    def seed_school(self) -> SchoolPlan:
        return self.schools[0]

    @property
    def rate_change_from(self) -> date:
        return self.days[RATE_CHANGE_DAY_INDEX]

    @property
    def late_activation_on(self) -> date:
        return self.days[LATE_ACTIVATION_DAY_INDEX]


def previous_month(today: date) -> str:
    first = today.replace(day=1) - timedelta(days=1)
    return f"{first.year:04d}-{first.month:02d}"


def default_month(time_zone: str = "Asia/Almaty") -> str:
    """The calendar month before today's, in the school's time zone."""
    return previous_month(datetime.now(ZoneInfo(time_zone)).date())


def holidays(month: str) -> set[date]:
    """Public holidays falling in `month`, with weekend holidays moved to the next weekday."""
    first, nxt = month_bounds(month)
    result: set[date] = set()
    for year in (first.year - 1, first.year):
        for mon, day in HOLIDAYS:
            when = date(year, mon, day)
            while when.weekday() >= 5 or when in result:
                when += timedelta(days=1)
            if first <= when < nxt:
                result.add(when)
    return result


def school_days(month: str, count: int = SCHOOL_DAYS) -> tuple[date, ...]:
    """`count` school days: the month's weekdays minus public holidays; what is left over at
    the month's end is the school break; a short month works Saturdays (as KZ transfers do)."""
    first, nxt = month_bounds(parse_month("month", month))
    all_days = [first + timedelta(days=i) for i in range((nxt - first).days)]
    off = holidays(month)
    days = [d for d in all_days if d.weekday() < 5 and d not in off][:count]
    saturdays = [d for d in all_days if d.weekday() == 5 and d not in off]
    days += saturdays[:max(0, count - len(days))]
    if len(days) < count:
        raise ValueError(f"{month} cannot hold {count} school days")
    return tuple(sorted(days))


def token(seed: int, *parts: str) -> str:
    return hashlib.sha256("/".join((str(seed), *parts)).encode()).hexdigest()[:20]


def _classes(counts: dict[int, int]) -> list[tuple[int, str]]:
    """(grade, class name) for every pupil, classes of at most CLASS_SIZE_MAX."""
    result = []
    for grade, count in sorted(counts.items()):
        n_classes = -(-count // CLASS_SIZE_MAX)
        for i in range(count):
            result.append((grade, f"{grade}{'ABCDEFGHJK'[i % n_classes]}"))
    return result


def _spread(total: int, grades: range) -> dict[int, int]:
    base, extra = divmod(total, len(grades))
    return {g: base + (i < extra) for i, g in enumerate(grades)}


Role = tuple[str | None, Voucher, bool, bool]  # category, voucher, home-schooled, refuses palm


def _roles(rng: random.Random, grades: list[int], eligible: list[str],
           primary_vouchers: list[Voucher], home_schooled: int) -> list[Role]:
    """A role for each pupil; `eligible` holds a voucher state per eligible senior, or
    "refused" for a voucher assigned, never activated, and a card instead of a palm."""
    roles: list[Role] = [(None, "none", False, False)] * len(grades)
    seniors = [i for i, g in enumerate(grades) if g >= 5]
    primary = [i for i, g in enumerate(grades) if 1 <= g <= 4]
    chosen = rng.sample(seniors, len(eligible))
    for i, state in zip(chosen, eligible, strict=True):
        category = rng.choices(SENIOR_CATEGORIES, CATEGORY_WEIGHTS)[0]
        voucher: Voucher = "assigned" if state == "refused" else state  # type: ignore[assignment]
        roles[i] = (category, voucher, False, state == "refused")
    taken = set(chosen)
    others = [i for i in seniors if i not in taken]
    for i in rng.sample(others, min(3, len(others))):
        roles[i] = ("divorced_parents", "none", False, False)  # a category, not an eligible one
    home = set(rng.sample(primary, home_schooled))
    for i, voucher in zip(primary, primary_vouchers, strict=True):
        roles[i] = ("home_schooled" if i in home else None, voucher, i in home, False)
    return roles


def _pays_p(grade: int, role: Role) -> float:
    category, voucher, home, refuses = role
    if home:
        return 0.0
    if refuses:
        return 1.0
    if voucher in ("active", "late"):
        return 0.15  # extras beside the free meal
    if grade == 0:
        return 0.6
    return 0.5 if category in SENIOR_CATEGORIES else 0.35


def _eat_p(rng: random.Random, grade: int, voucher: Voucher) -> float:
    """How often a present child eats: tuned so primary lands near the report's 52 %."""
    if voucher in ("active", "late") and grade <= 4:
        return 0.1 if rng.random() < 0.2 else rng.uniform(0.55, 0.92)
    if voucher in ("active", "late"):
        return rng.uniform(0.2, 0.6)
    return rng.uniform(0.3, 0.7)


def _pupil(rng: random.Random, seed: int, school_id: str, n: int, grade: int, class_name: str,
           role: Role, shifts: tuple[int, ...], gates: int) -> Pupil:
    category, voucher, home, refuses = role
    child_id = f"{school_id}-c{n:04d}"
    ident: Literal["palm", "card"] = "card" if refuses or rng.random() < CARD_SHARE else "palm"
    allergens: tuple[str, ...] = ()
    if rng.random() < 0.06:
        allergens = tuple(sorted(rng.sample(("gluten", "nuts", "lactose", "honey"),
                                            rng.randint(1, 2))))
    return Pupil(child_id, rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES), grade, class_name,
                 GRADE_SHIFT[grade] if 2 in shifts else 1, ident,
                 f"{ident}-{token(seed, child_id, ident)}", category, voucher, home,
                 rng.random() < _pays_p(grade, role), rng.uniform(0.05, 0.15),
                 _eat_p(rng, grade, voucher), allergens, rng.randrange(gates))


def _school(rng: random.Random, seed: int, no: int, counts: dict[int, int],
            eligible: list[str], primary_vouchers: list[Voucher], home: int) -> SchoolPlan:
    school_id = f"demo{seed}-{no:02d}"
    shifts = (1, 2) if sum(counts.values()) > 300 else (1,)
    gates = 2 if sum(counts.values()) > 500 else 1
    classes = _classes(counts)
    roles = _roles(rng, [g for g, _ in classes], eligible, primary_vouchers, home)
    pupils = tuple(_pupil(rng, seed, school_id, n + 1, grade, class_name, roles[n], shifts, gates)
                   for n, (grade, class_name) in enumerate(classes))
    names = sorted({p.class_name for p in pupils}, key=lambda c: (int(c[:-1]), c[-1]))
    staff = tuple((f"{school_id}-{suffix}", role) for suffix, role in STAFF_ROLES) + tuple(
        (f"{school_id}-t-{c}", "teacher") for c in names)
    return SchoolPlan(school_id, f"School No. {rng.randint(1, 199)}",
                      DISTRICTS[(no - 1) % len(DISTRICTS)], shifts, pupils, staff,
                      tuple(f"{school_id}-gate{g + 1}" for g in range(gates)),
                      f"{school_id}-canteen1")


def seed_school(rng: random.Random, seed: int) -> SchoolPlan:
    """The school of the report: the exact counts of DOMAIN.md."""
    counts = {0: 23, **_spread(256, range(1, 5)), **_spread(332, range(5, 12))}
    eligible = ["active"] * 37 + ["late"] + ["none"] * 8 + ["refused"]
    return _school(rng, seed, 1, counts, eligible, ["active"] * 256, home=2)


def other_school(rng: random.Random, seed: int, no: int) -> SchoolPlan:
    size = rng.randint(SCHOOL_PUPILS_MIN, SCHOOL_PUPILS_MAX)
    pre, primary = round(size * rng.uniform(0.02, 0.06)), round(size * rng.uniform(0.38, 0.46))
    senior = size - pre - primary
    counts = {0: pre, **_spread(primary, range(1, 5)), **_spread(senior, range(5, 12))}
    eligible = [rng.choices(("active", "none", "assigned"), (82, 10, 8))[0]
                               for _ in range(round(senior * rng.uniform(0.1, 0.18)))]
    vouchers: list[Voucher] = ["active" if rng.random() < 0.97 else "assigned"
                               for _ in range(primary)]
    home = sum(rng.random() < 0.004 for _ in range(primary))
    return _school(rng, seed, no, counts, eligible, vouchers, home)


def plan_demo(seed: int, extra_schools: int, month: str,
              time_zone: str = "Asia/Almaty") -> DemoPlan:
    if not 0 <= extra_schools <= EXTRA_SCHOOLS_MAX:
        raise ValueError(f"--schools must be 0 to {EXTRA_SCHOOLS_MAX}, got {extra_schools}")
    days = school_days(month)
    year = school_year_of(days[0])
    rng = random.Random(f"tamaq-demo/{seed}/population")
    schools = [seed_school(rng, seed)]
    schools += [other_school(rng, seed, no) for no in range(2, extra_schools + 2)]
    return DemoPlan(seed, month, time_zone, days, year, date(int(year[:4]), 9, 1), tuple(schools))
