"""Reports as of an instant: what the ledger knew then.

Chosen approach: replay the log up to the last event recorded at or before the instant into a
scratch in-memory read-model store, with the same projection code (so the figures cannot
differ from the live ones by construction). Only the read models the as-of reports read are
replayed (`AS_OF_NAMES`: savings, entitlements, daily cost, statements); the runner then
decodes no gate pass or wallet event at all. A query on another read model's table
fails with "no such table" rather than answering from nothing.
Measured in bench/projections_bench.py (as-of replay)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from ledger.mapper import decode_stored
from ledger.sqldb import SideDatabase
from projections import history, reports
from projections.runner import Runner
from projections.views import RegionSavings, SchoolSavings

SCRATCH_CACHE_MAX = 4
AS_OF_NAMES: tuple[str, ...] = ("directory", "lists", "meals")


def position_at(ledger: Any, instant: datetime) -> int:
    """The last log position whose event was recorded at or before `instant`."""
    recorder = ledger.recorder
    low, high = 0, recorder.max_notification_id() or 0
    while low < high:
        mid = (low + high + 1) // 2
        found = recorder.select_notifications(start=mid, limit=1)
        if not found:
            high = mid - 1
            continue
        note = found[0]
        if decode_stored(note.topic, note.state).timestamp <= instant:
            low = note.id if note.id >= mid else mid
        else:
            high = mid - 1
    return low


class Scratch:
    """Read models rebuilt up to a position, kept for a few repeated questions."""

    def __init__(self, ledger: Any, names: Sequence[str] | None = AS_OF_NAMES) -> None:
        """`names`: the read models to replay (None: all of them)."""
        self.ledger = ledger
        self.names = tuple(names) if names is not None else None
        self._cache: OrderedDict[int, SideDatabase] = OrderedDict()
        self._lock = threading.Lock()

    def at(self, position: int, progress: Callable[[int, int], None] | None = None
           ) -> SideDatabase:
        from projections import all_projections

        with self._lock:
            if position in self._cache:
                self._cache.move_to_end(position)
                return self._cache[position]
            db = SideDatabase("sqlite", sqlite_path=":memory:")
            chosen = [p for p in all_projections(self.ledger)
                      if self.names is None or p.name in self.names]
            runner = Runner(self.ledger, db, chosen, until=position)
            if position > 0:
                runner.catch_up(progress)
            self._cache[position] = db
            while len(self._cache) > SCRATCH_CACHE_MAX:
                _, old = self._cache.popitem(last=False)
                old.close()
            return db


def school_savings_at(live: SideDatabase, scratch: Scratch, school_id: str, month: str,
                      position: int) -> SchoolSavings:
    """Savings as of a position: from the live read models' history when it reaches back
    there (milliseconds), else replayed into the scratch store."""
    with live.read() as cur:
        try:
            return history.school_savings_as_of(cur, school_id, month, position)
        except history.HistoryUnavailable:
            pass
    with scratch.at(position).read() as cur:
        return reports.school_savings(cur, school_id, month)


def region_savings_at(live: SideDatabase, scratch: Scratch, region_id: str, month: str,
                      position: int) -> RegionSavings:
    with live.read() as cur:
        try:
            return history.region_savings_as_of(cur, region_id, month, position)
        except history.HistoryUnavailable:
            pass
    with scratch.at(position).read() as cur:
        return reports.region_savings(cur, region_id, month)
