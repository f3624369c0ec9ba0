"""The export data model refuses data a writer could not print truthfully."""

from __future__ import annotations

from datetime import date, datetime

import msgspec
import pytest

from exports.model import (Adjustment, ClassSheet, ExportDataError, MealRegister, PupilRow,
                           RegionalSavings, SchoolMonthSaving, SchoolSaving, StatementRow,
                           TenantStatement)
from exports.samples import sample_register, sample_savings, sample_statement


def test_a_row_whose_amount_is_not_meals_times_rate_is_refused() -> None:
    # 145,500 is not a whole number of 710-tenge meals (the domain brief's example)
    with pytest.raises(ExportDataError, match="amount_kzt 145500 != meals 205 x rate_kzt 710"):
        StatementRow(date(2025, 9, 1), "senior", "ЖБҚ", 205, 710, 145_500)


def test_a_statement_row_outside_the_month_is_refused() -> None:
    data = sample_statement()
    stray = StatementRow(date(2025, 10, 1), "primary", "x", 1, 585, 585)
    with pytest.raises(ExportDataError, match="outside month 2025-09"):
        msgspec.structs.replace(data, rows=(*data.rows, stray))


def test_a_naive_generated_at_or_a_bad_month_is_refused() -> None:
    data = sample_statement()
    with pytest.raises(ExportDataError, match="timezone-aware"):
        msgspec.structs.replace(data, generated_at=datetime(2025, 10, 1))
    with pytest.raises(ExportDataError, match="YYYY-MM"):
        msgspec.structs.replace(data, month="2025-9")
    with pytest.raises(ExportDataError, match="YYYY-MM"):
        Adjustment("r", date(2025, 8, 1), "d", 1, "August")


def test_a_register_mark_on_a_day_that_is_not_a_school_day_is_refused() -> None:
    base = sample_register(pupils=1)
    pupil = PupilRow("c1", "A", {date(2025, 9, 6): "funded"})  # a Saturday
    with pytest.raises(ExportDataError, match="not a school day"):
        MealRegister(base.school, base.month, base.school_days, (ClassSheet("1А", (pupil,)),),
                     base.generated_at)


def test_register_school_days_must_be_sorted_and_distinct() -> None:
    base = sample_register(pupils=1)
    with pytest.raises(ExportDataError, match="sorted and distinct"):
        msgspec.structs.replace(base, school_days=tuple(reversed(base.school_days)))


def test_a_saving_that_is_not_planned_minus_actual_is_refused() -> None:
    with pytest.raises(ExportDataError, match="saving_kzt 5 != planned_kzt 10 - actual_kzt 4"):
        SchoolSaving("s", "S", "D", 10, 4, 5)


def test_monthly_savings_must_add_up_to_the_school_rows() -> None:
    data = sample_savings(schools=2, months=2)
    extra = SchoolMonthSaving(data.schools[0].school_id, data.months[0], 100, 0, 100)
    with pytest.raises(ExportDataError, match="sum to"):
        msgspec.structs.replace(data, monthly=(*data.monthly, extra))
    with pytest.raises(ExportDataError, match="months must not be empty"):
        RegionalSavings(data.region, (), data.schools, data.generated_at)


def test_decoding_untrusted_json_applies_the_range_constraints() -> None:
    raw = msgspec.json.encode(sample_statement())
    tampered = raw.replace(b'"paid_kzt":', b'"paid_kzt":-', 1)
    with pytest.raises(msgspec.ValidationError, match="paid_kzt"):
        msgspec.json.decode(tampered, type=TenantStatement)
