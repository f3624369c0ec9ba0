"""Offline decisions from the cached view and the local overlay."""

from __future__ import annotations

from datetime import datetime, timezone

from terminals.client import CacheIdentifier, MenuItem, TerminalCache
from terminals.journal import OverlayEntry
from terminals.offline import OfflineView, offline_decision_of

DAY = "2026-03-02"


def cache(**overrides: object) -> TerminalCache:
    fields: dict[str, object] = dict(
        terminal_id="t-1", school_id="s-1", kind="canteen", date=DAY, generated_at=datetime.now(timezone.utc),
        school_day=True,
        identifiers=[
            CacheIdentifier("card", "111", child_id="c-1", first_name="Айгерим", entitled_today=True, balance_kzt=500),
            CacheIdentifier("palm", "p-1", child_id="c-1", first_name="Айгерим", entitled_today=True, balance_kzt=500),
            CacheIdentifier("card", "222", child_id="c-2", first_name="Бауыржан", balance_kzt=700, overdraft_kzt=100,
                            allergens=["nuts"]),
            CacheIdentifier("card", "999", staff_id="st-1"),
        ],
        menu=[MenuItem("lunch", "Ас", 650, [], True), MenuItem("cake", "Торт", 200, ["nuts"])])
    fields.update(overrides)
    return TerminalCache(**fields)  # type: ignore[arg-type]


def test_an_entitled_child_gets_one_funded_meal_a_day_whichever_identifier() -> None:
    view = OfflineView(cache(), [])
    first, entry = view.decide_meal("card", "111", None, DAY, 1.0)
    assert (first.status, first.funding, first.offline) == ("recorded", "funded", True)
    assert entry is not None
    view.apply(entry)
    second, _ = view.decide_meal("palm", "p-1", None, DAY, 2.0)
    assert (second.status, second.reason) == ("refused", "already_served")


def test_a_paying_child_buys_the_free_meal_item_down_to_the_overdraft_and_no_further() -> None:
    view = OfflineView(cache(), [])
    bought, entry = view.decide_meal("card", "222", None, DAY, 1.0)
    assert (bought.funding, bought.amount_kzt, bought.balance_kzt) == ("paid", 650, 50)
    view.apply(entry)  # type: ignore[arg-type]
    again, _ = view.decide_meal("card", "222", None, DAY, 2.0)
    assert again.reason == "insufficient_balance"
    assert offline_decision_of(again).outcome == "refused"


def test_allergens_unknown_items_identifiers_and_staff_are_refused() -> None:
    view = OfflineView(cache(), [])
    assert view.decide_meal("card", "222", ["cake"], DAY, 1.0)[0].reason == "allergen_restriction"
    assert view.decide_meal("card", "111", ["soup"], DAY, 1.0)[0].reason == "unknown_item"
    assert view.decide_meal("card", "000", None, DAY, 1.0)[0].reason == "unknown_identifier"
    assert view.decide_meal("card", "999", None, DAY, 1.0)[0].reason == "not_enrolled"


def test_free_meals_need_a_school_day_and_a_cache_of_today() -> None:
    assert OfflineView(cache(school_day=False), []).decide_meal("card", "111", None, DAY, 1.0)[0].reason == "not_school_day"
    assert OfflineView(cache(), []).decide_meal("card", "111", None, "2026-03-03", 1.0)[0].reason == "offline_no_cache"
    assert OfflineView(None, []).decide_meal("card", "111", None, DAY, 1.0)[0].reason == "offline_no_cache"


def test_the_overlay_replays_balances_and_meals_after_a_restart() -> None:
    overlay = [OverlayEntry(1.0, DAY, "child:c-2", False, balance_abs_kzt=300),
               OverlayEntry(2.0, DAY, "child:c-2", False, balance_delta_kzt=-200),
               OverlayEntry(3.0, DAY, "child:c-1", True)]
    view = OfflineView(cache(), overlay)
    assert view.balance_kzt("child:c-2") == 100
    assert view.decide_meal("card", "111", None, DAY, 4.0)[0].reason == "already_served"


def test_gates_let_known_identifiers_through_even_with_yesterdays_cache() -> None:
    view = OfflineView(cache(date="2026-03-01"), [])
    assert view.decide_gate("card", "999").status == "recorded"
    assert view.decide_gate("card", "nope").reason == "unknown_identifier"
