"""`tamaq demo`: a realistic region made through the Ledger's public use cases only.

The plan (who is where) comes from `api.demo_plan`; this module sets the schools up, enrols
the pupils and plays one month day by day: gate passes and meals with absences, missed
scans, two lost cards (a manual pass by the class teacher, then a new card), a palm reader
that fails now and then, top-ups and bought meals, one double scan refused, the primary rate
change 585 -> 600 from the 10th school day and one voucher activated mid-month.

Everything is derived from the seed (fixed local instants, ids that embed the seed), and
every id is an idempotency key: the same seed on a fresh store gives the same figures, and
running it again on the same store records nothing new. One month per seed and store: another
month of the same seed would re-date the late activation and is refused as a conflict.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from zoneinfo import ZoneInfo

import msgspec

from api.demo_plan import (
    LATE_ACTIVATION_DAY_INDEX,
    LOST_CARD_DAY_INDEXES,
    RATE_CHANGE,
    REGION_ID,
    REGION_NAME,
    SENIOR_CATEGORIES,
    DemoPlan,
    Pupil,
    SchoolPlan,
    plan_demo,
    token,
)
from ledger import limits
from ledger.child import Consent
from ledger.ledger import Ledger
from ledger.scans import IdentifierRef, TerminalItem
from ledger.school import MenuItem, VoucherRequired

Progress = Callable[[str, int, int], None]  # (stage, done, total)
Direction = Literal["in", "out"]
DIRECTIONS: tuple[Direction, Direction] = ("in", "out")
LUNCHES = ("Plov with salad", "Beshbarmak", "Chicken soup, bread", "Buckwheat with cutlets",
           "Manty", "Rice porridge, omelette", "Lagman")
LUNCH_PRICE_KZT = 750
EXTRAS = (MenuItem("bun", "Bun", 150, ("gluten",)), MenuItem("juice", "Apple juice", 200),
          MenuItem("samsa", "Samsa", 250, ("gluten",)), MenuItem("fruit", "Fruit", 120),
          MenuItem("milk", "Milk", 150, ("lactose",)),
          MenuItem("nutbar", "Nut bar", 180, ("nuts",)),
          MenuItem("chakchak", "Chak-chak", 200, ("gluten", "honey")))
TOP_UPS_KZT = (2_000, 3_000, 5_000, 5_000, 10_000)
TOP_UP_BELOW_KZT = 1_000
FORGETS_TOP_UP_P = 0.15
MISSED_IN_P, MISSED_OUT_P = 0.03, 0.06
PALM_FAILS_P = 0.001
DOUBLE_SCAN_P = 0.005
# Local minutes after midnight: (gate in, meal, gate out) windows per shift.
WINDOWS = {1: ((460, 505), (600, 720), (760, 870)), 2: ((790, 830), (900, 980), (1080, 1140))}
STAFF_WINDOWS = ((435, 480), (1020, 1110))


class DemoResult(msgspec.Struct, frozen=True, kw_only=True):
    seed: int
    month: str
    region_id: str
    seed_school_id: str
    schools: int
    pupils: int
    staff: int
    events: int  # events recorded by this run
    items: int  # terminal items sent
    seconds: float


def noop(stage: str, done: int, total: int) -> None:
    """The default progress callback."""


def run_demo(ledger: Ledger, *, seed: int, extra_schools: int, month: str,
             progress: Progress = noop) -> DemoResult:
    """Plan the demo for a seed and load it into `ledger` through its use cases."""
    plan = plan_demo(seed, extra_schools, month, getattr(ledger, "time_zone", "Asia/Almaty"))
    return load_demo(ledger, plan, progress)


ENROL_BATCH = 100


def load_demo(ledger: Ledger, plan: DemoPlan, progress: Progress = noop) -> DemoResult:
    started = time.perf_counter()
    head_before = _head(ledger)
    for n, school in enumerate(plan.schools, 1):
        set_up_school(ledger, plan, school)
        progress("schools", n, len(plan.schools))
    pupils = [(school, p) for school in plan.schools for p in school.pupils]
    for start in range(0, len(pupils), ENROL_BATCH):
        with ledger.batch():  # one transaction per batch of pupils, not four per pupil
            for school, pupil in pupils[start:start + ENROL_BATCH]:
                enrol_pupil(ledger, plan, school, pupil)
        progress("pupils", min(start + ENROL_BATCH, len(pupils)), len(pupils))
    items = Month(ledger, plan).play(progress)
    return DemoResult(
        seed=plan.seed, month=plan.month, region_id=REGION_ID,
        seed_school_id=plan.seed_school.school_id, schools=len(plan.schools),
        pupils=len(pupils), staff=sum(len(s.staff) for s in plan.schools),
        events=_head(ledger) - head_before, items=items,
        seconds=round(time.perf_counter() - started, 1))


def _head(ledger: Ledger) -> int:
    return int(ledger.recorder.max_notification_id() or 0)


# ------------------------------------------------------------------ setup and enrolment


@lru_cache(maxsize=64)
def menu(day: date) -> tuple[MenuItem, ...]:
    lunch = MenuItem("lunch", LUNCHES[day.toordinal() % len(LUNCHES)], LUNCH_PRICE_KZT,
                     free_meal=True)
    start = day.toordinal() % len(EXTRAS)
    return (lunch, *[EXTRAS[(start + i) % len(EXTRAS)] for i in range(4)])


def set_up_school(ledger: Ledger, plan: DemoPlan, school: SchoolPlan) -> None:
    ledger.register_region(REGION_ID, REGION_NAME)
    ledger.register_school(school.school_id, name=school.name, region_id=REGION_ID,
                           district=school.district, shifts=school.shifts,
                           operator="Dastarkhan Catering LLP")
    ledger.set_calendar(school.school_id, plan.month, plan.days)
    ledger.set_eligibility(school.school_id, SENIOR_CATEGORIES, VoucherRequired(),
                           plan.year_start)
    band, amount_kzt = RATE_CHANGE
    ledger.set_rate(school.school_id, band, amount_kzt, plan.rate_change_from,
                    set_by="regional education department")
    for day in plan.days:
        ledger.set_menu(school.school_id, day, menu(day))
    for staff_id, role in school.staff:
        ledger.register_staff(school.school_id, staff_id, role)
        ledger.add_identifier("palm", staff_palm(plan, staff_id), staff_id=staff_id)
    for terminal_id in school.gates:
        ledger.register_terminal(terminal_id, school.school_id, "gate")
    ledger.register_terminal(school.canteen, school.school_id, "canteen")


def staff_palm(plan: DemoPlan, staff_id: str) -> str:
    return f"palm-{token(plan.seed, staff_id, 'palm')}"


def voucher_id(plan: DemoPlan, pupil: Pupil) -> str:
    return f"{pupil.child_id}-v{plan.school_year[:4]}"


def enrol_pupil(ledger: Ledger, plan: DemoPlan, school: SchoolPlan, pupil: Pupil) -> None:
    cid, start = pupil.child_id, plan.year_start
    consent = Consent("parent", f"consent-{cid}", start - timedelta(days=7))
    ledger.enrol_child(school.school_id, cid, first_name=pupil.first_name,
                       last_name=pupil.last_name, iin=None, grade=pupil.grade,
                       class_name=pupil.class_name, shift=pupil.shift, consent=consent,
                       enrolled_on=start)
    if pupil.category is not None:
        ledger.assign_category(cid, pupil.category, start, None, f"cert-{cid}")
    if pupil.home_schooled:
        ledger.record_home_schooling(cid, start, None)
    if pupil.voucher != "none":
        ledger.assign_voucher(cid, voucher_id(plan, pupil), plan.school_year)
    if pupil.voucher == "active":
        ledger.activate_voucher(cid, voucher_id(plan, pupil), start)
    consent_ref = f"bio-{cid}" if pupil.ident == "palm" else None
    ledger.add_identifier(pupil.ident, pupil.token, child_id=cid,
                          biometric_consent_ref=consent_ref)
    if pupil.allergens:
        ledger.set_allergens(cid, list(pupil.allergens), set_by="parent")


# ------------------------------------------------------------------ the month


@dataclass
class Month:
    """Plays the month day by day; what happens between days (activations, top-ups, new
    cards) is recorded before the next day's scans, as it would be in a real school."""

    ledger: Ledger
    plan: DemoPlan
    balances: dict[str, int] = field(default_factory=dict)
    cards: dict[str, str] = field(default_factory=dict)  # child -> card token after a loss
    lost: dict[int, list[Pupil]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.rng = random.Random(f"tamaq-demo/{self.plan.seed}/month")
        self.zone = ZoneInfo(self.plan.time_zone)
        self.midnights: dict[date, datetime] = {}
        school = self.plan.seed_school
        cards = [p for p in school.pupils if p.ident == "card" and not p.home_schooled]
        for index, pupil in zip(LOST_CARD_DAY_INDEXES, self.rng.sample(cards, 2), strict=True):
            self.lost.setdefault(index, []).append(pupil)

    def play(self, progress: Progress) -> int:
        days, sent = self.plan.days, 0
        for i, day in enumerate(days):
            self.morning(i, day)
            scans = sorted(self.day_scans(i, day), key=lambda s: (s[1].at, s[0], s[1].event_id))
            for start in range(0, len(scans), limits.BATCH_ITEMS_MAX):
                self.ledger.record_scans(scans[start:start + limits.BATCH_ITEMS_MAX])
            sent += len(scans)
            self.evening(i, day)
            progress("days", i + 1, len(days))
        self.month_end()
        return sent

    def within(self, day: date, window: tuple[int, int]) -> datetime:
        """A whole-second UTC instant inside a window of local minutes on `day`."""
        midnight = self.midnights.get(day)
        if midnight is None:
            midnight = datetime.combine(day, clock(0), self.zone).astimezone(UTC)
            self.midnights[day] = midnight
        low, high = window
        return midnight + timedelta(seconds=int((low + self.rng.random() * (high - low)) * 60))

    def pupils(self) -> Iterator[tuple[SchoolPlan, Pupil]]:
        for school in self.plan.schools:
            for pupil in school.pupils:
                yield school, pupil

    # -- between days ------------------------------------------------------------------

    def morning(self, i: int, day: date) -> None:
        ledger = self.ledger
        if i == LATE_ACTIVATION_DAY_INDEX:
            for _, pupil in self.pupils():
                if pupil.voucher == "late":
                    ledger.activate_voucher(pupil.child_id, voucher_id(self.plan, pupil), day)
        paid_at = datetime.combine(day - timedelta(days=1), clock(20, 0), self.zone)
        for _, pupil in self.pupils():
            if not pupil.pays or self.balances.get(pupil.child_id, 0) >= TOP_UP_BELOW_KZT:
                continue
            if i > 0 and self.rng.random() < FORGETS_TOP_UP_P:
                continue
            amount_kzt = self.rng.choice(TOP_UPS_KZT)
            ledger.top_up(pupil.child_id, f"{pupil.child_id}-top{day:%m%d}", amount_kzt,
                          paid_at.astimezone(UTC))
            self.balances[pupil.child_id] = self.balances.get(pupil.child_id, 0) + amount_kzt

    def evening(self, i: int, day: date) -> None:
        ledger = self.ledger
        for pupil in self.lost.get(i, []):
            ledger.revoke_identifier("card", self.card(pupil), "lost")
            new = f"card-{token(self.plan.seed, pupil.child_id, 'card', f'{day:%m%d}')}"
            ledger.add_identifier("card", new, child_id=pupil.child_id)
            self.cards[pupil.child_id] = new

    def month_end(self) -> None:
        school = self.plan.seed_school
        for pupil in school.pupils:
            if self.balances.get(pupil.child_id, 0) >= 1_000:
                self.ledger.refund(pupil.child_id, f"{pupil.child_id}-refund{self.plan.month}",
                                   1_000, "parents asked for part of the balance back",
                                   f"{school.school_id}-accountant")
                self.balances[pupil.child_id] -= 1_000
                return

    def card(self, pupil: Pupil) -> str:
        return self.cards.get(pupil.child_id, pupil.token)

    # -- a day's terminal items --------------------------------------------------------

    def day_scans(self, i: int, day: date) -> Iterator[tuple[str, TerminalItem]]:
        lost_today = {p.child_id for p in self.lost.get(i, [])}
        lost_yesterday = {p.child_id: p for p in self.lost.get(i - 1, [])}
        for school in self.plan.schools:
            yield from self.staff_scans(school, day)
            for pupil in school.pupils:
                lost = pupil.child_id in lost_today  # came without the card: present
                if pupil.home_schooled or not lost and self.rng.random() < pupil.absent_p:
                    continue
                if pupil.child_id in lost_yesterday:  # someone tries the old card first
                    yield self.gate(school, pupil, day, "in", suffix="-old",
                                    ident=IdentifierRef("card", pupil.token))
                yield from self.pupil_scans(i, school, pupil, day, lost)

    def staff_scans(self, school: SchoolPlan, day: date) -> Iterator[tuple[str, TerminalItem]]:
        for staff_id, _ in school.staff:
            if self.rng.random() < 0.05:
                continue
            ref = IdentifierRef("palm", staff_palm(self.plan, staff_id))
            for direction, window in zip(DIRECTIONS, STAFF_WINDOWS, strict=True):
                yield school.gates[0], TerminalItem(
                    event_id=f"{staff_id}-{day:%m%d}-{direction}", kind="gate_pass",
                    at=self.within(day, window), identifier=ref, direction=direction,
                    method="palm")

    def pupil_scans(self, i: int, school: SchoolPlan, pupil: Pupil, day: date,
                    lost: bool) -> Iterator[tuple[str, TerminalItem]]:
        (gate_in, lunch, gate_out) = WINDOWS[pupil.shift]
        manual = lost or (pupil.ident == "palm" and self.rng.random() < PALM_FAILS_P)
        if manual or self.rng.random() >= MISSED_IN_P:
            yield self.gate(school, pupil, day, "in", manual=manual, window=gate_in)
        if not lost:
            yield from self.meal(i, school, pupil, day, lunch)
        if manual or self.rng.random() >= MISSED_OUT_P:
            yield self.gate(school, pupil, day, "out", manual=manual, window=gate_out)

    def gate(self, school: SchoolPlan, pupil: Pupil, day: date, direction: Direction, *,
             manual: bool = False, window: tuple[int, int] | None = None, suffix: str = "",
             ident: IdentifierRef | None = None) -> tuple[str, TerminalItem]:
        window = window or WINDOWS[pupil.shift][0]
        at = self.within(day, window)
        event_id = f"{pupil.child_id}-{day:%m%d}-{direction}{suffix}"
        terminal = school.gates[pupil.gate]
        if manual:
            return terminal, TerminalItem(
                event_id=event_id, kind="gate_pass", at=at, child_id=pupil.child_id,
                direction=direction, method="manual",
                authorized_by=school.teacher_of(pupil.class_name))
        ident = ident or IdentifierRef(pupil.ident, self.card(pupil) if pupil.ident == "card"
                                       else pupil.token)
        return terminal, TerminalItem(event_id=event_id, kind="gate_pass", at=at,
                                      identifier=ident, direction=direction,
                                      method=pupil.ident)

    def meal(self, i: int, school: SchoolPlan, pupil: Pupil, day: date,
             window: tuple[int, int]) -> Iterator[tuple[str, TerminalItem]]:
        choice = self.choose(i, pupil, day)
        if choice is None:
            return
        item_ids, cost_kzt = choice
        ref = IdentifierRef(pupil.ident, self.card(pupil) if pupil.ident == "card" else pupil.token)
        at = self.within(day, window)
        event_id = f"{pupil.child_id}-{day:%m%d}-meal"
        yield school.canteen, TerminalItem(event_id=event_id, kind="meal", at=at,
                                           identifier=ref, item_ids=item_ids)
        self.balances[pupil.child_id] = self.balances.get(pupil.child_id, 0) - cost_kzt
        if item_ids is None and self.rng.random() < DOUBLE_SCAN_P:
            yield school.canteen, TerminalItem(event_id=f"{event_id}2", kind="meal",
                                               at=at + timedelta(minutes=2), identifier=ref)

    def choose(self, i: int, pupil: Pupil, day: date) -> tuple[tuple[str, ...] | None, int] | None:
        """What the child takes: None (stays away), or (item ids or None for the free meal,
        the expected charge)."""
        if self.rng.random() >= pupil.eat_p:
            return None
        entitled = pupil.voucher == "active" or (
            pupil.voucher == "late" and i >= LATE_ACTIVATION_DAY_INDEX)
        balance = self.balances.get(pupil.child_id, 0)
        extras = menu(day)[1:]
        if entitled:
            extra = self.rng.choice(extras)
            if pupil.pays and self.rng.random() < 0.3 and balance >= extra.price_kzt:
                return ("lunch", extra.item_id), extra.price_kzt
            return None, 0
        if not pupil.pays:  # without a balance only a child who hopes for a free meal tries
            return (None, 0) if pupil.voucher == "late" and self.rng.random() < 0.5 else None
        wanted: tuple[str, ...] = ("lunch",)
        cost = LUNCH_PRICE_KZT
        if self.rng.random() >= 0.6:  # two extras instead of the lunch
            picked = self.rng.sample(extras, 2)
            wanted, cost = tuple(x.item_id for x in picked), sum(x.price_kzt for x in picked)
        if balance < cost and self.rng.random() >= 0.3:
            return None  # knows the balance is short; a few try anyway and are refused
        return wanted, cost
