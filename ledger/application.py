"""The ledger application: one method per use case: load, decide, record, in one save."""

from __future__ import annotations

import hashlib
import os
import random
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any, ClassVar, TypeVar
from uuid import UUID

import msgspec
from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError
from eventsourcing.utils import get_topic

from ledger import limits
from ledger.base import Aggregate, Event, stable_id
from ledger.child import ChildDay, Wallet
from ledger.dates import DEFAULT_TIME_ZONE
from ledger.errors import ConcurrencyExhausted, IdempotencyConflict
from ledger.mapper import MsgspecMapper, NullTranscoder
from ledger.personal import KeyStore, MemoryKeyStore, Plaintexts
from ledger.sqldb import SideDatabase
from ledger.unit import Absent, Unit, projector_for
from ledger.versions import changes_since, load_events

T = TypeVar("T")
_json = msgspec.json.Encoder(order="sorted")


def request_hash(**fields: Any) -> str:
    """A stable digest of a request body, to tell a retry from a conflicting reuse of an id."""
    return hashlib.sha256(_json.encode(fields)).hexdigest()[:32]


def check_same(kind: str, ident: str, stored_hash: str, new_hash: str) -> None:
    if stored_hash != new_hash:
        raise IdempotencyConflict(
            f"{kind} {ident!r} already exists with a different body; use a new id to create "
            "another, or repeat the original body to get the original answer"
        )


class AggregateCache:
    """Aggregates as last saved or loaded by this process (bounded, least recently used)."""

    def __init__(self, maxsize: int = 100_000) -> None:
        self.maxsize = maxsize
        self._items: OrderedDict[UUID, Aggregate | Absent] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, aggregate_id: UUID) -> Aggregate | Absent | None:
        with self._lock:
            found = self._items.get(aggregate_id)
            if found is not None:
                self._items.move_to_end(aggregate_id)
            return found

    def get_many(self, aggregate_ids: Collection[UUID]) -> list[Aggregate | Absent | None]:
        """`get` for each, in order, under one acquisition of the lock."""
        with self._lock:
            items = self._items
            found = [items.get(aggregate_id) for aggregate_id in aggregate_ids]
            for aggregate_id, aggregate in zip(aggregate_ids, found, strict=True):
                if aggregate is not None:
                    items.move_to_end(aggregate_id)
            return found

    def put(self, aggregate_id: UUID, aggregate: Aggregate | Absent) -> None:
        with self._lock:
            self._items[aggregate_id] = aggregate
            self._items.move_to_end(aggregate_id)
            while len(self._items) > self.maxsize:
                self._items.popitem(last=False)

    def put_many(self, aggregates: Iterable[Aggregate]) -> None:
        """`put` for each, under one acquisition of the lock (a sync saves a thousand)."""
        with self._lock:
            items = self._items
            for aggregate in aggregates:
                items[aggregate.id] = aggregate
                items.move_to_end(aggregate.id)
            while len(items) > self.maxsize:
                items.popitem(last=False)

    def forget_older(self, aggregate_id: UUID, version: int) -> bool:
        """Drop the cached aggregate if the store holds a newer version of it."""
        with self._lock:
            found = self._items.get(aggregate_id)
            if found is not None and found.version < version:
                del self._items[aggregate_id]
                return True
            return False

    def __len__(self) -> int:
        return len(self._items)

    def evict(self, aggregate_id: UUID) -> None:
        with self._lock:
            self._items.pop(aggregate_id, None)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


LEASE_ENV = "TAMAQ_WRITER_LEASE"  # 0: the batching writer takes no lease (for comparisons)


def lease_enabled() -> bool:
    return os.environ.get(LEASE_ENV, "1").strip() != "0"


class PreviousCommitFailed(Exception):
    """`run_deferred`: the save whose commit was in flight failed, and this command had been
    decided on top of it; nothing of this command was saved. Redo the failed save's work,
    then this command's."""


class LedgerApplication(Application):  # type: ignore[type-arg]
    name = "Tamaq"
    env: ClassVar[dict[str, str]] = {
        "MAPPER_TOPIC": get_topic(MsgspecMapper),
        "TRANSCODER_TOPIC": get_topic(NullTranscoder),
        "IS_SNAPSHOTTING_ENABLED": "y",
    }
    log_section_size = 10_000
    retries_max = 8
    wallet_snapshot_interval = 100

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        *,
        side_db: SideDatabase | None = None,
        keys: KeyStore | None = None,
        time_zone: str = DEFAULT_TIME_ZONE,
    ) -> None:
        super().__init__(env)
        self.side_db = side_db
        self.keys: KeyStore = keys or MemoryKeyStore()
        self.plaintexts = Plaintexts()
        self.time_zone = time_zone
        self.aggregate_cache = AggregateCache()
        self._cache_position: int | None = None  # the log is known up to here
        self.write_lock = threading.RLock()
        self._local = threading.local()
        self._in_flight: Future[Any] | None = None  # a commit in flight, until settled
        self._in_flight_last = 0  # the last notification id of that save
        self._committer: ThreadPoolExecutor | None = None
        self._guessed: list[UUID] = []  # the unit being saved took these to be absent
        self._lease_synced = False  # the cache has seen the log's tail since the lease began

    # -- the write path ---------------------------------------------------------------

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Run many commands as one unit of work and save them in one transaction (bulk
        set-up: enrolling a school, importing a list). Conflicts are not retried here: the
        batch raises ConcurrencyExhausted and records nothing; run it again."""
        if getattr(self._local, "unit", None) is not None:
            yield  # already inside a batch on this thread
            return
        with self.write_lock:
            self._settle()
            unit = self._local.unit = Unit(self)
            try:
                yield
                events, changed = unit.collect()
                for start in range(0, len(events), limits.SAVE_EVENTS_MAX):
                    self.save_events(events[start:start + limits.SAVE_EVENTS_MAX])
                self._snapshot_wallets(changed, events)
            except IntegrityError:
                unit.abandoned()
                raise ConcurrencyExhausted("a concurrent writer changed what this batch "
                                           "read; nothing was recorded: run it again") from None
            except BaseException:
                unit.abandoned()
                raise
            else:
                unit.committed()
            finally:
                self._local.unit = None

    def run(self, command: Callable[[Unit], T]) -> T:
        """Run a command in a unit of work and save what it changed in one transaction,
        retrying optimistic-concurrency conflicts a bounded number of times."""
        batch_unit = getattr(self._local, "unit", None)
        if batch_unit is not None:
            return command(batch_unit)
        # decided on what is committed: a commit in flight (run_deferred's) is seen through
        return self._unit_of_work(command, self._save_whole, settle_first=True)[0]

    def run_deferred(self, command: Callable[[Unit], T], after: Future[None] | None
                     ) -> tuple[T, Future[None] | None]:
        """`run` for the batching writer, which overlaps one save's commit with deciding the
        next: returns the command's result and the commit still in flight (None: already
        committed, or nothing to save). The result must not be acted on before that future
        is done without error.

        The command is decided on top of `after`, the previous commit in flight (its
        aggregates are in the cache as if committed); this save's insert starts only once
        `after` has committed, which the table lock would enforce anyway (under the writer's
        lease it runs at once, and only its commit waits for `after`'s). If `after` failed,
        nothing is saved and PreviousCommitFailed is raised. Every other unit of work waits
        for a commit in flight before it starts (`_settle`). Only a small save on
        PostgreSQL is deferred; anything else is saved as `run` saves it."""
        defer = getattr(self.recorder, "insert_events_deferred", None)
        if defer is None or getattr(self._local, "unit", None) is not None:
            self._wait_for(after)
            return self.run(command), None
        waiting_for = [after]

        def save(events: list[Event], changed: list[Aggregate]) -> Future[None] | None:
            in_flight = self._save_deferred(defer, events, changed, waiting_for[0])
            waiting_for[0] = None  # committed: a retry has nothing to wait for
            return in_flight

        return self._unit_of_work(command, save, settle_first=False, guess=True)

    def run_overlapped(self, command: Callable[[Unit], T], after: Future[Any] | None
                       ) -> tuple[T, Future[Any] | None]:
        """`run` for the chunks of one large request (an offline sync): the command is
        decided while `after`, the previous chunk's save, is still being written by the
        committer thread (its aggregates are in the cache as if committed), and its own save
        is handed to that thread in turn once `after` has committed. Returns the result and
        the save in flight (None: saved already, or nothing to save); the caller waits for
        the last one before it answers. If `after` failed, nothing of this command is saved
        and PreviousCommitFailed is raised: decide `after`'s work again, then this.

        Why: a chunk of 500 offline meals is ~25 ms of deciding and ~20 ms of PostgreSQL
        inserting; one after the other, each waits for the other. Only a recorder that the
        batching writer defers on (PostgreSQL) overlaps; anything else saves as `run` does."""
        if (getattr(self.recorder, "insert_events_deferred", None) is None
                or getattr(self._local, "unit", None) is not None):
            self._wait_for(after)
            return self.run(command), None
        waiting_for = [after]

        def save(events: list[Event], changed: list[Aggregate]) -> Future[Any] | None:
            in_flight = self._save_overlapped(events, changed, waiting_for[0])
            waiting_for[0] = None  # committed: a retry has nothing to wait for
            return in_flight

        return self._unit_of_work(command, save, settle_first=False)

    def finish_overlapped(self, after: Future[Any] | None) -> None:
        """Wait for the last save `run_overlapped` handed on; PreviousCommitFailed if it
        failed (the cache, which held its aggregates as if committed, is forgotten)."""
        if after is None:
            return
        with self.write_lock:
            if after is self._in_flight:
                self._settle()
            self._wait_for(after)
            self._skip_own(after.result())

    def _save_overlapped(self, events: list[Event], changed: list[Aggregate],
                         after: Future[Any] | None) -> Future[Any] | None:
        """Wait for `after` (its ids let the cache skip its own events), then hand this save
        to the committer thread: it encodes, chains, inserts and commits while the caller
        decides the next chunk. A save that is due a wallet snapshot is saved whole here
        (a snapshot must not precede its events' commit)."""
        if after is not None:
            self._settle()  # `after` is the save in flight; if it failed, forget the cache
            self._wait_for(after)
            self._skip_own(after.result())
        if not events:
            return None
        if self._snapshot_due(changed, events):
            self._save_whole(events, changed)
            return None
        if self._committer is None:
            self._committer = ThreadPoolExecutor(1, thread_name_prefix="tamaq-commit")
        self._in_flight_last = -1  # not run_deferred's: its head shortcut must not apply
        forget_head = getattr(self.recorder, "forget_head", None)
        if forget_head is not None:  # now, not when the committer thread gets to it
            forget_head()
        to_stored, insert = self.mapper.to_stored_event, self.recorder.insert_events
        return self._committer.submit(lambda: insert([to_stored(event) for event in events]))

    def _unit_of_work(self, command: Callable[[Unit], T],
                      save: Callable[[list[Event], list[Aggregate]], Future[Any] | None],
                      *, settle_first: bool, guess: bool = False) -> tuple[T, Future[Any] | None]:
        """Decide `command` in a unit of work under the write lock and `save` what it
        changed; a conflict (another writer got there first) is retried from the start.

        With `guess`, under the writer's lease, the first attempt takes the aggregates that
        only scans create (a terminal event, a child's day) to be absent when the cache
        lacks them, without reading them: the save checks that they are, and if one is not
        (a terminal's retry of a scan this process no longer has cached), the conflict is
        retried reading everything."""
        for attempt in range(self.retries_max):
            with self.write_lock:
                if settle_first:
                    self._settle()
                unit = Unit(self, guess=guess and attempt == 0 and self.leased)
                try:
                    result = command(unit)
                    events, changed = unit.collect()
                    self._guessed = unit.guessed
                    in_flight = save(events, changed)
                except IntegrityError:
                    unit.abandoned()
                    conflict = True
                except BaseException:
                    unit.abandoned()
                    raise
                else:
                    conflict = False
                    unit.committed()  # in flight: `_settle` forgets the cache if it fails
                    if in_flight is not None:
                        self._in_flight = in_flight
                finally:
                    self._guessed = []
            if conflict:
                if not unit.guessed:  # a wrong guess is no race: retry at once
                    time.sleep(random.uniform(0, 0.002 * (attempt + 1)))
                continue
            return result, in_flight
        raise ConcurrencyExhausted(
            f"the command conflicted with concurrent writers {self.retries_max} times; retry it"
        )

    def _save_deferred(self, defer: Callable[..., Any], events: list[Event],
                       changed: list[Aggregate], after: Future[None] | None) -> Future[None] | None:
        """The first half of a small save, sent without waiting for `after` (PostgreSQL holds
        it on the table lock until that commit is done), then its commit started in the
        committer thread once `after` is known to have committed. Anything else (nothing to
        save; a wallet snapshot due, which must not precede its events' commit) is saved
        whole, after `after`."""
        held = None  # (a unit with guesses and no deferred save: `_save_whole` refuses it)
        if events and not self._snapshot_due(changed, events):
            held = defer([self.mapper.to_stored_event(event) for event in events],
                         absent=self._guessed)

        try:
            if (held is not None and after is not None and after is self._in_flight
                    and held.head_id == self._in_flight_last):
                # the insert ran once `after` had released the table lock, and found that
                # save's last link at the head of the chain: it committed (its links are
                # written in its own transaction). No need to wait for its thread to say so.
                self._in_flight = None
            else:
                self._settle()
                self._wait_for(after)
        except BaseException:
            if held is not None:
                held.abort()
            raise
        if held is None:
            self._save_whole(events, changed)
            return None
        self._skip_own(held.notification_ids)
        self._in_flight_last = max(held.notification_ids)
        if self._committer is None:
            self._committer = ThreadPoolExecutor(1, thread_name_prefix="tamaq-commit")
        return self._committer.submit(held.finish)

    def _save_whole(self, events: list[Event], changed: list[Aggregate]) -> None:
        """What a unit of work changed, in one transaction, committed on return."""
        if self._guessed:
            raise IntegrityError("aggregates taken to be absent are checked only by a "
                                 "deferred save: decide again, reading them")
        if events:
            self.save_events(events)
            self._snapshot_wallets(changed, events)

    @staticmethod
    def _wait_for(after: Future[None] | None) -> None:
        if after is not None and after.exception() is not None:
            raise PreviousCommitFailed("the previous save did not commit") from after.exception()

    def _settle(self) -> None:
        """Wait for a commit in flight (under the write lock, before a unit of work). If it
        failed, the cache, which holds that save's aggregates as if committed, is forgotten."""
        in_flight, self._in_flight = self._in_flight, None
        if in_flight is not None and in_flight.exception() is not None:
            self.aggregate_cache.clear()
            self._cache_position = None

    def close(self) -> None:
        with self.write_lock:
            self._settle()
        self.release_lease()
        if self._committer is not None:
            self._committer.shutdown()
        super().close()

    # -- the writer's lease (PostgreSQL) -----------------------------------------------

    @property
    def leased(self) -> bool:
        return bool(getattr(self.recorder, "leased", False))

    @property
    def lease_wanted(self) -> bool:
        return bool(getattr(self.recorder, "lease_wanted", False))

    def hold_lease(self) -> bool:
        """Become the only writer of the store until `release_lease` (the batching writer,
        while requests keep coming): other writers wait for it; this process's own saves
        then skip the table lock and the log's tail. Waits for a writer that holds it.
        False where the store has no lease (SQLite, memory) or TAMAQ_WRITER_LEASE=0."""
        acquire = getattr(self.recorder, "acquire_lease", None)
        if acquire is None or not lease_enabled():
            return False
        if not self.leased:
            with self.write_lock:
                acquire()
                self._lease_synced = False  # the next unit reads the tail once
        return True

    def release_lease(self) -> None:
        release = getattr(self.recorder, "release_lease", None)
        if release is not None and self.leased:
            with self.write_lock:
                release()
                self._lease_synced = False

    def sync_cache(self, load: Sequence[UUID] = ()) -> tuple[dict[UUID, list[Any]], set[UUID] | None]:
        """Make the aggregate cache current with one query on the log's tail: forget what
        another writer (process or ledger instance) changed since the last look. Called under
        the write lock at the start of a unit of work; this process's own commits go through
        the cache, so cached aggregates need no version check of their own.

        Loads the stored events of `load` in the same round trip. Returns them, and the ids
        the cache forgot (None: it forgot everything)."""
        cache = self.aggregate_cache
        leased = self.leased
        if leased and self._lease_synced and self._cache_position is not None:
            # nobody else has saved since the tail was read under this lease
            return (load_events(self.recorder, load) if load else {}), set()
        if self._cache_position is None or not len(cache):
            # nothing cached: everything loaded from now on is at least as new as the head
            self._cache_position = int(self.recorder.max_notification_id() or 0)
            loaded = (load_events(self.recorder, load) if load else {}), set[UUID]()
            self._lease_synced = leased  # only once the read succeeded
            return loaded
        position, latest, stored = changes_since(self.recorder, self._cache_position, load)
        self._cache_position = position
        self._lease_synced = leased
        if latest is None:
            cache.clear()
            return stored, None
        return stored, {aggregate_id for aggregate_id, version in latest.items()
                        if cache.forget_older(aggregate_id, version)}

    def save_events(self, events: list[Event]) -> None:
        """Record the events in one transaction. (Straight to the recorder: the library's
        save() re-checks every event against a runtime protocol and its event store wraps
        every event in two more objects, which costs more than the insert; we take our own
        snapshots and use no subscriptions.)"""
        to_stored = self.mapper.to_stored_event
        ids = self.recorder.insert_events([to_stored(event) for event in events])
        self._skip_own(ids)

    def _skip_own(self, ids: Sequence[int] | None) -> None:
        """Move the cache's position past this save's own events when they follow it
        directly: the cache already holds them, and reading them back in the next tail
        would cost more than the insert (a 5,000-item sync would even overflow the tail).
        Ids are issued under the table lock (or the lease), so a save's ids are a range no
        other writer shares; any other event stored since the last look lies below it."""
        position = self._cache_position
        if not ids or position is None:
            return
        first, last = min(ids), max(ids)
        if first == position + 1 and last - first + 1 == len(ids):
            self._cache_position = last

    def _snapshot_wallets(self, changed: list[Aggregate], events: list[Event]) -> None:
        """Snapshot a wallet whenever a save carried it across a multiple of the interval
        (a batch may add many events to one wallet at once)."""
        for aggregate in self._wallets_to_snapshot(changed, events):
            # the snapshot is of the recorded state: same version, same balance
            self.snapshots.put([aggregate.take_snapshot()])  # type: ignore[union-attr]

    def _snapshot_due(self, changed: list[Aggregate], events: list[Event]) -> bool:
        return bool(self._wallets_to_snapshot(changed, events))

    def _wallets_to_snapshot(self, changed: list[Aggregate], events: list[Event]
                             ) -> list[Aggregate]:
        if self.snapshots is None:
            return []
        wallets = [aggregate for aggregate in changed if isinstance(aggregate, Wallet)]
        if not wallets:
            return []
        interval = self.wallet_snapshot_interval
        saved = Counter(event.originator_id for event in events)
        return [aggregate for aggregate in wallets
                if aggregate.version // interval > (aggregate.version - saved[aggregate.id]) // interval]

    def load(self, cls: type[Aggregate], aggregate_id: UUID) -> Any:
        """Read one aggregate as stored now (no cache: readers never see a batch in flight)."""
        try:
            found = self.repository.get(aggregate_id, projector_func=projector_for(cls))
        except AggregateNotFoundError:
            return None
        return found if isinstance(found, cls) else None

    # -- helpers shared by the use cases ---------------------------------------------

    @staticmethod
    def wallet(unit: Unit, child_id: str) -> Wallet:
        wallet_id = stable_id("wallet", child_id)
        wallet = unit.get(Wallet, wallet_id)
        if wallet is None:
            wallet = unit.create(Wallet, wallet_id, child_id=child_id)
        return wallet

    @staticmethod
    def child_day(unit: Unit, child_id: str, day: date) -> ChildDay | None:
        return unit.get(ChildDay, stable_id("child-day", child_id, day.isoformat()))


def utc(value: datetime) -> datetime:
    return limits.check_instant("at", value)
