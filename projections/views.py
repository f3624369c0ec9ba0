"""Response shapes of the read models (msgspec Structs, shared by the API and the exports)."""

from __future__ import annotations

from typing import Literal

import msgspec

SOURCES = {"primary": "state_budget", "senior": "education_fund", "preschool": "local_budget"}


class Movement(msgspec.Struct, frozen=True):
    position: int
    at: str
    kind: str
    amount_kzt: int
    ref: str


class Balance(msgspec.Struct, frozen=True):
    child_id: str
    balance_kzt: int
    movements: list[Movement]
    position: int


class ListedChild(msgspec.Struct, frozen=True):
    child_id: str
    band: str
    grade: int
    class_name: str
    categories: list[str]
    on_list: bool
    entitled: bool
    home_schooled: bool
    voucher_assigned: bool
    voucher_active: bool
    funding_source: str


class Count(msgspec.Struct, frozen=True):
    key: str
    on_list: int
    entitled: int


class Entitlements(msgspec.Struct, frozen=True):
    school_id: str
    date: str
    school_day: bool
    children: list[ListedChild]
    by_band: list[Count]
    by_grade: list[Count]
    by_category: list[Count]
    by_source: list[Count]
    voucher_not_activated: list[str]
    eligible_without_voucher: list[str]
    position: int


class CostLine(msgspec.Struct, frozen=True):
    band: str
    funding_source: str
    funded_meals: int
    rate_kzt: int
    funded_kzt: int
    paid_meals: int
    paid_kzt: int
    unfunded_meals: int


class DailyCost(msgspec.Struct, frozen=True):
    school_id: str
    date: str
    lines: list[CostLine]
    funded_kzt: int
    paid_kzt: int
    refusals: dict[str, int]
    position: int


class BandSavings(msgspec.Struct, frozen=True):
    band: str
    funding_source: str
    list_child_days: int
    planned_kzt: int
    funded_meals: int
    funded_kzt: int
    home_schooled_days: int
    allowance_kzt: int
    actual_kzt: int
    saving_kzt: int


class SchoolSavings(msgspec.Struct, frozen=True):
    school_id: str
    month: str
    school_days: int
    bands: list[BandSavings]
    planned_kzt: int
    actual_kzt: int
    saving_kzt: int
    saving_percent: float
    position: int
    as_of: str | None = None
    chain_head: str | None = None


class SchoolSavingsRow(msgspec.Struct, frozen=True):
    school_id: str
    name: str
    district: str
    school_days: int
    planned_kzt: int
    actual_kzt: int
    saving_kzt: int
    saving_percent: float


class DistrictSavings(msgspec.Struct, frozen=True):
    district: str
    planned_kzt: int
    actual_kzt: int
    saving_kzt: int


class RegionSavings(msgspec.Struct, frozen=True):
    region_id: str
    month: str
    schools: list[SchoolSavingsRow]
    districts: list[DistrictSavings]
    planned_kzt: int
    actual_kzt: int
    saving_kzt: int
    saving_percent: float
    position: int
    as_of: str | None = None
    chain_head: str | None = None


class PersonDay(msgspec.Struct, frozen=True):
    person_kind: Literal["pupil", "staff"]
    person_id: str
    first_in: str | None
    last_out: str | None
    passes: int


class AttendanceDay(msgspec.Struct, frozen=True):
    school_id: str
    date: str
    people: list[PersonDay]
    pupils_present: int
    staff_present: int
    position: int


class StatementLine(msgspec.Struct, frozen=True):
    day: str
    band: str
    funding_source: str
    meals: int
    rate_kzt: int
    amount_kzt: int


class StatementAdjustment(msgspec.Struct, frozen=True):
    meal_id: str
    event_id: str
    day: str
    band: str
    amount_kzt: int
    description: str


class Allowance(msgspec.Struct, frozen=True):
    child_id: str
    band: str
    days: int
    amount_kzt: int


class TenantStatement(msgspec.Struct, frozen=True):
    school_id: str
    month: str
    closed: bool
    position: int
    lines: list[StatementLine]
    adjustments: list[StatementAdjustment]
    allowances: list[Allowance]
    meals_kzt: int
    adjustments_kzt: int
    total_kzt: int
    allowances_kzt: int
    paid_kzt: int
    outstanding_kzt: int
    flags: list[str]
    chain_head: str | None = None


class Anomaly(msgspec.Struct, frozen=True):
    kind: str
    day: str
    subject: str
    detail: str
    refs: list[str]


class MealRow(msgspec.Struct, frozen=True):
    event_id: str
    terminal_id: str
    day: str
    at: str
    funding: str
    funded_kzt: int
    paid_kzt: int
    items: list[dict[str, object]]
    offline: bool
    flags: list[str]
    voided: bool


class PassRow(msgspec.Struct, frozen=True):
    day: str
    at: str
    direction: str
    method: str


def percent(saving_kzt: int, planned_kzt: int) -> float:
    return round(100.0 * saving_kzt / planned_kzt, 1) if planned_kzt else 0.0


class FiledReport(msgspec.Struct, frozen=True):
    kind: str
    filed_at: str
    sha256: str
    position: int
    chain_head: str
    late: bool


class SchoolFilings(msgspec.Struct, frozen=True):
    school_id: str
    name: str
    district: str
    filed: list[FiledReport]
    missing: list[str]
    late: bool


class RegionFilings(msgspec.Struct, frozen=True):
    region_id: str
    month: str
    due: str
    schools: list[SchoolFilings]
    late_schools: int
