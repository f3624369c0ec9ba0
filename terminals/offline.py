"""Decisions without the server: the cached school view plus what this gateway did since.

The rules mirror the ledger's (issue 3) as far as the cache allows:
- an unknown identifier is refused; a staff identifier may pass a gate but not buy meals;
- a scan without items asks for the day's free meal: funded for a child entitled today
  (at most once a school day), otherwise bought at the price of the menu item marked
  ``free_meal``; a free meal needs a school day and a cache of today;
- items are paid from the balance, which may go down to ``-overdraft_kzt`` and no further;
- an item containing one of the child's allergens is refused.
Funded amounts are sent as 0: the ledger applies the band's rate, which the cache lacks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import msgspec

from terminals.client import CacheIdentifier, MenuItem, OfflineDecision, TerminalCache
from terminals.journal import OverlayEntry

DENY_TEXTS: dict[str, str] = {
    "unknown_identifier": "Белгісіз карта / Неизвестная карта",
    "no_consent": "Келісім жоқ / Нет согласия",
    "not_enrolled": "Тізімде жоқ / Нет в списке",
    "not_school_day": "Оқу күні емес / Не учебный день",
    "already_served": "Бүгін тамақтанды / Уже ел сегодня",
    "allergen_restriction": "Аллерген / Аллерген запрещён",
    "insufficient_balance": "Қаражат жетпейді / Мало средств",
    "no_free_meal_item": "Тегін ас жоқ / Нет бесплатного блюда",
    "unknown_item": "Белгісіз тағам / Неизвестное блюдо",
    "wrong_school": "Басқа мектеп / Другая школа",
    "bad_request": "Қате сұрау / Ошибка запроса",
    "offline_no_cache": "Байланыс жоқ / Нет связи",
    "unknown_staff": "Қызметкер белгісіз / Нет сотрудника",
    "wrong_terminal_kind": "Терминал қате / Не тот терминал",
    "event_id_reused": "Қайталанған ID / Повтор ID",
    "other": "Бас тартылды / Отказано",
}


class Decision(msgspec.Struct, frozen=True):
    """What the gateway answers for one scan, online or offline."""

    status: str  # recorded | duplicate | refused
    reason: str | None = None
    funding: str | None = None  # funded | paid | unfunded | None (gate pass)
    amount_kzt: int = 0
    balance_kzt: int | None = None
    first_name: str | None = None
    flagged: bool = False
    offline: bool = False
    subject: str | None = None  # child:<id> / staff:<id>, for the log (never a name)

    @property
    def granted(self) -> bool:
        return self.status in ("recorded", "duplicate")


def identifier_key(kind: str, token: str) -> str:
    return f"{kind}:{token}"


def subject_key(ident: CacheIdentifier) -> str:
    if ident.child_id:
        return f"child:{ident.child_id}"
    if ident.staff_id:
        return f"staff:{ident.staff_id}"
    return f"id:{ident.kind}:{ident.token}"


def refused(reason: str, subject: str | None = None) -> Decision:
    return Decision(status="refused", reason=reason, offline=True, subject=subject)


@dataclass
class _Subject:
    served_on: set[str] = field(default_factory=set)  # dates with a meal served
    balance_kzt: int = 0


class OfflineView:
    """The cache with the overlay applied; rebuilt when the cache is refreshed."""

    def __init__(self, cache: TerminalCache | None, overlay: list[OverlayEntry]) -> None:
        self.cache = cache
        self._ids: dict[str, CacheIdentifier] = {}
        self._subjects: dict[str, _Subject] = {}
        self._menu: dict[str, MenuItem] = {}
        if cache is not None:
            self._menu = {m.item_id: m for m in cache.menu}
            for ident in cache.identifiers:
                self._ids[identifier_key(ident.kind, ident.token)] = ident
                subject = self._subjects.setdefault(subject_key(ident), _Subject(balance_kzt=ident.balance_kzt))
                if ident.served_today:
                    subject.served_on.add(cache.date)
        for entry in overlay:
            self.apply(entry)

    def lookup(self, kind: str, token: str) -> CacheIdentifier | None:
        return self._ids.get(identifier_key(kind, token))

    def _subject(self, key: str) -> _Subject:
        return self._subjects.setdefault(key, _Subject())

    def apply(self, entry: OverlayEntry) -> None:
        subject = self._subject(entry.key)
        if entry.served:
            subject.served_on.add(entry.date)
        if entry.balance_abs_kzt is not None:
            subject.balance_kzt = entry.balance_abs_kzt
        subject.balance_kzt += entry.balance_delta_kzt

    def balance_kzt(self, key: str) -> int:
        return self._subject(key).balance_kzt

    def served(self, key: str, date: str) -> bool:
        return date in self._subject(key).served_on

    def decide_gate(self, kind: str, token: str) -> Decision:
        if self.cache is None:
            return refused("offline_no_cache")
        ident = self.lookup(kind, token)
        if ident is None:
            return refused("unknown_identifier")
        return Decision(status="recorded", first_name=ident.first_name, offline=True, subject=subject_key(ident))

    def decide_meal(self, kind: str, token: str, item_ids: list[str] | None, date: str, at: float
                    ) -> tuple[Decision, OverlayEntry | None]:
        if self.cache is None:
            return refused("offline_no_cache"), None
        ident = self.lookup(kind, token)
        if ident is None:
            return refused("unknown_identifier"), None
        key = subject_key(ident)
        if ident.child_id is None:
            return refused("not_enrolled", key), None
        if item_ids:
            return self._paid(ident, key, [self._menu.get(i) for i in item_ids], date, at)
        return self._free_meal(ident, key, date, at)

    def _free_meal(self, ident: CacheIdentifier, key: str, date: str, at: float
                   ) -> tuple[Decision, OverlayEntry | None]:
        assert self.cache is not None
        if self.cache.date != date:
            return refused("offline_no_cache", key), None
        if not self.cache.school_day:
            return refused("not_school_day", key), None
        free_items = [m for m in self.cache.menu if m.free_meal]
        if not ident.entitled_today:
            if not free_items:
                return refused("no_free_meal_item", key), None
            return self._paid(ident, key, [free_items[0]], date, at)
        if self.served(key, date):
            return refused("already_served", key), None
        if free_items and set(free_items[0].allergens) & set(ident.allergens):
            return refused("allergen_restriction", key), None
        balance = self.balance_kzt(key)
        decision = Decision(status="recorded", funding="funded", amount_kzt=0, balance_kzt=balance,
                            first_name=ident.first_name, offline=True, subject=key)
        return decision, OverlayEntry(at=at, date=date, key=key, served=True)

    def _paid(self, ident: CacheIdentifier, key: str, items: list[MenuItem | None], date: str, at: float
              ) -> tuple[Decision, OverlayEntry | None]:
        if any(item is None for item in items):
            return refused("unknown_item", key), None
        menu = [item for item in items if item is not None]
        if any(set(item.allergens) & set(ident.allergens) for item in menu):
            return refused("allergen_restriction", key), None
        total_kzt = sum(item.price_kzt for item in menu)
        balance = self.balance_kzt(key)
        if balance - total_kzt < -ident.overdraft_kzt:
            return refused("insufficient_balance", key), None
        decision = Decision(status="recorded", funding="paid", amount_kzt=total_kzt,
                            balance_kzt=balance - total_kzt, first_name=ident.first_name, offline=True,
                            subject=key)
        return decision, OverlayEntry(at=at, date=date, key=key, served=False, balance_delta_kzt=-total_kzt)


def offline_decision_of(decision: Decision) -> OfflineDecision:
    outcome = "refused" if decision.status == "refused" else (decision.funding or "paid")
    return OfflineDecision(outcome=outcome, amount_kzt=decision.amount_kzt, reason=decision.reason)  # type: ignore[arg-type]
