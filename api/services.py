"""What the HTTP layer runs on: the ledger, the read models, the scratch replays for as-of
questions, and the batching writer.

The read models are kept current either by a thread of this process (`read_models="thread"`:
tests, the memory store) or by the read-model process that `tamaq serve` starts
(`read_models="process"`, api/workers.py): then this process only reads their tables, and
read-your-writes polls their tracking position in the database."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Literal

from api.writer import BatchingWriter
from ledger.settings import Settings
from ledger.sqldb import Cursor
from ledger.store import close_ledger, open_ledger
from projections import NAMES, build_runner
from projections.pointintime import Scratch, position_at
from projections.runner import WAIT_TIMEOUT_S_MAX

log = logging.getLogger("tamaq.api")
ReadModels = Literal["thread", "process"]
READ_WAIT_S = 2.0
SEAL_CHECK_S = 3_600.0
REVOKED_REFRESH_S = 1.0
REVOKED_MARGIN_S = 0.05
POLL_S_MIN = 0.001  # first recheck of the read models' position: they are usually ~ms behind
POLL_S_MAX = 0.02  # the read-model process applies new events every 50 ms (FOLLOW_PACE_S)


class FollowedReadModels:
    """The read models as another process keeps them: the same tables, read here; how far they
    got is their tracking position, polled with a short backoff. Duck-types the parts of
    projections.runner.Runner the API uses (`db`, `wait_for`, `position_cache`, `head`)."""

    def __init__(self, ledger: Any) -> None:
        self.ledger = ledger
        self.db = ledger.side_db
        self._known = 0  # the highest position any caller saw: positions only grow

    @property
    def position_cache(self) -> int:
        return self.position()

    def position(self) -> int:
        """Every read model has reached this position (0 before the tables exist)."""
        marks = ", ".join("?" for _ in NAMES)
        with self.db.read() as cur:
            row = cur.fetchone(f"SELECT MIN(position), COUNT(*) FROM pm_tracking "
                               f"WHERE name IN ({marks})", NAMES)
        found = int(row[0]) if row is not None and row[1] == len(NAMES) else 0
        self._known = max(self._known, found)
        return found

    def head(self) -> int:
        return int(self.ledger.recorder.max_notification_id() or 0)

    def wait_for(self, position: int | None = None, timeout_s: float = READ_WAIT_S) -> bool:
        """Read-your-writes: wait (bounded) until every read model reached `position`
        (default: the current head of the log)."""
        target = self.head() if position is None else position
        if self._known >= target:
            return True
        deadline = time.monotonic() + min(timeout_s, WAIT_TIMEOUT_S_MAX)
        pause = POLL_S_MIN
        while self.position() < target:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            time.sleep(min(pause, remaining))
            pause = min(pause * 2, POLL_S_MAX)
        return True


class Services:
    def __init__(self, settings: Settings, ledger: Any = None, *,
                 read_models: ReadModels = "thread", serve_pid: int | None = None,
                 peers: bool = False) -> None:
        self.settings = settings
        self.peers = peers  # other HTTP processes serve the same store (`serve --workers N`)
        self.ledger = ledger or open_ledger(settings.database_url, time_zone=settings.time_zone)
        self.read_models = read_models
        self.runner: Any = (build_runner(self.ledger) if read_models == "thread"
                            else FollowedReadModels(self.ledger))
        self.serve_pid = serve_pid or os.getpid()  # /health: which server answered
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
        """The writer; in thread mode also the read models and the daily seal (in process
        mode the read-model process seals: one sealer per server)."""
        self.writer.start()
        if self.read_models != "thread":
            return
        self.runner.start()
        self._stopping.clear()
        self._sealer = threading.Thread(target=seal_daily, name="tamaq-sealer", daemon=True,
                                        args=(self.ledger, self.settings, self._stopping))
        self._sealer.start()

    def stop(self) -> None:
        self._stopping.set()
        self.writer.stop()
        if self.read_models == "thread":
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
        """Refused here at once. With peers, answer only once every peer refuses it too: the
        revocation is in the read model, and every peer's copy is older than that must be
        refreshed before its next request (one REVOKED_REFRESH_S)."""
        with self._lock:
            self._revoked.add(token_id)
        if self.peers:
            self.runner.wait_for(timeout_s=WAIT_TIMEOUT_S_MAX)
            time.sleep(REVOKED_REFRESH_S + REVOKED_MARGIN_S)


def seal_daily(ledger: Any, settings: Settings, stopping: threading.Event) -> None:
    """Seal the chain head once a day (local date), as an event, until `stopping` is set."""
    from ledger.audit import seal_today
    from ledger.dates import local_day, utc_now

    while not stopping.is_set():
        try:
            if ledger.recorder.max_notification_id():
                seal_today(ledger, local_day(utc_now(), settings.time_zone),
                           settings.seal_key_file)
        except Exception:  # retried at the next turn; verify reports a missing seal
            log.exception("daily seal failed")
        stopping.wait(SEAL_CHECK_S)
