"""Aggregate and event base classes on msgspec (cf. eventsourcing's aggregate9 example).

Events are frozen msgspec Structs, nested in their aggregate and named as past-tense facts.
An aggregate's state only changes in an event's `apply`, because that re-runs on every replay;
validation happens before an event is triggered, in the aggregate's public commands.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from datetime import datetime
from typing import Any, ClassVar, TypeVar
from uuid import UUID, uuid5

import msgspec

from ledger.dates import utc_now

NAMESPACE = UUID("6f1c2a43-1b7e-5d8e-9a57-2a7b1c9e0d11")


@lru_cache(maxsize=500_000)
def stable_id(kind: str, *parts: str) -> UUID:
    """The aggregate id of a client-made key: the same key always names the same aggregate.
    (Cached: uuid5 is a measurable part of a scan's cost.)"""
    return uuid5(NAMESPACE, "/".join((kind, *parts)))


class Event(msgspec.Struct, frozen=True, kw_only=True):
    originator_id: UUID
    originator_version: int
    timestamp: datetime

    def apply(self, aggregate: Any) -> None:  # pragma: no cover - every event overrides
        raise NotImplementedError(type(self).__name__)


class Snapshot(Event, frozen=True, kw_only=True):
    topic: str
    state: bytes


class Aggregate:
    """Mutable state folded from events; `trigger` records a new event and applies it."""

    Created: ClassVar[type[Event]]
    # the writer's cache remembers that such an aggregate does not exist (yet); off for kinds
    # whose ids are new every time (one per scan or per day), which would only crowd it
    cache_absence: ClassVar[bool] = True

    def __init__(self, aggregate_id: UUID) -> None:
        self.id = aggregate_id
        self.version = 0
        self._pending: list[Event] = []

    def trigger(self, event_class: type[Event], **fields: Any) -> Event:
        event = event_class(
            originator_id=self.id,
            originator_version=self.version + 1,
            timestamp=utc_now(),
            **fields,
        )
        self.mutate(event)
        self._pending.append(event)
        return event

    def mutate(self, event: Event) -> None:
        event.apply(self)
        self.version = event.originator_version

    def collect_events(self) -> list[Event]:
        events, self._pending = self._pending, []
        return events

    @property
    def has_pending(self) -> bool:
        return bool(self._pending)

    def take_snapshot(self) -> Snapshot:
        raise NotImplementedError(type(self).__name__)

    @classmethod
    def from_snapshot(cls: type[A], snapshot: Snapshot) -> A:
        raise NotImplementedError(cls.__name__)

    @classmethod
    def new(cls: type[A], aggregate_id: UUID, **fields: Any) -> A:
        event_class = fields.pop("_event_class", None) or cls.Created
        aggregate = cls(aggregate_id)
        aggregate.trigger(event_class, **fields)
        return aggregate


A = TypeVar("A", bound=Aggregate)


def projector(cls: type[A]):  # type: ignore[no-untyped-def]
    """A projector function for `repository.get(..., projector_func=...)`."""

    def project(aggregate: A | None, events: Iterable[Event]) -> A | None:
        for event in events:
            if isinstance(event, Snapshot):
                aggregate = cls.from_snapshot(event)
                continue
            if aggregate is None:
                aggregate = cls(event.originator_id)
            aggregate.mutate(event)
        return aggregate

    return project
