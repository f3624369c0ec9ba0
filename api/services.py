"""What the HTTP layer runs on: the ledger, the read models (kept up to date in a background
thread), the scratch replays for as-of questions, and the batching writer."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from api.writer import BatchingWriter
from ledger.settings import Settings
from ledger.sqldb import Cursor
from ledger.store import close_ledger, open_ledger
from projections import build_runner
from projections.pointintime import Scratch, position_at

log = logging.getLogger("tamaq.api")
READ_WAIT_S = 2.0
SEAL_CHECK_S = 3_600.0
REVOKED_REFRESH_S = 1.0


class Services:
    def __init__(self, settings: Settings, ledger: Any = None) -> None:
        self.settings = settings
        self.ledger = ledger or open_ledger(settings.database_url, time_zone=settings.time_zone)
        self.runner = build_runner(self.ledger)
        self.scratch = Scratch(self.ledger)
        self.writer = BatchingWriter(self.ledger)
        self._revoked: set[str] = set()
        self._revoked_at = 0.0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._sealer: threading.Thread | None = None

    @property
    def storage(self) -> str:
        return str(getattr(self.ledger, "store_kind", "memory"))

    def start(self) -> None:
        self.runner.start()
        self.writer.start()
        self._stopping.clear()
        self._sealer = threading.Thread(target=self._seal_loop, name="tamaq-sealer", daemon=True)
        self._sealer.start()

    def stop(self) -> None:
        self._stopping.set()
        self.writer.stop()
        self.runner.stop()

    def close(self) -> None:
        self.stop()
        close_ledger(self.ledger)

    def head(self) -> int:
        return int(self.ledger.recorder.max_notification_id() or 0)

    @contextmanager
    def read(self, as_of: datetime | None = None) -> Iterator[Cursor]:
        """A consistent view of the read models, caught up with every write acknowledged
        before the call (bounded wait), or as of an instant (replayed into scratch)."""
        if as_of is not None:
            db = self.scratch.at(position_at(self.ledger, as_of))
            with db.read() as cur:
                yield cur
            return
        self.runner.wait_for(self.head(), timeout_s=READ_WAIT_S)
        with self.runner.db.read() as cur:
            yield cur

    def savings_as_of(self, at: Any, subject_id: str, month: str, instant: datetime) -> Any:
        """Savings as the ledger knew them at an instant: from the read models' history
        (milliseconds), or replayed into a scratch store where history does not reach."""
        self.runner.wait_for(self.head(), timeout_s=READ_WAIT_S)
        return at(self.runner.db, self.scratch, subject_id, month,
                  position_at(self.ledger, instant))

    def chain_head_at(self, position: int) -> str | None:
        """The chain link of the event at `position`: with the position, it names exactly
        which history a report was computed from."""
        if position <= 0:
            return None
        from ledger.persistence.chain import iter_events_with_links

        rows = list(iter_events_with_links(self.ledger.recorder, after=position - 1, limit=1))
        return bytes(rows[0][-1]).hex() if rows and rows[0][-1] else None

    def _seal_loop(self) -> None:
        """Seal the chain head once a day (local date), as an event."""
        from ledger.audit import seal_today
        from ledger.dates import local_day, utc_now

        while not self._stopping.is_set():
            try:
                if self.head() > 0:
                    seal_today(self.ledger, local_day(utc_now(), self.settings.time_zone),
                               self.settings.seal_key_file)
            except Exception:  # retried at the next turn; verify reports a missing seal
                log.exception("daily seal failed")
            self._stopping.wait(SEAL_CHECK_S)

    def is_revoked(self, token_id: str) -> bool:
        now = time.monotonic()
        if now - self._revoked_at > REVOKED_REFRESH_S:
            with self._lock, self.runner.db.read() as cur:
                # revocations are for good: add what the read model knows, never drop what
                # this process revoked before the read model caught up
                known = cur.fetchall("SELECT token_id FROM pm_revoked_token")
                self._revoked |= {row[0] for row in known}
                self._revoked_at = now
        return token_id in self._revoked

    def revoked_now(self, token_id: str) -> None:
        with self._lock:
            self._revoked.add(token_id)
