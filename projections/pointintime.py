"""Reports as of an instant: what the ledger knew then.

Chosen approach: replay the log up to the last event recorded at or before the instant into a
scratch in-memory read-model store, with the same projection code (so the figures cannot
differ from the live ones by construction). Measured in BENCHMARKS.md."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime
from typing import Any

from ledger.mapper import decode_stored
from ledger.sqldb import SideDatabase
from projections.runner import Runner

SCRATCH_CACHE_MAX = 4


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

    def __init__(self, ledger: Any) -> None:
        self.ledger = ledger
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
            runner = Runner(self.ledger, db, all_projections(self.ledger), until=position)
            if position > 0:
                runner.catch_up(progress)
            self._cache[position] = db
            while len(self._cache) > SCRATCH_CACHE_MAX:
                _, old = self._cache.popitem(last=False)
                old.close()
            return db
