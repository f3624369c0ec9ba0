"""Aggregate and event base classes on msgspec (cf. eventsourcing's aggregate9 example).

Events are frozen msgspec Structs, nested in their aggregate and named as past-tense facts.
An aggregate's state only changes in an event's `apply`, because that re-runs on every replay;
validation happens before an event is triggered, in the aggregate's public commands.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from functools import lru_cache
from hashlib import sha1
from typing import Any, ClassVar, TypeVar
from uuid import UUID, SafeUUID

import msgspec

from ledger.dates import utc_now

NAMESPACE = UUID("6f1c2a43-1b7e-5d8e-9a57-2a7b1c9e0d11")


_NAMESPACE_BYTES = NAMESPACE.bytes
_VERSION_CLEAR = ~((0xC000 << 48) | (0xF000 << 64))
_VERSION_5 = (0x8000 << 48) | (5 << 76)


@lru_cache(maxsize=500_000)
def stable_id(kind: str, *parts: str) -> UUID:
    """The aggregate id of a client-made key: the same key always names the same aggregate.
    (Cached: uuid5 is a measurable part of a scan's cost.)"""
    return _uuid5("/".join((kind, *parts)))


class StableId(UUID):
    """A UUID that knows its hash: the aggregates of a scan are looked up by id in several
    dicts (the unit, the cache, the prefetch plan), some forty lookups an offline item, and
    UUID.__hash__ is Python code. Equal to, and hashed as, the plain UUID of the same value;
    copied and pickled as a plain UUID."""

    __slots__ = ("_hash",)
    _hash: int

    def __hash__(self) -> int:
        return self._hash

    def __reduce__(self) -> tuple[type[UUID], tuple[str]]:
        return UUID, (str(self),)


# UUID's own slots, set through their descriptors: UUID forbids attribute assignment, and
# object.__setattr__ costs three times as much as this (measured: 1.8 -> 0.6 us an id)
_set_int = UUID.__dict__["int"].__set__
_set_is_safe = UUID.__dict__["is_safe"].__set__
_set_hash = StableId.__dict__["_hash"].__set__
_new = object.__new__
_UNKNOWN = SafeUUID.unknown


def _uuid5(name: str) -> UUID:
    """uuid5(NAMESPACE, name), the same value, at a fraction of the cost: the UUID
    constructor's checks and keyword handling cost more than the SHA-1 (every scan makes two
    new ids)."""
    digest = sha1(_NAMESPACE_BYTES + name.encode()).digest()
    value = (int.from_bytes(digest[:16]) & _VERSION_CLEAR) | _VERSION_5
    made = _new(StableId)
    _set_int(made, value)
    _set_is_safe(made, _UNKNOWN)
    _set_hash(made, hash(value))
    return made


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
    # Mostly absent when the cache lacks it (a scan's own records): the batching writer,
    # under its lease, may take it to be absent without reading it; the save checks that
    # it is (`LedgerApplication._unit_of_work`).
    guess_absent: ClassVar[bool] = False

    def __init__(self, aggregate_id: UUID) -> None:
        self.id = aggregate_id
        self.version = 0
        self._pending: list[Event] = []

    def trigger(self, event_class: type[Event], **fields: Any) -> Event:
        return self.trigger_with(event_class, fields)

    def trigger_with(self, event_class: type[Event], fields: dict[str, Any]) -> Event:
        """`trigger` with the fields in a dict the callee may keep: a scan's event has some
        twenty fields, and passing them on as keywords at every level copied them each time."""
        fields["originator_id"] = self.id
        fields["originator_version"] = self.version + 1
        fields["timestamp"] = utc_now()
        event = event_class(**fields)
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
        return cls.new_with(aggregate_id, fields)

    @classmethod
    def new_with(cls: type[A], aggregate_id: UUID, fields: dict[str, Any]) -> A:
        """`new` with the fields in a dict the callee may keep (see `trigger_with`)."""
        event_class = fields.pop("_event_class", None) or cls.Created
        aggregate = cls(aggregate_id)
        aggregate.trigger_with(event_class, fields)
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
