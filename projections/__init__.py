"""Read models fed from the event log (see runner.py for the mechanism)."""

from __future__ import annotations

from typing import Any

from ledger.sqldb import SideDatabase
from projections.lists import Lists
from projections.runner import Projection, Runner
from projections.simple import Attendance, Balances, Directory, Meals, Months

NAMES = ("directory", "balances", "lists", "meals", "attendance", "months")


def all_projections(ledger: Any) -> list[Projection]:
    return [Directory(), Balances(), Lists(ledger), Meals(), Attendance(), Months()]


def build_runner(ledger: Any, db: SideDatabase | None = None, *, until: int | None = None
                 ) -> Runner:
    side_db = db if db is not None else ledger.side_db
    return Runner(ledger, side_db, all_projections(ledger), until=until)


__all__ = ["NAMES", "Runner", "all_projections", "build_runner"]
