"""A unit of work: aggregates loaded once, changed in memory, saved in ONE transaction.

Grouping many commands into one save is what makes the store fast (EVENTSTORE-NOTES): a batch
of scans, or the writer that drains concurrent requests, runs through one unit.

Aggregates come from the application's own cache after one version check per batch
(`prefetch`): commands run under the application's write lock, so a cached aggregate is only
changed by the unit holding the lock; if its save fails, every aggregate it touched is evicted
and reloaded on the retry. Another process's writes show up as a newer version in the store."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from ledger.base import Aggregate, Event, projector
from ledger.versions import load_events, max_versions

if TYPE_CHECKING:
    from ledger.application import LedgerApplication

A = TypeVar("A", bound=Aggregate)
_PROJECTORS: dict[type, object] = {}


def projector_for(cls: type[A]):  # type: ignore[no-untyped-def]
    fn = _PROJECTORS.get(cls)
    if fn is None:
        fn = _PROJECTORS[cls] = projector(cls)
    return fn


class Unit:
    def __init__(self, app: LedgerApplication) -> None:
        self.app = app
        self.loaded: dict[UUID, Aggregate | None] = {}
        self.touched: dict[UUID, Aggregate] = {}
        self.types: dict[UUID, type] = {}

    def prefetch(self, wanted: Iterable[tuple[type, UUID]]) -> None:
        """Bring these aggregates up to date: one query checks the versions of those this
        process has cached; one more loads, all at once, those it has not or that changed."""
        todo = {aggregate_id: cls for cls, aggregate_id in wanted
                if aggregate_id not in self.loaded}
        if not todo:
            return
        cache = self.app.aggregate_cache
        cached = {i: cache.get(i) for i in todo}
        known = [i for i, agg in cached.items() if agg is not None]
        versions = max_versions(self.app.recorder, known) if known else {}
        to_load: list[UUID] = []
        for aggregate_id, cls in todo.items():
            agg = cached[aggregate_id]
            if agg is not None and versions.get(aggregate_id) == agg.version and isinstance(agg, cls):
                self.loaded[aggregate_id] = agg
            else:
                to_load.append(aggregate_id)
        self._load(to_load, todo)

    def _load(self, ids: list[UUID], types: dict[UUID, type]) -> None:
        if not ids:
            return
        cache = self.app.aggregate_cache
        snapshotted = [i for i in ids if getattr(types[i], "snapshotted", False)]
        plain = [i for i in ids if i not in set(snapshotted)]
        stored = load_events(self.app.recorder, plain) if plain else {}
        for aggregate_id in plain:
            events = stored.get(aggregate_id)
            if not events:
                self.loaded[aggregate_id] = None
                continue
            project = projector_for(types[aggregate_id])
            aggregate = project(None, map(self.app.mapper.to_domain_event, events))
            self.loaded[aggregate_id] = aggregate
            cache.put(aggregate_id, aggregate)
        present = max_versions(self.app.recorder, snapshotted) if snapshotted else {}
        for aggregate_id in snapshotted:  # from the latest snapshot on
            if aggregate_id not in present:
                self.loaded[aggregate_id] = None
                continue
            try:
                aggregate = self.app.repository.get(
                    aggregate_id, projector_func=projector_for(types[aggregate_id]))
            except AggregateNotFoundError:
                aggregate = None
            self.loaded[aggregate_id] = aggregate
            if aggregate is not None:
                cache.put(aggregate_id, aggregate)

    def get(self, cls: type[A], aggregate_id: UUID) -> A | None:
        if aggregate_id not in self.loaded:
            self.prefetch([(cls, aggregate_id)])
        found = self.loaded[aggregate_id]
        return found if found is None or isinstance(found, cls) else None

    def add(self, aggregate: Aggregate) -> None:
        self.loaded[aggregate.id] = aggregate
        self.touched[aggregate.id] = aggregate

    def create(self, cls: type[A], aggregate_id: UUID, **fields: object) -> A:
        aggregate = cls.new(aggregate_id, **fields)
        self.add(aggregate)
        return aggregate

    def trigger(self, aggregate: Aggregate, event_class: type[Event], **fields: object) -> Event:
        event = aggregate.trigger(event_class, **fields)
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
        cache = self.app.aggregate_cache
        for aggregate in self.touched.values():
            cache.put(aggregate.id, aggregate)

    def abandoned(self) -> None:
        cache = self.app.aggregate_cache
        for aggregate_id in self.touched:
            cache.evict(aggregate_id)
