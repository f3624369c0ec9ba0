"""One writer drains a bounded queue of scan requests and decides them together, in order, in
one transaction (TigerBeetle-style batching). Every rule and every idempotency guarantee still
holds, because the ledger decides the items one after another inside the unit of work; only
the commit is shared. A request is answered only after that commit."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from typing import Any

from ledger.scans import ItemOutcome, TerminalItem

log = logging.getLogger("tamaq.writer")
QUEUE_REQUESTS_MAX = 10_000
BATCH_ITEMS_MAX = 2_000


class WriterBusy(Exception):
    """The queue is full: the server is overloaded; the terminal should retry shortly."""


class BatchingWriter:
    def __init__(self, ledger: Any, *, batch_items_max: int = BATCH_ITEMS_MAX) -> None:
        self.ledger = ledger
        self.batch_items_max = batch_items_max
        self._queue: queue.Queue[tuple[str, Sequence[TerminalItem], Future[Any]] | None] = (
            queue.Queue(maxsize=QUEUE_REQUESTS_MAX))
        self._thread: threading.Thread | None = None
        self.batches = 0
        self.requests = 0

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="tamaq-writer", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=10)
            self._thread = None

    def submit(self, terminal_id: str, items: Sequence[TerminalItem]) -> Future[list[ItemOutcome]]:
        future: Future[list[ItemOutcome]] = Future()
        if self._thread is None:  # no writer thread (tests, CLI): decide in this thread
            try:
                future.set_result(self.ledger.record_terminal_events(terminal_id, items))
            except Exception as error:  # handed to the caller through the future
                future.set_exception(error)
            return future
        try:
            self._queue.put_nowait((terminal_id, items, future))
        except queue.Full:
            raise WriterBusy("the ledger's write queue is full; retry in a moment") from None
        return future

    def _take(self) -> list[tuple[str, Sequence[TerminalItem], Future[Any]]] | None:
        first = self._queue.get()
        if first is None:
            return None
        taken, count = [first], len(first[1])
        while count < self.batch_items_max:
            try:
                nxt = self._queue.get_nowait()
            except queue.Empty:
                break
            if nxt is None:
                self._queue.put(None)
                break
            taken.append(nxt)
            count += len(nxt[1])
        return taken

    def _loop(self) -> None:
        while True:
            taken = self._take()
            if taken is None:
                return
            self.batches += 1
            self.requests += len(taken)
            try:
                self._decide(taken)
            except BaseException as error:  # never let the writer die silently
                log.exception("writer batch failed")
                for _, _, future in taken:
                    if not future.done():
                        future.set_exception(error)

    def _decide(self, taken: list[tuple[str, Sequence[TerminalItem], Future[Any]]]) -> None:
        scans = [(terminal_id, item) for terminal_id, items, _ in taken for item in items]
        try:
            outcomes = self.ledger.record_scans(scans)
        except Exception:
            # one request's error must not fail the others: decide them one by one
            for terminal_id, items, future in taken:
                try:
                    future.set_result(self.ledger.record_scans([(terminal_id, i) for i in items]))
                except Exception as error:
                    future.set_exception(error)
            return
        start = 0
        for _, items, future in taken:
            future.set_result(outcomes[start:start + len(items)])
            start += len(items)
