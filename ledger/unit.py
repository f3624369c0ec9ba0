"""A unit of work: aggregates loaded once, changed in memory, saved in ONE transaction.

Grouping many commands into one save is what makes the store fast (EVENTSTORE-NOTES): a batch
of scans, or the writer that drains concurrent requests, runs through one unit.

Aggregates come from the application's own cache: commands run under the application's write
lock, so a cached aggregate is only changed by the unit holding the lock; if its save fails,
every aggregate it touched is evicted and reloaded on the retry. Another writer's changes show
up in the log's tail, read once per unit (`LedgerApplication.sync_cache`), which evicts what
they touched; a write racing that read still fails on the store's version constraint and is
retried."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from ledger.base import Aggregate, Event, projector
from ledger.versions import load_events, max_versions

if TYPE_CHECKING:
    from ledger.application import LedgerApplication


class Absent:
    """In the cache: the aggregate did not exist when last looked for. Version 0, so the first
    event anyone records for it makes the cache forget this (`forget_older`)."""

    version = 0


ABSENT = Absent()
_NONE: list[Any] = []  # shared, never changed: "stored nothing" for many ids at once
_UNSEEN = object()  # not in the unit yet (None there means: looked for, does not exist)


A = TypeVar("A", bound=Aggregate)
_PROJECTORS: dict[type, object] = {}


def projector_for(cls: type[A]):  # type: ignore[no-untyped-def]
    fn = _PROJECTORS.get(cls)
    if fn is None:
        fn = _PROJECTORS[cls] = projector(cls)
    return fn


class Unit:
    def __init__(self, app: LedgerApplication, *, guess: bool = False) -> None:
        self.app = app
        self.loaded: dict[UUID, Aggregate | None] = {}
        self.touched: dict[UUID, Aggregate] = {}
        self.types: dict[UUID, type] = {}
        self._synced = False
        self.guess = guess  # take uncached aggregates of `guess_absent` types to be absent
        self.guessed: list[UUID] = []  # ... which the save must check

    def prefetch(self, wanted: Iterable[tuple[type[Aggregate], UUID]]) -> None:
        """Bring these aggregates into the unit: from the cache, the rest loaded all at once.
        The unit's first call also reads the log's tail (what other writers changed since the
        cache last looked), in the same round trip as the loading; what the tail shows to be
        stale is loaded again."""
        loaded = self.loaded
        todo: dict[UUID, type[Aggregate]] = {}
        for cls, aggregate_id in wanted:
            if aggregate_id not in loaded:
                todo[aggregate_id] = cls
        if not todo and self._synced:
            return
        hits: dict[UUID, Aggregate | None] = {}
        to_load: list[UUID] = []
        found = self.app.aggregate_cache.get_many(todo)
        guess = self.guess
        for (aggregate_id, cls), agg in zip(todo.items(), found, strict=True):
            if agg is None:
                if guess and cls.guess_absent:
                    hits[aggregate_id] = None
                    self.guessed.append(aggregate_id)
                else:
                    to_load.append(aggregate_id)
            elif isinstance(agg, cls):
                hits[aggregate_id] = agg
            elif isinstance(agg, Absent):
                hits[aggregate_id] = None
            else:
                to_load.append(aggregate_id)
        preloaded: dict[UUID, list[Any]] = {}
        if not self._synced:
            self._synced = True
            plain = [i for i in to_load if not getattr(todo[i], "snapshotted", False)]
            preloaded, forgotten = self.app.sync_cache(plain)
            preloaded = {i: preloaded.get(i, _NONE) for i in plain}
            for aggregate_id in list(hits) if forgotten is None else forgotten & hits.keys():
                del hits[aggregate_id]
                to_load.append(aggregate_id)
                if aggregate_id in self.guessed:  # another writer changed it: read it
                    self.guessed.remove(aggregate_id)
        loaded.update(hits)
        self._load(to_load, todo, preloaded)

    def _load(self, ids: list[UUID], types: dict[UUID, type[Aggregate]],
              preloaded: dict[UUID, list[Any]]) -> None:
        """Load `ids` (those in `preloaded` came with the tail: no query for them)."""
        if not ids:
            return
        cache = self.app.aggregate_cache
        snapshotted: list[UUID] = []
        plain: list[UUID] = []
        missing: list[UUID] = []
        for aggregate_id in ids:
            if getattr(types[aggregate_id], "snapshotted", False):
                snapshotted.append(aggregate_id)
            else:
                plain.append(aggregate_id)
                if aggregate_id not in preloaded:
                    missing.append(aggregate_id)
        stored = load_events(self.app.recorder, missing) if missing else {}
        stored.update(preloaded)
        for aggregate_id in plain:
            events = stored.get(aggregate_id)
            if not events:
                self.loaded[aggregate_id] = None
                if types[aggregate_id].cache_absence:
                    cache.put(aggregate_id, ABSENT)
                continue
            project = projector_for(types[aggregate_id])
            aggregate = project(None, map(self.app.mapper.to_domain_event, events))
            self.loaded[aggregate_id] = aggregate
            cache.put(aggregate_id, aggregate)
        present = max_versions(self.app.recorder, snapshotted) if snapshotted else {}
        for aggregate_id in snapshotted:  # from the latest snapshot on
            if aggregate_id not in present:
                self.loaded[aggregate_id] = None
                if types[aggregate_id].cache_absence:
                    cache.put(aggregate_id, ABSENT)
                continue
            try:
                aggregate = self.app.repository.get(
                    aggregate_id, projector_func=projector_for(types[aggregate_id]))
            except AggregateNotFoundError:
                aggregate = None
            self.loaded[aggregate_id] = aggregate
            if aggregate is not None:
                cache.put(aggregate_id, aggregate)

    def peek(self, cls: type[A], aggregate_id: UUID) -> A | None:
        """The aggregate if the unit or the cache has it; None without loading. Before the
        unit's first prefetch the cache may be stale: good for guessing what to load, never
        for deciding (`get` decides)."""
        found: object = self.loaded.get(aggregate_id)
        if found is None:
            found = self.app.aggregate_cache.get(aggregate_id)
        return found if isinstance(found, cls) else None

    def get(self, cls: type[A], aggregate_id: UUID) -> A | None:
        found = self.loaded.get(aggregate_id, _UNSEEN)
        if found is _UNSEEN:
            self.prefetch([(cls, aggregate_id)])
            found = self.loaded[aggregate_id]
        return found if found is None or isinstance(found, cls) else None

    def add(self, aggregate: Aggregate) -> None:
        self.loaded[aggregate.id] = aggregate
        self.touched[aggregate.id] = aggregate

    def create(self, cls: type[A], aggregate_id: UUID, **fields: object) -> A:
        aggregate = cls.new_with(aggregate_id, fields)
        self.add(aggregate)
        return aggregate

    def trigger(self, aggregate: Aggregate, event_class: type[Event], **fields: object) -> Event:
        event = aggregate.trigger_with(event_class, fields)
        self.touched[aggregate.id] = aggregate
        return event

    def collect(self) -> tuple[list[Event], list[Aggregate]]:
        events: list[Event] = []
        changed: list[Aggregate] = []
        for aggregate in self.touched.values():
            pending = aggregate.collect_events()
            if pending:
                events.extend(pending)
                changed.append(aggregate)
        return events, changed

    def committed(self) -> None:
        self.app.aggregate_cache.put_many(self.touched.values())

    def abandoned(self) -> None:
        cache = self.app.aggregate_cache
        for aggregate_id in self.touched:
            cache.evict(aggregate_id)
