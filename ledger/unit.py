"""A unit of work: aggregates loaded once, changed in memory, saved in ONE transaction.

Grouping many commands into one save is what makes the store fast (EVENTSTORE-NOTES): a batch
of scans, or the writer that drains concurrent requests, runs through one unit."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from ledger.base import Aggregate, Event, projector

if TYPE_CHECKING:
    from ledger.application import LedgerApplication

A = TypeVar("A", bound=Aggregate)
_PROJECTORS: dict[type, object] = {}


def _projector_for(cls: type[A]):  # type: ignore[no-untyped-def]
    fn = _PROJECTORS.get(cls)
    if fn is None:
        fn = _PROJECTORS[cls] = projector(cls)
    return fn


class Unit:
    def __init__(self, app: LedgerApplication) -> None:
        self.app = app
        self.loaded: dict[UUID, Aggregate | None] = {}
        self.touched: dict[UUID, Aggregate] = {}

    def get(self, cls: type[A], aggregate_id: UUID) -> A | None:
        if aggregate_id in self.loaded:
            found = self.loaded[aggregate_id]
            return found if found is None or isinstance(found, cls) else None
        try:
            aggregate = self.app.repository.get(aggregate_id, projector_func=_projector_for(cls))
        except AggregateNotFoundError:
            aggregate = None
        if aggregate is not None and not isinstance(aggregate, cls):
            aggregate = None
        self.loaded[aggregate_id] = aggregate
        return aggregate

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
