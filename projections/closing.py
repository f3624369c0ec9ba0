"""Closing a month: the statement is computed from the read models at one log position and
frozen in the ledger with that position, so meals recorded after it land, as adjustments, on
the next statement: each meal on exactly one statement."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

from ledger import records
from ledger.errors import RuleViolation
from projections.queries import tracked_position
from projections.reports import adjustments, allowances, open_months_before, statement_lines, tenant_statement
from projections.runner import Runner
from projections.views import TenantStatement


def close_month(ledger: Any, runner: Runner, school_id: str, month: str, closed_by: str,
                today: date | None = None) -> TenantStatement:
    runner.wait_for(timeout_s=10)
    with runner.db.read() as cur:
        earlier = open_months_before(cur, school_id, month)
        if earlier:
            raise RuleViolation(f"close {', '.join(earlier)} first: months close in order")
        upto = tracked_position(cur, "meals")
        lines = statement_lines(cur, school_id, month, upto)
        adj = adjustments(cur, school_id, month, upto)
        allow = allowances(cur, school_id, month)
    ledger.close_month(
        school_id, month,
        lines=[records.StatementLine(date.fromisoformat(x.day), x.band, x.meals,  # type: ignore[arg-type]
                                     x.rate_kzt, x.amount_kzt) for x in lines],
        adjustments=[records.Adjustment(UUID(a.meal_id), date.fromisoformat(a.day), a.band,  # type: ignore[arg-type]
                                        a.amount_kzt, a.description) for a in adj],
        allowances=[records.Allowance(a.child_id, a.band, a.days, a.amount_kzt)  # type: ignore[arg-type]
                    for a in allow],
        position=upto, closed_by=closed_by, today=today)
    runner.wait_for(timeout_s=10)
    with runner.db.read() as cur:
        return tenant_statement(cur, school_id, month)
