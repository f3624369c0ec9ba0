"""Events to stored bytes and back with msgspec (JSON), decoded with the event class as type,
so UUIDs, dates, instants and ints come back typed (EVENTSTORE-NOTES gotcha 6)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import msgspec
from eventsourcing.persistence import Mapper, StoredEvent, Transcoder
from eventsourcing.utils import get_topic, resolve_topic

_encoder = msgspec.json.Encoder()


@lru_cache(maxsize=256)
def _topic(cls: Any) -> str:
    return get_topic(cls)


@lru_cache(maxsize=256)
def _decoder(topic: str) -> msgspec.json.Decoder[Any]:
    return msgspec.json.Decoder(resolve_topic(topic))


class MsgspecMapper(Mapper):  # type: ignore[type-arg]
    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        return StoredEvent(
            originator_id=domain_event.originator_id,
            originator_version=domain_event.originator_version,
            topic=_topic(type(domain_event)),  # type: ignore[arg-type]  # classes hash
            state=_encoder.encode(domain_event),
        )

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        return _decoder(stored_event.topic).decode(stored_event.state)


def decode_stored(topic: str, state: bytes) -> Any:
    """Decode a stored event's state outside an application (projections, audit)."""
    return _decoder(topic).decode(state)


class NullTranscoder(Transcoder):
    """The mapper does all the encoding; the library insists on a transcoder object."""

    def encode(self, obj: Any) -> bytes:  # pragma: no cover - never called
        raise NotImplementedError

    def decode(self, data: bytes) -> Any:  # pragma: no cover - never called
        raise NotImplementedError
