"""National roll-up: each region keeps its own event store (a PostgreSQL schema or server);
the nation's savings are the sum of the regions' read models, never a second computation."""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from projections.views import RegionSavings, percent


class RegionLine(msgspec.Struct, frozen=True):
    region_id: str
    schools: int
    planned_kzt: int
    actual_kzt: int
    saving_kzt: int


class NationalSavings(msgspec.Struct, frozen=True):
    month: str
    regions: list[RegionLine]
    planned_kzt: int
    actual_kzt: int
    saving_kzt: int
    saving_percent: float


def national_savings(month: str, regions: Iterable[RegionSavings]) -> NationalSavings:
    lines = []
    for region in regions:
        if region.month != month:
            raise ValueError(f"region {region.region_id} reports {region.month}, not {month}")
        lines.append(RegionLine(region.region_id, len(region.schools), region.planned_kzt,
                                region.actual_kzt, region.saving_kzt))
    planned = sum(x.planned_kzt for x in lines)
    actual = sum(x.actual_kzt for x in lines)
    return NationalSavings(month, lines, planned, actual, planned - actual,
                           percent(planned - actual, planned))
