"""For random histories written through the ledger's use cases, every read model equals a plain
reference fold over the same events: a few lines of obvious Python per figure, reading the
notification log, with aggregates rebuilt at the end (the read models reflect the final state
of each child and school, so the reference does too)."""

from __future__ import annotations

import tempfile
from collections import defaultdict
from datetime import date
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ledger_fixtures import at, consent, weekdays
from projection_fixtures import dump_tables, logged_events, make_runner

from ledger.base import projector, stable_id
from ledger.child import Child, Wallet
from ledger.dates import band_of, month_of, school_year_of
from ledger.errors import LedgerError
from ledger.ledger import Ledger
from ledger.records import Month, TerminalEvent
from ledger.rules import OfflineDecision, entitled, on_list
from ledger.scans import TerminalItem
from ledger.school import MenuItem, School, VoucherRequired
from ledger.store import close_ledger, open_ledger
from projections import closing, outbox, queries, reports
from projections.lists import child_days
from projections.runner import Runner

SCHOOLS = ("s1", "s2")
DISTRICTS = {"s1": "North", "s2": "South"}
CHILDREN = ("c0", "c1", "c2", "c3")
MONTHS = ("2025-10", "2025-11")
DAYS = weekdays("2025-10")[:5] + weekdays("2025-11")[:5]
SEPT = date(2025, 9, 1)
CATEGORIES = ("large_family", "low_income", "disability")
MENU = (MenuItem("lunch", "Lunch", 700, free_meal=True), MenuItem("juice", "Juice", 200))
YEAR = "2025-2026"
AFTER_ALL = date(2025, 12, 1)

day_st = st.sampled_from(DAYS)
from_st = st.one_of(st.just(SEPT), day_st)
until_st = st.one_of(st.none(), day_st)
child_st = st.sampled_from(CHILDREN)
school_st = st.sampled_from(SCHOOLS)
grade_st = st.sampled_from((0, 2, 4, 6, 10))
scan_school_st = st.sampled_from(("own", "own", "own", "s1", "s2"))  # own: the child's school

MEAL_OP = st.tuples(st.just("meal"), scan_school_st, child_st, day_st, st.integers(9, 14),
                        st.sampled_from((None, ("lunch",), ("juice",), ("lunch", "juice"))),
                        st.sampled_from((None, "funded", "paid")))
PASS_OP = st.tuples(st.just("pass"), scan_school_st, child_st, day_st, st.integers(7, 16),
                        st.sampled_from(("in", "out")), st.booleans())
OPS = st.one_of(
    MEAL_OP, MEAL_OP, MEAL_OP, MEAL_OP, PASS_OP, PASS_OP,
    st.tuples(st.just("calendar"), school_st, st.sampled_from(MONTHS),
              st.frozensets(st.integers(0, 4), max_size=5)),
    st.tuples(st.just("rate"), school_st, st.sampled_from(("primary", "senior", "preschool")),
              st.sampled_from((0, 600, 650, 800)), from_st),
    st.tuples(st.just("eligibility"), school_st, st.frozensets(st.sampled_from(CATEGORIES)),
              st.booleans(), st.booleans(), from_st),
    st.tuples(st.just("enrol"), child_st, school_st, grade_st, from_st),
    st.tuples(st.just("category"), child_st, st.sampled_from(CATEGORIES), from_st, until_st),
    st.tuples(st.just("home"), child_st, from_st, until_st),
    st.tuples(st.just("voucher"), child_st, st.sampled_from(("a", "b"))),
    st.tuples(st.just("activate"), child_st, st.sampled_from(("a", "b")), from_st),
    st.tuples(st.just("revoke_voucher"), child_st, st.sampled_from(("a", "b")), day_st),
    st.tuples(st.just("placement"), child_st, school_st, grade_st, day_st),
    st.tuples(st.just("leave"), child_st, day_st),
    st.tuples(st.just("withdraw"), child_st, day_st),
    st.tuples(st.just("topup"), child_st, st.sampled_from((200, 500, 1000))),
    st.tuples(st.just("refund"), child_st, st.sampled_from((100, 300))),
    st.tuples(st.just("void"), st.integers(0, 50)),
    st.tuples(st.just("close"), school_st, st.sampled_from(MONTHS)),
    st.tuples(st.just("project")),
)


def set_up(ledger: Ledger) -> None:
    ledger.register_region("r1", "Region")
    for school_id in SCHOOLS:
        ledger.register_school(school_id, name=school_id, region_id="r1",
                               district=DISTRICTS[school_id])
        ledger.register_terminal(f"{school_id}-canteen", school_id, "canteen")
        ledger.register_terminal(f"{school_id}-gate", school_id, "gate")
        ledger.register_staff(school_id, f"{school_id}-guard", "guard")
        for day in DAYS:
            ledger.set_menu(school_id, day, MENU)
        for month in MONTHS:
            ledger.set_calendar(school_id, month, [d for d in DAYS if month_of(d) == month])
    for child_id, school_id, grade in (("c0", "s1", 2), ("c1", "s2", 6), ("c2", "s1", 10)):
        ledger.enrol_child(school_id, child_id, first_name="A", last_name="B", iin=None,
                           grade=grade, class_name=f"{grade}A", shift=1,
                           consent=consent(child_id), enrolled_on=SEPT)
        ledger.assign_voucher(child_id, f"{child_id}-a", YEAR)
        ledger.activate_voucher(child_id, f"{child_id}-a", SEPT)
        ledger.top_up(child_id, f"first-{child_id}", 1000, at(SEPT, 7))
    ledger.assign_category("c1", "large_family", SEPT, None, "doc")


class World:
    """Applies the generated operations through the use cases; refused commands are skipped."""

    def __init__(self, ledger: Ledger, runner: Runner) -> None:
        self.ledger, self.runner = ledger, runner
        self.meals: list[tuple[str, str]] = []
        self.counter = 0

    def next_id(self) -> str:
        self.counter += 1
        return f"x{self.counter}"

    def apply(self, op: tuple[Any, ...]) -> None:
        try:
            getattr(self, f"op_{op[0]}")(*op[1:])
        except LedgerError:
            pass  # an invalid random command is refused by the ledger: nothing recorded

    def op_calendar(self, school: str, month: str, picks: frozenset[int]) -> None:
        days = [d for d in DAYS if month_of(d) == month]
        self.ledger.set_calendar(school, month, [days[i] for i in picks])

    def op_rate(self, school: str, band: str, amount: int, start: date) -> None:
        self.ledger.set_rate(school, band, amount, start)

    def op_eligibility(self, school: str, cats: frozenset[str], primary: bool, senior: bool,
                       start: date) -> None:
        self.ledger.set_eligibility(school, sorted(cats), VoucherRequired(primary, senior), start)

    def op_enrol(self, child: str, school: str, grade: int, start: date) -> None:
        self.ledger.enrol_child(school, child, first_name="A", last_name="B", iin=None,
                                grade=grade, class_name=f"{grade}A", shift=1,
                                consent=consent(child), enrolled_on=start)

    def op_category(self, child: str, cat: str, start: date, end: date | None) -> None:
        self.ledger.assign_category(child, cat, start, end, "doc")

    def op_home(self, child: str, start: date, end: date | None) -> None:
        self.ledger.record_home_schooling(child, start, end)

    def op_voucher(self, child: str, voucher: str) -> None:
        self.ledger.assign_voucher(child, f"{child}-{voucher}", YEAR)

    def op_activate(self, child: str, voucher: str, day: date) -> None:
        self.ledger.activate_voucher(child, f"{child}-{voucher}", day)

    def op_revoke_voucher(self, child: str, voucher: str, day: date) -> None:
        self.ledger.revoke_voucher(child, f"{child}-{voucher}", day, "test")

    def op_placement(self, child: str, school: str, grade: int, day: date) -> None:
        self.ledger.change_placement(child, school_id=school, grade=grade,
                                     class_name=f"{grade}B", shift=1, effective_from=day,
                                     reason="transfer")

    def op_leave(self, child: str, day: date) -> None:
        self.ledger.record_leaving(child, day, "moved")

    def op_withdraw(self, child: str, day: date) -> None:
        self.ledger.withdraw_consent(child, day, "guardian", "doc")

    def op_topup(self, child: str, amount: int) -> None:
        self.ledger.top_up(child, self.next_id(), amount, at(DAYS[0], 7))

    def op_refund(self, child: str, amount: int) -> None:
        self.ledger.refund(child, self.next_id(), amount, "test", "admin")

    def school_of(self, school: str, child_id: str) -> str:
        if school != "own":
            return school
        child = self.ledger.load(Child, stable_id("child", child_id))
        return child.current.school_id if child is not None else SCHOOLS[0]

    def op_meal(self, school: str, child: str, day: date, hour: int,
                items: tuple[str, ...] | None, offline: str | None) -> None:
        school = self.school_of(school, child)
        decision = None if offline is None else OfflineDecision(offline, 300)  # type: ignore[arg-type]
        terminal, event_id = f"{school}-canteen", self.next_id()
        item = TerminalItem(event_id=event_id, kind="meal", at=at(day, hour), child_id=child,
                            item_ids=items, offline_decision=decision)
        [outcome] = self.ledger.record_terminal_events(terminal, [item])
        if outcome.status == "recorded":
            self.meals.append((terminal, event_id))

    def op_pass(self, school: str, child: str, day: date, hour: int, direction: str,
                manual: bool) -> None:
        school = self.school_of(school, child)
        item = TerminalItem(event_id=self.next_id(), kind="gate_pass", at=at(day, hour),
                            child_id=child, direction=direction,  # type: ignore[arg-type]
                            method="manual" if manual else "card",
                            authorized_by=f"{school}-guard" if manual else None)
        self.ledger.record_terminal_events(f"{school}-gate", [item])

    def op_void(self, index: int) -> None:
        if self.meals:
            terminal, event_id = self.meals[index % len(self.meals)]
            self.ledger.void_meal(terminal, event_id, "admin", "test")

    def op_close(self, school: str, month: str) -> None:
        closing.close_month(self.ledger, self.runner, school, month, "accountant",
                            today=AFTER_ALL)

    def op_project(self) -> None:
        self.runner.run_once()


# ------------------------------------------------------------------ the reference fold


class Reference:
    def __init__(self, ledger: Ledger) -> None:
        self.events = logged_events(ledger)
        by_aggregate: dict[Any, list[Any]] = defaultdict(list)
        for _, e in self.events:
            by_aggregate[e.originator_id].append(e)
        self.children: dict[str, Child] = {}
        self.schools: dict[str, School] = {}
        for events in by_aggregate.values():
            if isinstance(events[0], Child.Enrolled):
                child = projector(Child)(None, events)
                self.children[child.child_id] = child
            elif isinstance(events[0], School.Registered):
                school = projector(School)(None, events)
                self.schools[school.school_id] = school
        voided = {e.originator_id: p for p, e in self.events
                  if isinstance(e, TerminalEvent.MealVoided)}
        self.meals = [(p, e, voided.get(e.originator_id)) for p, e in self.events
                      if isinstance(e, TerminalEvent.MealServed)]

    def live_meals(self) -> list[TerminalEvent.MealServed]:
        return [e for _, e, void in self.meals if void is None]

    def balances(self) -> dict[str, int]:
        sign = {Wallet.ToppedUp: 1, Wallet.Charged: -1, Wallet.Credited: 1, Wallet.Refunded: -1}
        owner = {e.originator_id: e.child_id for _, e in self.events
                 if isinstance(e, Wallet.Opened)}
        totals: dict[str, int] = defaultdict(int)
        for _, e in self.events:
            if type(e) in sign:
                totals[owner[e.originator_id]] += sign[type(e)] * e.amount_kzt
        return dict(totals)

    def daily_cost(self) -> dict[tuple[str, str, str], tuple[int, int, int, int, int]]:
        cost: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0] * 5)
        for e in self.live_meals():
            row = cost[(e.school_id, e.day.isoformat(), e.band)]
            row[0] += e.funding == "funded"
            row[1] += e.funded_kzt
            row[2] += e.paid_kzt > 0
            row[3] += e.paid_kzt
            row[4] += e.funding == "unfunded"
        return {k: tuple(v) for k, v in cost.items() if any(v)}  # type: ignore[misc]

    def child_days(self) -> list[tuple[Any, ...]]:
        rows = []
        for child in self.children.values():
            for school in self.schools.values():
                for days in school.calendar.values():
                    for day in sorted(days):
                        row = self.child_day(child, school, day)
                        if row is not None:
                            rows.append(row)
        return sorted(rows, key=repr)

    @staticmethod
    def child_day(child: Child, school: School, day: date) -> tuple[Any, ...] | None:
        placement = child.placement_on(day)
        if placement is None or placement.school_id != school.school_id:
            return None
        band = band_of(placement.grade)
        year = school_year_of(day)
        listed = on_list(child, school, day)
        assigned = any(v.school_year == year and v.revoked_on is None
                       for v in child.vouchers.values())
        return (child.child_id, day.isoformat(), school.school_id, month_of(day), band,
                placement.grade, placement.class_name, ",".join(child.categories_on(day)),
                int(listed), int(entitled(child, school, day)), int(child.home_schooled_on(day)),
                int(assigned), int(child.voucher_active_on(day, year)),
                school.rate_on(band, day) or 0)

    def savings(self, school_id: str, month: str) -> dict[str, tuple[int, ...]]:
        """band -> (list days, planned, funded meals, funded, home days, allowance)."""
        bands: dict[str, list[int]] = defaultdict(lambda: [0] * 6)
        for row in self.child_days():
            if row[2] == school_id and row[3] == month and row[8]:
                b = bands[row[4]]
                b[0] += 1
                b[1] += row[13]
                b[4] += row[10]
                b[5] += row[10] * row[13]
        for e in self.live_meals():
            if e.school_id == school_id and month_of(e.day) == month:
                b = bands[e.band]
                b[2] += e.funding == "funded"
                b[3] += e.funded_kzt
        return {k: tuple(v) for k, v in bands.items()}

    def statement_lines(self, school_id: str, month: str, upto: int
                        ) -> list[tuple[str, str, int, int, int]]:
        lines: dict[tuple[str, str, int], list[int]] = defaultdict(lambda: [0, 0])
        for p, e, void in self.meals:
            if (e.school_id == school_id and month_of(e.day) == month and e.funding == "funded"
                    and p <= upto and (void is None or void > upto)):
                line = lines[(e.day.isoformat(), e.band, e.rate_kzt)]
                line[0] += 1
                line[1] += e.funded_kzt
        return sorted((d, b, n, r, a) for (d, b, r), (n, a) in lines.items())

    def closed_at(self, school_id: str, month: str) -> int | None:
        for _, e in self.events:
            if isinstance(e, Month.Closed) and (e.school_id, e.month) == (school_id, month):
                return int(e.position)
        return None

    def attendance(self, school_id: str, day: str) -> list[tuple[str, str, str | None, str | None, int]]:
        people: dict[tuple[str, str], list[Any]] = {}
        for _, e in self.events:
            if isinstance(e, TerminalEvent.GatePassed) and (e.school_id, e.day.isoformat()) == (
                    school_id, day):
                kind = "pupil" if e.child_id is not None else "staff"
                entry = people.setdefault((kind, e.child_id or e.staff_id), [[], [], 0])
                (entry[0] if e.direction == "in" else entry[1]).append(e.at.isoformat())
                entry[2] += 1
        return sorted((k, p, min(ins, default=None), max(outs, default=None), n)
                      for (k, p), (ins, outs, n) in people.items())

    def notifications(self, child_id: str) -> list[tuple[int, str, str, dict[str, Any]]]:
        """(position, kind, at, body) of what a parent is told, voided meals included."""
        found: list[tuple[int, str, str, dict[str, Any]]] = []
        for p, e in self.events:
            if getattr(e, "child_id", None) != child_id:
                continue
            if isinstance(e, TerminalEvent.MealServed):
                found.append((p, "meal_served", e.at.isoformat(), {
                    "funding": e.funding, "amount_kzt": e.funded_kzt or e.paid_kzt,
                    "items": [i.name for i in e.items], "balance_kzt": e.balance_kzt}))
            elif isinstance(e, TerminalEvent.MealRefused):
                found.append((p, "meal_refused", e.at.isoformat(), {"reason": e.reason}))
            elif isinstance(e, TerminalEvent.GatePassed):
                kind = "entry" if e.direction == "in" else "exit"
                found.append((p, kind, e.at.isoformat(), {"method": e.method}))
        return found


# ------------------------------------------------------------------ the comparison


def assert_read_models_match(ledger: Ledger, runner: Runner) -> None:
    ref = Reference(ledger)
    position = runner.position()
    with runner.db.read() as cur:
        for child_id in CHILDREN:
            assert queries.balance(cur, child_id).balance_kzt == ref.balances().get(child_id, 0)
        cost = {(s, d, b): tuple(int(x) for x in v) for s, d, b, *v in cur.fetchall(
            "SELECT school_id, day, band, funded_meals, funded_kzt, paid_meals, paid_kzt,"
            " unfunded_meals FROM pm_daily_cost")}
        assert {k: v for k, v in cost.items() if any(v)} == ref.daily_cost()
        rows = child_days(cur)
        assert sorted((tuple(r) for r in rows), key=repr) == ref.child_days()
        for school_id in SCHOOLS:
            for month in MONTHS:
                assert_savings(cur, ref, school_id, month)
                assert_statement(cur, ref, school_id, month, position)
            for day in DAYS:
                view = queries.attendance(cur, school_id, day)
                assert [(p.person_kind, p.person_id, p.first_in, p.last_out, p.passes)
                        for p in view.people] == ref.attendance(school_id, day.isoformat())
    for child_id in CHILDREN:
        told = outbox.pending(runner.db, child_id, 0)
        assert [(n.position, n.kind, n.at, n.body) for n in told] == ref.notifications(child_id)
        assert {n.child_id for n in told} <= {child_id} and not any(n.delivered for n in told)


def assert_savings(cur: Any, ref: Reference, school_id: str, month: str) -> None:
    view = reports.school_savings(cur, school_id, month)
    expected = {b: v for b, v in ref.savings(school_id, month).items() if any(v)}
    got = {b.band: (b.list_child_days, b.planned_kzt, b.funded_meals, b.funded_kzt,
                    b.home_schooled_days, b.allowance_kzt) for b in view.bands}
    assert {b: v for b, v in got.items() if any(v)} == expected
    assert view.planned_kzt == sum(v[1] for v in expected.values())
    assert view.actual_kzt == sum(v[3] + v[5] for v in expected.values())
    assert view.school_days == len(ref.schools[school_id].calendar.get(month, ()))


def assert_statement(cur: Any, ref: Reference, school_id: str, month: str, head: int) -> None:
    statement = reports.tenant_statement(cur, school_id, month)
    closed_at = ref.closed_at(school_id, month)
    assert statement.closed == (closed_at is not None)
    upto = closed_at if closed_at is not None else head
    assert [(x.day, x.band, x.meals, x.rate_kzt, x.amount_kzt) for x in statement.lines] == \
        ref.statement_lines(school_id, month, upto)
    assert statement.meals_kzt == sum(x.amount_kzt for x in statement.lines)


def run_history(url: str, page_size: int, ops: list[tuple[Any, ...]]) -> None:
    ledger = open_ledger(url)
    try:
        set_up(ledger)
        runner = make_runner(ledger, page_size=page_size)
        world = World(ledger, runner)
        for op in ops:
            world.apply(op)
        runner.catch_up()
        assert_read_models_match(ledger, runner)
        live = dump_tables(runner.db)
        runner.rebuild()
        assert dump_tables(runner.db) == live, "a rebuild changed the read models"
    finally:
        close_ledger(ledger)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(OPS, min_size=10, max_size=40), page_size=st.sampled_from((1, 3, 17, 5000)))
def test_every_read_model_equals_the_reference_fold_on_memory(
        ops: list[tuple[Any, ...]], page_size: int) -> None:
    run_history("memory://", page_size, ops)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(OPS, min_size=5, max_size=30), page_size=st.sampled_from((2, 5000)))
def test_every_read_model_equals_the_reference_fold_on_sqlite(
        ops: list[tuple[Any, ...]], page_size: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        run_history(f"sqlite:///{Path(tmp) / 'tamaq.sqlite3'}", page_size, ops)

