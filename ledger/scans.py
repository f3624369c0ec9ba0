"""Terminal events: meals and gate passes, decided on the server (online) or recorded as the
terminal decided (offline), each under the terminal's own event id: a retry changes nothing."""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import Future
from datetime import date, datetime
from typing import Any, Literal
from uuid import UUID

import msgspec

from ledger import limits
from ledger.application import PreviousCommitFailed
from ledger.base import stable_id
from ledger.child import Child, ChildDay, Identifier, Wallet
from ledger.dates import band_of, local_day
from ledger.errors import InvalidInput, NotFound, RuleViolation
from ledger.records import REFUSAL_REASONS, TerminalEvent
from ledger.rules import MealDecision, OfflineDecision, decide_meal, decide_offline_meal, gate_refusal
from ledger.school import Menu, School, Staff, Terminal
from ledger.unit import Unit

Status = Literal["recorded", "duplicate", "refused"]


class IdentifierRef(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    kind: Literal["palm", "card"]
    token: str


class TerminalItem(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    event_id: str
    kind: Literal["gate_pass", "meal"]
    at: datetime
    identifier: IdentifierRef | None = None
    child_id: str | None = None
    staff_id: str | None = None
    direction: Literal["in", "out"] | None = None
    method: Literal["palm", "card", "manual"] | None = None
    authorized_by: str | None = None
    item_ids: tuple[str, ...] | None = None
    offline_decision: OfflineDecision | None = None


class ItemOutcome(msgspec.Struct, frozen=True, kw_only=True):
    event_id: str
    status: Status
    reason: str | None = None
    funding: Literal["funded", "paid", "unfunded"] | None = None
    amount_kzt: int | None = None
    balance_kzt: int | None = None
    first_name: str | None = None
    flagged: bool = False


CHUNK_ITEMS = 500
OVERLAP_ENV = "TAMAQ_SYNC_OVERLAP"  # 0: a sync's chunks are saved one after the other


def overlap_enabled() -> bool:
    return os.environ.get(OVERLAP_ENV, "1").strip() != "0"


def same_scan(fact: object, item: TerminalItem) -> bool:
    """Whether an item under a known event id is the same scan as the one recorded."""
    is_meal = isinstance(fact, TerminalEvent.MealServed | TerminalEvent.MealRefused)
    return is_meal == (item.kind == "meal") and getattr(fact, "at", None) == item.at


def validate_items(items: Sequence[TerminalItem]) -> None:
    if not 1 <= len(items) <= limits.BATCH_ITEMS_MAX:
        raise InvalidInput("items", f"send 1 to {limits.BATCH_ITEMS_MAX} items per call")
    for i, item in enumerate(items):
        where = f"items[{i}]"
        limits.check_id(f"{where}.event_id", item.event_id)
        limits.check_instant(f"{where}.at", item.at)
        named = [x for x in (item.identifier, item.child_id, item.staff_id) if x is not None]
        if len(named) != 1:
            raise InvalidInput(where, "name exactly one of identifier, child_id, staff_id")
        if item.identifier is not None:
            limits.check_text(f"{where}.identifier.token", item.identifier.token,
                              max_len=limits.ID_LEN_MAX)
        if item.kind == "gate_pass":
            if item.direction is None or item.method is None:
                raise InvalidInput(where, "a gate pass needs direction (in|out) and method")
            if item.method == "manual" and not item.authorized_by:
                raise InvalidInput(f"{where}.authorized_by",
                                   "a manual pass names the staff member who let the child in")
        if item.item_ids is not None:
            if not 1 <= len(item.item_ids) <= limits.MEAL_ITEMS_MAX:
                raise InvalidInput(f"{where}.item_ids", f"1 to {limits.MEAL_ITEMS_MAX} items")
            for item_id in item.item_ids:
                limits.check_id(f"{where}.item_ids", item_id)
        decision = item.offline_decision
        if decision is not None:
            limits.check_kzt(f"{where}.offline_decision.amount_kzt", decision.amount_kzt,
                             low=0, high=limits.PRICE_KZT_MAX * limits.MEAL_ITEMS_MAX)
            if decision.outcome == "refused" and decision.reason not in REFUSAL_REASONS:
                raise InvalidInput(f"{where}.offline_decision.reason",
                                   f"must be one of {', '.join(REFUSAL_REASONS)}")


class ScanCases:
    time_zone: str

    def run(self, command):  # type: ignore[no-untyped-def]
        raise NotImplementedError

    def run_deferred(self, command, after):  # type: ignore[no-untyped-def]
        raise NotImplementedError

    def run_overlapped(self, command, after):  # type: ignore[no-untyped-def]
        raise NotImplementedError

    def finish_overlapped(self, after):  # type: ignore[no-untyped-def]
        raise NotImplementedError

    def record_terminal_events(self, terminal_id: str, items: Sequence[TerminalItem]
                               ) -> list[ItemOutcome]:
        """Apply a terminal's items in order (an online scan is a call with one item)."""
        validate_items(items)
        return self.record_scans([(terminal_id, item) for item in items])

    def record_scans(self, scans: Sequence[tuple[str, TerminalItem]]) -> list[ItemOutcome]:
        """Items of one or many terminals, decided in order and saved in few transactions:
        a chunk of CHUNK_ITEMS at a time, each decided while the one before is being saved
        (`LedgerApplication.run_overlapped`). Returns once every chunk has committed; a
        chunk whose save failed is decided again (it stored nothing), and so is the one
        decided on top of it."""
        chunks = [scans[start:start + CHUNK_ITEMS] for start in range(0, len(scans), CHUNK_ITEMS)]
        if len(chunks) <= 1 or not overlap_enabled():
            outcomes: list[ItemOutcome] = []
            for chunk in chunks:
                outcomes.extend(self.run(lambda unit, chunk=chunk: self._scan_chunk(unit, chunk)))
            return outcomes
        decided: list[list[ItemOutcome]] = []
        in_flight: Future[Any] | None = None
        while len(decided) < len(chunks):
            chunk = chunks[len(decided)]
            try:
                result, in_flight = self.run_overlapped(
                    lambda unit: self._scan_chunk(unit, chunk), in_flight)
            except PreviousCommitFailed:
                again = chunks[len(decided) - 1]
                decided[-1] = self.run(lambda unit: self._scan_chunk(unit, again))
                in_flight = None
                continue
            decided.append(result)
        try:
            self.finish_overlapped(in_flight)
        except PreviousCommitFailed:
            decided[-1] = self.run(lambda unit: self._scan_chunk(unit, chunks[-1]))
        return [outcome for outcomes in decided for outcome in outcomes]

    def record_scans_deferred(self, scans: Sequence[tuple[str, TerminalItem]],
                              after: Future[None] | None
                              ) -> tuple[list[ItemOutcome], Future[None] | None]:
        """`record_scans` for the batching writer: decided on top of `after` (the previous
        batch's commit, still in flight), and returned with this batch's commit in flight
        (`LedgerApplication.run_deferred`). None: already committed."""
        if len(scans) > CHUNK_ITEMS:
            self._wait_for(after)  # type: ignore[attr-defined]
            return self.record_scans(scans), None
        return self.run_deferred(  # type: ignore[no-any-return]
            lambda unit: self._scan_chunk(unit, scans), after)

    def _scan_chunk(self, unit: Unit, chunk: Sequence[tuple[str, TerminalItem]]
                    ) -> list[ItemOutcome]:
        self._prefetch(unit, chunk)
        return [self._scan(unit, terminal_id, item) for terminal_id, item in chunk]

    def _prefetch(self, unit: Unit, chunk: Sequence[tuple[str, TerminalItem]]) -> None:
        """Usually one query loads every aggregate the chunk will read that the cache lacks:
        terminals and identifiers already cached tell which child, day and wallet come next;
        a second query follows only for what that could not foresee."""
        unforeseen: list[tuple[str, TerminalItem]] = []
        unit.prefetch(self._wanted(unit, chunk, first=True, unforeseen=unforeseen))
        if unforeseen:
            unit.prefetch(self._wanted(unit, unforeseen, first=False, unforeseen=[]))
        # first names are shown for scans decided now: their keys, in one query
        online = {stable_id("child", item.child_id) for _, item in chunk
                  if item.offline_decision is None and item.child_id is not None}
        online.update(stable_id("child", ident.child_id) for _, item in chunk
                      if item.offline_decision is None and item.identifier is not None
                      and (ident := unit.peek(Identifier, stable_id(
                          "identifier", item.identifier.kind, item.identifier.token))) is not None
                      and ident.child_id is not None)
        if online:
            self.keys.prefetch(online)  # type: ignore[attr-defined]

    def _wanted(self, unit: Unit, chunk: Sequence[tuple[str, TerminalItem]], *, first: bool,
                unforeseen: list[tuple[str, TerminalItem]]) -> list[tuple[type, UUID]]:
        """The aggregates the chunk's scans will read, each named once: a chunk is mostly
        the same terminal, school and days, so those are looked up once, not per scan."""
        wanted: list[tuple[type, UUID]] = []
        want = wanted.append
        look = unit.peek if first else unit.get
        terminals: dict[str, Terminal | None] = {}
        school_days: set[tuple[str, str]] = set()
        people: set[str] = set()
        time_zone = self.time_zone
        for scan in chunk:
            terminal_id, item = scan
            if first:
                want((TerminalEvent, stable_id("terminal-event", terminal_id, item.event_id)))
                if item.authorized_by is not None:
                    want((Staff, stable_id("staff", item.authorized_by)))
            if terminal_id in terminals:
                terminal = terminals[terminal_id]
            else:
                terminal_key = stable_id("terminal", terminal_id)
                if first:
                    want((Terminal, terminal_key))
                terminal = terminals[terminal_id] = look(Terminal, terminal_key)
            ident = None
            if item.identifier is not None:
                ident_id = stable_id("identifier", item.identifier.kind, item.identifier.token)
                if first:
                    want((Identifier, ident_id))
                ident = look(Identifier, ident_id)
                if ident is None and first:
                    unforeseen.append(scan)  # the second round knows whose it is
                    continue
            if terminal is None:
                if first:
                    unforeseen.append(scan)
                continue
            day = local_day(item.at, time_zone).isoformat()
            if (terminal.school_id, day) not in school_days:
                school_days.add((terminal.school_id, day))
                want((School, stable_id("school", terminal.school_id)))
                want((Menu, stable_id("menu", terminal.school_id, day)))
            child_id, staff_id = item.child_id, item.staff_id
            if item.identifier is not None:
                child_id = ident.child_id if ident is not None else None
                staff_id = ident.staff_id if ident is not None else None
            if child_id is not None:
                want((ChildDay, stable_id("child-day", child_id, day)))
                if child_id not in people:
                    people.add(child_id)
                    want((Child, stable_id("child", child_id)))
                    want((Wallet, stable_id("wallet", child_id)))
            if staff_id is not None:
                want((Staff, stable_id("staff", staff_id)))
        return wanted

    def _scan(self, unit: Unit, terminal_id: str, item: TerminalItem) -> ItemOutcome:
        terminal = unit.get(Terminal, stable_id("terminal", terminal_id))
        if terminal is None:
            raise NotFound("terminal", terminal_id)
        teid = stable_id("terminal-event", terminal_id, item.event_id)
        existing = unit.get(TerminalEvent, teid)
        if existing is not None:
            if not same_scan(existing.fact, item):
                # a retry repeats the scan (an offline retry may add its decision); another
                # scan under a used id is a terminal's bug: refuse it rather than lose it quietly
                return ItemOutcome(event_id=item.event_id, status="refused",
                                   reason="event_id_reused")
            return self._outcome(unit, existing.fact, "duplicate")
        school = unit.get(School, stable_id("school", terminal.school_id))
        assert school is not None  # a terminal is registered to an existing school
        day = local_day(item.at, self.time_zone)
        child, staff, reason = self._person(unit, item)
        base = dict(event_id=item.event_id, terminal_id=terminal_id,
                    school_id=school.school_id, day=day, at=item.at,
                    offline=item.offline_decision is not None)
        wanted = "canteen" if item.kind == "meal" else "gate"
        if reason is None and terminal.kind != wanted:
            reason = "wrong_terminal_kind"
        if item.kind == "meal":
            fact = self._meal(unit, teid, school, day, item, child, staff, reason, base)
        else:
            fact = self._pass(unit, teid, school, day, item, child, staff, reason, base)
        return self._outcome(unit, fact, "recorded" if type(fact).__name__ in (
            "MealServed", "GatePassed") else "refused")

    def _person(self, unit: Unit, item: TerminalItem
                ) -> tuple[Child | None, Staff | None, str | None]:
        child_id, staff_id = item.child_id, item.staff_id
        if item.identifier is not None:
            ref = item.identifier
            ident = unit.get(Identifier, stable_id("identifier", ref.kind, ref.token))
            if ident is None or not ident.active:
                return None, None, "unknown_identifier"
            child_id, staff_id = ident.child_id, ident.staff_id
        if child_id is not None:
            child = unit.get(Child, stable_id("child", child_id))
            return child, None, None if child is not None else "unknown_identifier"
        staff = unit.get(Staff, stable_id("staff", staff_id or ""))
        return None, staff, None if staff is not None else "unknown_identifier"

    def _meal(self, unit: Unit, teid: UUID, school: School, day: date, item: TerminalItem,
              child: Child | None, staff: Staff | None, reason: str | None, base: dict):  # type: ignore[no-untyped-def]
        offline = item.offline_decision
        if reason is None and child is None:
            reason = "not_enrolled"  # staff meals are not this ledger's business
        if reason is None and offline is not None and offline.outcome == "refused":
            reason = offline.reason
        if reason is None and child is not None and not child.consent_in_force(day):
            reason = "no_consent"
        if reason is not None or child is None:
            return unit.create(TerminalEvent, teid, **self._refusal(
                TerminalEvent.MealRefused, base, child, reason)).fact
        day_key = day.isoformat()
        cd_id = stable_id("child-day", child.child_id, day_key)
        cd = unit.get(ChildDay, cd_id)
        taken = cd is not None and cd.funded_meal is not None
        wallet = unit.get(Wallet, stable_id("wallet", child.child_id))
        balance = wallet.balance_kzt if wallet is not None else 0
        menu = unit.get(Menu, stable_id("menu", school.school_id, day_key))
        args = (child, school, day, menu, item.item_ids)
        decision: MealDecision = (
            decide_offline_meal(*args, offline, free_meal_taken=taken, balance_kzt=balance)
            if offline is not None
            else decide_meal(*args, free_meal_taken=taken, balance_kzt=balance))
        if decision.refused is not None:
            return unit.create(TerminalEvent, teid, **self._refusal(
                TerminalEvent.MealRefused, base, child, decision.refused)).fact
        if decision.takes_free_meal:
            cd_fields = dict(child_id=child.child_id, day=day, meal_id=teid)
            if cd is None:
                unit.create(ChildDay, cd_id, **cd_fields)
            else:
                unit.trigger(cd, ChildDay.FreeMealTaken, **cd_fields)
        if decision.paid_kzt:
            if wallet is None:
                wallet = unit.create(Wallet, stable_id("wallet", child.child_id),
                                     child_id=child.child_id)
            unit.trigger(wallet, Wallet.Charged, meal_id=teid, amount_kzt=decision.paid_kzt)
        placement = child.placement_on(day) or child.current
        return unit.create(
            TerminalEvent, teid, **base, child_id=child.child_id, band=band_of(placement.grade),
            grade=placement.grade, class_name=placement.class_name, shift=placement.shift,
            funding=decision.funding, funded_kzt=decision.funded_kzt,
            rate_kzt=decision.rate_kzt, paid_kzt=decision.paid_kzt, items=decision.items,
            flags=decision.flags, balance_kzt=wallet.balance_kzt if wallet else None,
        ).fact

    @staticmethod
    def _refusal(event_class: type, base: dict, child: Child | None, reason: str | None) -> dict:  # type: ignore[type-arg]
        return dict(base, child_id=child.child_id if child else None,
                    reason=reason or "unknown_identifier", _event_class=event_class)

    def _pass(self, unit: Unit, teid: UUID, school: School, day: date, item: TerminalItem,
              child: Child | None, staff: Staff | None, reason: str | None, base: dict):  # type: ignore[no-untyped-def]
        if reason is None and child is not None:
            reason = gate_refusal(child, school, day)
            if reason not in (None, "no_consent") and item.offline_decision is not None:
                reason = None  # the child went through: a fact, flagged by the edit checks
        if reason is None and staff is not None and staff.school_id != school.school_id:
            reason = "wrong_school"
        if reason is None and item.method == "manual":
            by = unit.get(Staff, stable_id("staff", item.authorized_by or ""))
            if by is None or by.school_id != school.school_id:
                reason = "unknown_staff"
        if reason is not None:
            fields = self._refusal(TerminalEvent.PassRefused, base, child, reason)
            return unit.create(TerminalEvent, teid, **fields).fact
        return unit.create(
            TerminalEvent, teid, _event_class=TerminalEvent.GatePassed, **base,
            child_id=child.child_id if child else None,
            staff_id=staff.staff_id if staff else None, direction=item.direction,
            method=item.method, authorized_by=item.authorized_by).fact

    def _outcome(self, unit: Unit, fact: object, status: Status) -> ItemOutcome:
        """What the terminal shows; the first name only for a scan decided online (an offline
        item was shown to the child when it happened, and a retry answers the same)."""
        name = type(fact).__name__
        child_id = getattr(fact, "child_id", None)
        first_name = None
        if (child_id is not None and name in ("MealServed", "GatePassed")
                and not getattr(fact, "offline", False)):
            child = unit.get(Child, stable_id("child", child_id))
            if child is not None:
                first_name = self.personal_data(child).first_name  # type: ignore[attr-defined]
        if name == "MealServed":
            assert isinstance(fact, TerminalEvent.MealServed)
            amount = fact.funded_kzt if fact.funding == "funded" else fact.paid_kzt
            return ItemOutcome(event_id=fact.event_id, status=status, funding=fact.funding,
                               amount_kzt=amount, balance_kzt=fact.balance_kzt,
                               first_name=first_name, flagged=bool(fact.flags))
        if name == "GatePassed":
            return ItemOutcome(event_id=fact.event_id, status=status,  # type: ignore[attr-defined]
                               first_name=first_name)
        return ItemOutcome(event_id=fact.event_id, status="duplicate" if status == "duplicate"  # type: ignore[attr-defined]
                           else "refused", reason=fact.reason)  # type: ignore[attr-defined]

    def void_meal(self, terminal_id: str, event_id: str, by: str, reason: str) -> bool:
        """Void a served meal: the meal stays in history; money flows back."""
        limits.check_text("by", by)
        limits.check_text("reason", reason, max_len=limits.TEXT_LEN_MAX)

        def command(unit: Unit) -> bool:
            teid = stable_id("terminal-event", terminal_id, event_id)
            te = unit.get(TerminalEvent, teid)
            if te is None or not isinstance(te.fact, TerminalEvent.MealServed):
                raise NotFound("meal", f"{terminal_id}/{event_id}")
            if te.voided:
                return False
            fact = te.fact
            unit.trigger(te, TerminalEvent.MealVoided, by=by, reason=reason,
                         school_id=fact.school_id, child_id=fact.child_id, day=fact.day,
                         funded_kzt=fact.funded_kzt, paid_kzt=fact.paid_kzt)
            if fact.funding == "funded":
                cd = unit.get(ChildDay, stable_id("child-day", fact.child_id, fact.day.isoformat()))
                if cd is not None and cd.funded_meal == teid:
                    unit.trigger(cd, ChildDay.FreeMealReleased, meal_id=teid, reason=reason)
            if fact.paid_kzt:
                wallet = unit.get(Wallet, stable_id("wallet", fact.child_id))
                if wallet is None:
                    raise RuleViolation("the paid meal has no wallet to credit")
                unit.trigger(wallet, Wallet.Credited, meal_id=teid, amount_kzt=fact.paid_kzt,
                             reason=reason)
            return True

        return self.run(command)
