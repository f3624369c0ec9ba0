"""One writer drains a bounded queue of scan requests and decides them together, in order, in
one transaction (TigerBeetle-style batching). Every rule and every idempotency guarantee still
holds, because the ledger decides the items one after another inside the unit of work; only
the commit is shared. A request is answered only after that commit.

On PostgreSQL a batch's commit runs in the ledger's committer thread while the writer decides
the next batch on top of it (`LedgerApplication.run_deferred`): the next batch's insert waits
for that commit on the table lock (under the lease below: it runs at once, and only its
commit waits), and is committed only if that one was. A failed commit is
decided again, request by request, before the batch that followed it.

While requests keep coming the writer holds the store's lease (`LedgerApplication.hold_lease`):
it is then the only writer, so a batch's insert need not wait for the previous commit, and
its unit of work reads nothing it can know already. It lets the lease go when no request
has come for LEASE_IDLE_S, after a batch whose insert saw another writer waiting (another
worker, a payment from the CLI), and at the latest every LEASE_HOLD_MAX_S."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from typing import Any

from ledger.application import PreviousCommitFailed
from ledger.scans import ItemOutcome, TerminalItem

log = logging.getLogger("tamaq.writer")
QUEUE_REQUESTS_MAX = 10_000
BATCH_ITEMS_MAX = 2_000
LEASE_IDLE_S = 0.02
LEASE_HOLD_MAX_S = 0.25


Taken = list[tuple[str, Sequence[TerminalItem], "Future[Any] | LoopReply"]]
_WAKE: Any = object()  # queued by the committer thread when a commit failed


class WriterBusy(Exception):
    """The queue is full: the server is overloaded; the terminal should retry shortly."""


class BatchingWriter:
    def __init__(self, ledger: Any, *, batch_items_max: int = BATCH_ITEMS_MAX) -> None:
        self.ledger = ledger
        self.batch_items_max = batch_items_max
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=QUEUE_REQUESTS_MAX)
        self._thread: threading.Thread | None = None
        self.batches = 0
        self.requests = 0
        self._leased_at: float | None = None  # when the writer took the lease it holds

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
        self._put(terminal_id, items, future, future)
        return future

    def submit_awaitable(self, terminal_id: str,
                         items: Sequence[TerminalItem]) -> asyncio.Future[list[ItemOutcome]]:
        """`submit` for a coroutine on the running event loop: the answer is an asyncio
        future, and a batch's answers reach the loop in one call (a concurrent Future
        wrapped for the loop costs a wake-up and two callbacks a request: ~11 us of the
        server's CPU a request, measured)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[ItemOutcome]] = loop.create_future()
        self._put(terminal_id, items, future, LoopReply(loop, future))
        return future

    def _put(self, terminal_id: str, items: Sequence[TerminalItem], future: Any,
             reply: Future[Any] | LoopReply) -> None:
        """Queue a request the writer answers through `reply`; with no writer thread (tests,
        CLI) decide it in this thread and answer `future` at once."""
        if self._thread is None:
            try:
                future.set_result(self.ledger.record_terminal_events(terminal_id, items))
            except Exception as error:  # handed to the caller through the future
                future.set_exception(error)
            return
        try:
            self._queue.put_nowait((terminal_id, items, reply))
        except queue.Full:
            raise WriterBusy("the ledger's write queue is full; retry in a moment") from None

    def _take(self) -> Taken | None:
        """The next batch: what is queued, at least one request (an empty batch: a commit
        failed and the writer was woken to see to it); None: stop."""
        taken: Taken = []
        count = 0
        first = self._next()
        while first is _WAKE:
            if not self._queue.qsize():
                return taken
            first = self._queue.get()
        if first is None:
            return None
        taken.append(first)
        count += len(first[1])
        while count < self.batch_items_max:
            try:
                nxt = self._queue.get_nowait()
            except queue.Empty:
                break
            if nxt is _WAKE:
                continue  # the next save waits for the failed commit and says so
            if nxt is None:
                self._queue.put(None)
                break
            taken.append(nxt)
            count += len(nxt[1])
        return taken

    def _next(self) -> Any:
        """The next request; the lease goes once none has come for LEASE_IDLE_S."""
        if self._leased_at is not None:
            try:
                return self._queue.get(timeout=LEASE_IDLE_S)
            except queue.Empty:
                self._release()
        return self._queue.get()

    def _lease(self) -> None:
        hold = getattr(self.ledger, "hold_lease", None)
        if hold is None:
            return
        if self._leased_at is not None and not self.ledger.leased:
            self._leased_at = None  # lost (its connection broke): take it again
        if self._leased_at is not None and (
                self.ledger.lease_wanted
                or time.monotonic() - self._leased_at > LEASE_HOLD_MAX_S):
            self._release()  # let a waiting writer in; this one queues behind it
        if self._leased_at is None:
            try:
                if hold():
                    self._leased_at = time.monotonic()
            except Exception:  # the store is down: the batch's own save will say so
                log.warning("could not take the writer's lease", exc_info=True)

    def _release(self) -> None:
        self._leased_at = None
        try:
            self.ledger.release_lease()
        except Exception:
            log.warning("could not release the writer's lease", exc_info=True)

    def _wake(self) -> None:
        """From the committer thread: a commit failed; the writer must decide its batch again
        even if no request comes."""
        with contextlib.suppress(queue.Full):  # a full queue wakes the writer anyway
            self._queue.put_nowait(_WAKE)

    def _loop(self) -> None:
        in_flight: tuple[Batch, Future[None]] | None = None  # a batch whose commit is under way
        while True:
            if in_flight is not None and in_flight[1].done():
                self._settle(*in_flight)  # answered already, or decided again here
                in_flight = None
            taken = self._take()
            if taken is None:
                if in_flight is not None:
                    self._settle(*in_flight)
                if self._leased_at is not None:
                    self._release()
                return
            if not taken:
                continue
            self.batches += 1
            self.requests += len(taken)
            before, in_flight = in_flight, None
            try:
                in_flight = self._decide(taken, before)
            except BaseException as error:  # never let the writer die silently
                log.exception("writer batch failed")
                for _, _, future in taken:
                    if not future.done():
                        future.set_exception(error)
                if before is not None:
                    self._settle(*before)

    def _decide(self, taken: Taken, before: tuple[Batch, Future[None]] | None
                ) -> tuple[Batch, Future[None]] | None:
        """Decide a batch on top of the one before, whose commit may still be under way.
        A batch is answered once its commit is known to be done: by the committer thread, or
        here when the next batch's save found it committed, whichever comes first."""
        scans = [(terminal_id, item) for terminal_id, items, _ in taken for item in items]
        self._lease()
        try:
            outcomes, commit = self.ledger.record_scans_deferred(
                scans, None if before is None else before[1])
        except PreviousCommitFailed:
            assert before is not None
            self._one_by_one(before[0].taken)  # first the batch that failed, then this one
            return self._decide(taken, None)
        except Exception:
            if before is not None:
                self._settle(*before)
            self._one_by_one(taken)  # one request's error must not fail the others
            return None
        if before is not None:
            before[0].answer()  # this save began after it committed
        batch = Batch(taken, outcomes)
        if commit is None:
            batch.answer()
            return None
        # the callback holds the batch, the batch not the future: no reference cycle (a
        # cycle a batch kept every request and outcome for the cyclic collector: 50-100 ms
        # pauses under load)
        wake = self._wake
        commit.add_done_callback(
            lambda done: batch.answer() if done.exception() is None else wake())
        return batch, commit

    def _settle(self, batch: Batch, commit: Future[None]) -> None:
        """Wait for a batch's commit; if it failed, decide its requests again one by one (a
        scan that did commit after all comes back as the duplicate it then is)."""
        if commit.exception() is not None:
            log.warning("a batch's commit failed; deciding its requests again",
                        exc_info=commit.exception())
            self._one_by_one(batch.taken)

    def _one_by_one(self, taken: Taken) -> None:
        for terminal_id, items, future in taken:
            if future.done():
                continue  # answered already
            try:
                future.set_result(self.ledger.record_scans([(terminal_id, i) for i in items]))
            except Exception as error:
                future.set_exception(error)


class Batch:
    """A decided batch: its requests and their outcomes, answered once."""

    def __init__(self, taken: Taken, outcomes: list[ItemOutcome]) -> None:
        self.taken = taken
        self.outcomes = outcomes
        self._lock = threading.Lock()
        self._answered = False

    def answer(self) -> None:
        with self._lock:
            if self._answered:
                return
            self._answered = True
        start = 0
        to_loops: dict[asyncio.AbstractEventLoop, list[tuple[LoopReply, Any]]] = {}
        for _, items, future in self.taken:
            answer = self.outcomes[start:start + len(items)]
            start += len(items)
            if isinstance(future, LoopReply):
                if future.claim():
                    to_loops.setdefault(future.loop, []).append((future, answer))
            elif not future.done():
                future.set_result(answer)
        for loop, answers in to_loops.items():
            _call_in(loop, answers, None)


class LoopReply:
    """The writer's end of a request from an event loop: what the writer needs of a
    Future (`done`, `set_result`, `set_exception`, callable from any thread), answered on
    the loop. Answered once: the first answer claims it."""

    __slots__ = ("loop", "future", "_claimed")
    _claims = threading.Lock()

    def __init__(self, loop: asyncio.AbstractEventLoop, future: asyncio.Future[Any]) -> None:
        self.loop = loop
        self.future = future
        self._claimed = False

    def claim(self) -> bool:
        with self._claims:
            if self._claimed:
                return False
            self._claimed = True
            return True

    def done(self) -> bool:
        return self._claimed

    def set_result(self, result: Any) -> None:
        if self.claim():
            _call_in(self.loop, [(self, result)], None)

    def set_exception(self, error: BaseException) -> None:
        if self.claim():
            _call_in(self.loop, [(self, None)], error)


def _call_in(loop: asyncio.AbstractEventLoop, answers: list[tuple[LoopReply, Any]],
             error: BaseException | None) -> None:
    """Hand `answers` to `loop` (from any thread), to be delivered there."""
    try:
        loop.call_soon_threadsafe(_deliver, answers, error)
    except RuntimeError:  # the loop is closed: nobody is waiting any more
        log.debug("an answer for a closed event loop dropped")


def _deliver(answers: list[tuple[LoopReply, Any]], error: BaseException | None) -> None:
    """On the loop: each request's answer, unless its caller gave up waiting (cancelled)."""
    for reply, result in answers:
        if reply.future.done():
            continue
        if error is not None:
            reply.future.set_exception(error)
        else:
            reply.future.set_result(result)
