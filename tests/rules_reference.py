"""The meal rules as they stood before `School.day_facts` (2026-12): the oracle that
tests/properties/test_rules_reference.py holds the shipped rules to. Written against the
aggregates' plain queries (`rate_on`, `eligibility_on`, `is_school_day`, `categories_on`),
never the cached ones. Do not optimise this file: its worth is that it is the obvious code."""

from __future__ import annotations

from datetime import date

from ledger.child import Child
from ledger.dates import Band, band_of, school_year_of
from ledger.records import ServedItem
from ledger.rules import MealDecision, OfflineDecision
from ledger.school import Menu, MenuItem, School


def on_list(child: Child, school: School, day: date) -> bool:
    """On the school's list that day: the children the budget plans for."""
    placement = child.placement_on(day)
    if placement is None or placement.school_id != school.school_id:
        return False
    if not child.consent_in_force(day):
        return False
    band = band_of(placement.grade)
    if school.rate_on(band, day) is None:
        return False
    if band == "senior":
        allowed = set(school.eligibility_on(day).senior_categories)
        return any(category in allowed for category in child.categories_on(day))
    return True


def has_voucher_if_required(child: Child, school: School, day: date, band: Band) -> bool:
    if not school.eligibility_on(day).voucher_required.for_band(band):
        return True
    return any(
        v.school_year == school_year_of(day) and v.activated_on is not None
        and v.activated_on <= day and (v.revoked_on is None or day < v.revoked_on)
        for v in child.vouchers.values())


def entitled(child: Child, school: School, day: date) -> bool:
    """Entitled to a funded meal that day."""
    if not on_list(child, school, day) or any(p.covers(day) for p in child.home_schooling):
        return False
    placement = child.placement_on(day)
    assert placement is not None  # on_list checked it
    return has_voucher_if_required(child, school, day, band_of(placement.grade))


def _entitled_here(child: Child, school: School, day: date, band: Band, rate: int | None) -> bool:
    """`entitled` for a child the gate checks let in here (placed at this school that day,
    consent in force), given the band's rate: what is left of `on_list`, then the rest."""
    if rate is None:
        return False
    if band == "senior":
        allowed = set(school.eligibility_on(day).senior_categories)
        if not any(category in allowed for category in child.categories_on(day)):
            return False
    if any(p.covers(day) for p in child.home_schooling):
        return False
    return has_voucher_if_required(child, school, day, band)


def _gate_checks(child: Child, school: School, day: date) -> str | None:
    if not child.consent_in_force(day):
        return "no_consent"
    placement = child.placement_on(day)
    if placement is None:
        return "not_enrolled"
    if placement.school_id != school.school_id:
        return "wrong_school"
    return None


def _items(menu: Menu | None, item_ids: tuple[str, ...] | None) -> tuple[list[MenuItem], str | None]:
    if item_ids is None:
        free = next((i for i in menu.items.values() if i.free_meal), None) if menu is not None else None
        return ([free], None) if free is not None else ([], "no_free_meal_item")
    if menu is None or any(item_id not in menu.items for item_id in item_ids):
        return [], "unknown_item"
    return [menu.items[item_id] for item_id in item_ids], None


def decide_meal(
    child: Child,
    school: School,
    day: date,
    menu: Menu | None,
    item_ids: tuple[str, ...] | None,
    *,
    free_meal_taken: bool,
    balance_kzt: int,
) -> MealDecision:
    """The online decision for a child's meal scan at this school's canteen."""
    refusal = _gate_checks(child, school, day)
    if refusal is None and not school.is_school_day(day):
        refusal = "not_school_day"
    items, item_refusal = _items(menu, item_ids)
    refusal = refusal or item_refusal
    if refusal is None and child.allergens and any(
            set(item.allergens) & set(child.allergens) for item in items):
        refusal = "allergen_restriction"
    if refusal is not None:
        return MealDecision(refused=refusal)
    band = band_of(child.placement_on(day).grade)  # type: ignore[union-attr]
    rate = school.rate_on(band, day)
    rate_kzt = rate or 0
    wants_free = any(item.free_meal for item in items)
    is_entitled = _entitled_here(child, school, day, band, rate)
    if is_entitled and wants_free and free_meal_taken:
        return MealDecision(refused="already_served", band=band)
    fund = is_entitled and wants_free and rate_kzt > 0
    served, paid_kzt, funded_done = [], 0, False
    for item in items:
        funded = fund and item.free_meal and not funded_done
        funded_done = funded_done or funded
        paid_kzt += 0 if funded else item.price_kzt
        served.append(ServedItem(item.item_id, item.name, item.price_kzt, funded))
    if paid_kzt > 0 and balance_kzt - paid_kzt < -school.overdraft_limit_kzt:
        return MealDecision(refused="insufficient_balance", band=band)
    return MealDecision(
        funding="funded" if fund else "paid",
        funded_kzt=rate_kzt if fund else 0,
        rate_kzt=rate_kzt,
        paid_kzt=paid_kzt,
        items=tuple(served),
        takes_free_meal=fund,
        band=band,
    )


def decide_offline_meal(
    child: Child,
    school: School,
    day: date,
    menu: Menu | None,
    item_ids: tuple[str, ...] | None,
    offline: OfflineDecision,
    *,
    free_meal_taken: bool,
    balance_kzt: int,
) -> MealDecision:
    """A meal a terminal served while offline is a fact: record it, fund it only where the
    rules allow, flag every disagreement, and never pay the tenant twice for one child-day."""
    online = decide_meal(
        child, school, day, menu, item_ids, free_meal_taken=free_meal_taken, balance_kzt=balance_kzt
    )
    if offline.outcome == "funded" and online.refused is None and online.funding == "funded":
        return online  # agreed (an online decision carries no flags)
    items, _ = _items(menu, item_ids)
    placement = child.placement_on(day)
    band = band_of(placement.grade) if placement else band_of(child.current.grade)
    rate_kzt = school.rate_on(band, day) or 0
    if offline.outcome == "funded":
        reason = online.refused or "not_entitled"
        served = tuple(ServedItem(i.item_id, i.name, i.price_kzt, False) for i in items)
        return MealDecision(funding="unfunded", rate_kzt=rate_kzt, items=served,
                            flags=("offline_unfunded", reason), band=band)
    # offline "paid": the food is gone; charge it, flag what the server would have refused
    served = tuple(ServedItem(i.item_id, i.name, i.price_kzt, False) for i in items)
    # the menu's prices are the ledger's truth; the terminal's figure is kept as a flag
    price_kzt = sum(i.price_kzt for i in items) if items else offline.amount_kzt
    flags: tuple[str, ...] = ()
    if online.refused == "insufficient_balance" or (
            online.refused is None and balance_kzt - price_kzt < -school.overdraft_limit_kzt):
        flags = ("offline_overdraft",)
    elif online.refused is not None:
        flags = ("offline_disputed", online.refused)
    if items and offline.amount_kzt and offline.amount_kzt != price_kzt:
        flags += ("offline_amount_differs",)
    return MealDecision(funding="paid", rate_kzt=rate_kzt, paid_kzt=price_kzt, items=served,
                        flags=flags, band=band)


def gate_refusal(child: Child, school: School, day: date) -> str | None:
    return _gate_checks(child, school, day)
