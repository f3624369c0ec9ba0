"""The ledger: every use case on one eventsourcing application."""

from __future__ import annotations

from ledger.application import LedgerApplication
from ledger.child_cases import ChildCases
from ledger.month_cases import MonthCases
from ledger.scans import ScanCases
from ledger.setup_cases import SetupCases


class Ledger(SetupCases, ChildCases, ScanCases, MonthCases, LedgerApplication):
    """Use cases are grouped by subject in mixins; the write path is LedgerApplication.run."""

    run = LedgerApplication.run
    run_deferred = LedgerApplication.run_deferred
    run_overlapped = LedgerApplication.run_overlapped
    finish_overlapped = LedgerApplication.finish_overlapped
