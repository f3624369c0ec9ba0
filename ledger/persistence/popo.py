"""In-memory persistence with the hash chain: PERSISTENCE_MODULE=ledger.persistence.popo.

eventsourcing's POPO recorders, with links kept in a list beside the events (index =
notification id - 1), appended under the recorder's own database lock. For tests and
demos; nothing survives the process.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing import popo as es_popo
from eventsourcing.persistence import ApplicationRecorder, ProcessRecorder, StoredEvent

from ledger.persistence.links import GENESIS, chained_recorder_class, link_rows


class ChainedPOPOApplicationRecorder(es_popo.POPOApplicationRecorder):
    """POPOApplicationRecorder that keeps a chain link per event in memory."""

    notification_ids_contiguous = True

    def __init__(self) -> None:
        super().__init__()
        self._links: list[bytes] = []

    def _update_table(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        # Called by _insert_events with the database lock held.
        notification_ids = super()._update_table(stored_events, **kwargs)
        if stored_events:
            head = self._links[-1] if self._links else GENESIS
            _, links = link_rows(len(self._links), head, notification_ids, stored_events)
            self._links.extend(links)
        return notification_ids

    def select_links(self, gt: int, lte: int | None, limit: int) -> list[tuple[int, bytes]]:
        with self._database_lock:
            stop = len(self._links) if lte is None else min(lte, len(self._links))
            first = max(gt, 0)
            return [(i + 1, self._links[i]) for i in range(first, min(stop, first + limit))]

    def select_last_link(self, before: int | None = None) -> tuple[int, bytes] | None:
        with self._database_lock:
            last = len(self._links) if before is None else min(before - 1, len(self._links))
            return (last, self._links[last - 1]) if last > 0 else None

    def chain_bounds(self) -> tuple[int, int]:
        with self._database_lock:
            return len(self._stored_events), len(self._links)


class ChainedPOPOProcessRecorder(ChainedPOPOApplicationRecorder, es_popo.POPOProcessRecorder):
    """POPOProcessRecorder (events + tracking) with the chain."""


class ChainedPOPOFactory(es_popo.POPOFactory):
    """eventsourcing's POPO factory, building chained application and process recorders."""

    def application_recorder(self) -> ApplicationRecorder:
        recorder_class = chained_recorder_class(
            self.env.get(self.APPLICATION_RECORDER_TOPIC), ChainedPOPOApplicationRecorder,
            ChainedPOPOApplicationRecorder, self.APPLICATION_RECORDER_TOPIC,
        )
        recorder: ChainedPOPOApplicationRecorder = recorder_class()
        return recorder

    def process_recorder(self) -> ProcessRecorder:
        recorder_class = chained_recorder_class(
            self.env.get(self.PROCESS_RECORDER_TOPIC), ChainedPOPOProcessRecorder,
            ChainedPOPOProcessRecorder, self.PROCESS_RECORDER_TOPIC,
        )
        recorder: ChainedPOPOProcessRecorder = recorder_class()
        return recorder


Factory = ChainedPOPOFactory
