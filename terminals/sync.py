"""Background delivery of the journal and refresh of the offline cache.

In order, in batches of at most ``sync_batch_max``: every answered item (recorded,
duplicate or refused) is acknowledged in the journal. A batch the server rejects as a whole
(a 4xx other than 401/403) is retried one item at a time so one bad item cannot block the
rest; an item rejected on its own is acknowledged as ``rejected`` and logged.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

from terminals.client import EventItem, EventResult, ServerAuthError, ServerClient, ServerRejected, ServerUnavailable
from terminals.journal import JournalError
from terminals.offline import OfflineView

if TYPE_CHECKING:
    from terminals.gateway import Gateway

log = logging.getLogger("tamaq.terminals.sync")
RETRY_S_MAX = 5.0


class Syncer:
    def __init__(self, gateway: Gateway, client: ServerClient) -> None:
        self.gateway, self.client = gateway, client
        self._thread: threading.Thread | None = None
        self._cache_fetched_mono: float | None = None
        self._retry_s = gateway.config.sync_interval_s
        self.batches = 0
        self.synced = 0

    def start(self, stop: threading.Event) -> None:
        self._thread = threading.Thread(target=self._run, args=(stop,), name="tamaq-sync", daemon=True)
        self._thread.start()

    def join(self) -> None:
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                busy = self.step()
            except Exception:  # the sync thread must survive anything and try again
                log.exception("sync step failed")
                busy = False
            if not busy:
                stop.wait(self._retry_s)

    def step(self) -> bool:
        """One batch or one cache refresh; True when there is more to do right away."""
        pending = self.gateway.journal.pending(self.gateway.config.sync_batch_max)
        if pending:
            return self._send(pending)
        config = self.gateway.config
        stale = (self._cache_fetched_mono is None
                 or time.monotonic() - self._cache_fetched_mono > config.cache_refresh_s)
        if stale or not self.gateway.online.is_set():
            self.refresh_cache()
        return False

    def _send(self, batch: list[EventItem]) -> bool:
        try:
            results = self.client.post_events(batch)
        except (ServerUnavailable, ServerAuthError) as e:
            self._failed(f"sync of {len(batch)} events: {e}")
            return False
        except ServerRejected as e:
            log.error("batch of %d rejected (%s); sending one at a time", len(batch), e)
            one_by_one = self._one_by_one(batch)
            if one_by_one is None:
                return False
            results = one_by_one
        self._acked(results)
        return True

    def _one_by_one(self, batch: list[EventItem]) -> list[EventResult] | None:
        results: list[EventResult] = []
        for item in batch:
            try:
                results.extend(self.client.post_events([item]))
            except ServerRejected as e:
                log.error("event %s rejected by server, set aside: %s", item.event_id, e)
                results.append(EventResult(event_id=item.event_id, status="refused", reason="rejected"))
            except (ServerUnavailable, ServerAuthError) as e:
                self._acked(results)
                self._failed(f"sync: {e}")
                return None
        return results

    def _acked(self, results: list[EventResult]) -> None:
        if not results:
            return
        self.gateway.journal.mark_acked(results)
        self.batches += 1
        self.synced += len(results)
        flagged = sum(r.flagged for r in results)
        log.info("synced %d events (%d flagged by server)", len(results), flagged)
        self._retry_s = self.gateway.config.sync_interval_s

    def _failed(self, why: str) -> None:
        self.gateway.go_offline(why)
        self._retry_s = min(max(self._retry_s * 2, self.gateway.config.sync_interval_s), RETRY_S_MAX)

    def refresh_cache(self) -> bool:
        fetched_at = time.time()
        try:
            cache = self.client.get_cache()
        except (ServerUnavailable, ServerAuthError, ServerRejected) as e:
            self._failed(f"cache refresh: {e}")
            return False
        journal = self.gateway.journal
        if journal.pending_count():
            return False  # offline decisions raced in: refresh after they are synced
        try:
            journal.save_cache(cache, fetched_at)
        except JournalError as e:
            log.error("cache not saved: %s", e)
            return False
        self.gateway.replace_view(OfflineView(cache, journal.overlay()))
        self._cache_fetched_mono = time.monotonic()
        self._retry_s = self.gateway.config.sync_interval_s
        if not self.gateway.online.is_set():
            log.info("online again: journal synced, cache of %s refreshed (%d identifiers)",
                     cache.date, len(cache.identifiers))
            self.gateway.online.set()
        return True
