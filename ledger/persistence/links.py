"""Chain primitives: the canonical form of a stored event and how links are computed.

The format is documented for auditors in `ledger.persistence.chain`; this module holds
the code so that the verifier and the recorders can share it without import cycles.
"""

from __future__ import annotations

import hashlib
import re
import struct
from collections.abc import Sequence
from typing import Protocol
from uuid import UUID

from eventsourcing.persistence import Notification, StoredEvent
from eventsourcing.utils import resolve_topic

GENESIS = bytes(32)
LINK_SIZE = 32
STREAM_PAGE_SIZE = 10_000
STREAM_LIMIT_MAX = 1_000_000
_VERSION_MAX = 2**64 - 1
_HEADER = struct.Struct(">16sQI")
_LENGTH = struct.Struct(">I")
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class ChainFormatError(ValueError):
    """A stored event cannot be put in canonical form (bad id, version or sizes)."""


class ChainConfigurationError(ValueError):
    """The chained persistence was configured in a way that would not write the chain."""


class ChainIntegrityError(RuntimeError):
    """Writing links found the chain out of step with the events table.

    Raised inside the insert transaction (so the save is rolled back): the chain head is
    at or after the notification id just given to a new event. That happens only when
    the tables were edited by hand (e.g. the last event row deleted, so SQLite reused
    its rowid). Run `verify_chain` to find out what changed.
    """


class ChainRecorder(Protocol):
    """What the chain functions need from a recorder (the chained recorders have it)."""

    notification_ids_contiguous: bool

    def select_notifications(
        self,
        start: int | None,
        limit: int,
        stop: int | None = None,
        topics: Sequence[str] = (),
        *,
        inclusive_of_start: bool = True,
    ) -> Sequence[Notification]: ...

    def select_events(
        self,
        originator_id: UUID | str,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> Sequence[StoredEvent]: ...

    def select_links(self, gt: int, lte: int | None, limit: int) -> list[tuple[int, bytes]]:
        """Chain rows with gt < notification_id <= lte, ascending, at most `limit`."""
        ...

    def select_last_link(self, before: int | None = None) -> tuple[int, bytes] | None:
        """The chain row with the highest notification id (< before, when given)."""
        ...

    def chain_bounds(self) -> tuple[int, int]:
        """(max event notification id, max chain notification id), 0 when empty,
        read in one snapshot."""
        ...


def _uuid_bytes(originator_id: UUID | str) -> bytes:
    if isinstance(originator_id, UUID):
        return originator_id.bytes
    try:
        return UUID(originator_id).bytes
    except ValueError:
        msg = f"originator id {originator_id!r} is not a UUID; the chain only covers UUID ids"
        raise ChainFormatError(msg) from None


def _format_error(stored_event: StoredEvent) -> ChainFormatError:
    version = stored_event.originator_version
    if not 0 <= version <= _VERSION_MAX:
        return ChainFormatError(f"originator version {version} does not fit in 8 unsigned bytes")
    return ChainFormatError(f"topic or state of {stored_event.originator_id} v{version} is over 4 GiB")


def _canonical(stored_event: StoredEvent, topic: bytes) -> bytes:
    oid = stored_event.originator_id
    state = stored_event.state
    if not isinstance(state, bytes):
        # a row edited by hand may come back as text or a memoryview: hash what is there,
        # so the edit shows as a broken link instead of crashing the verifier
        state = state.encode("utf-8") if isinstance(state, str) else bytes(state)
    try:
        header = _HEADER.pack(
            oid.bytes if isinstance(oid, UUID) else _uuid_bytes(oid),
            stored_event.originator_version,
            len(topic),
        )
        length = _LENGTH.pack(len(state))
    except struct.error:
        raise _format_error(stored_event) from None
    return b"".join((header, topic, length, state))


def canonical_bytes(stored_event: StoredEvent) -> bytes:
    """The bytes of one stored event that its chain link covers (format in module doc)."""
    return _canonical(stored_event, stored_event.topic.encode("utf-8"))


def _check_link(prev: bytes) -> None:
    if len(prev) != LINK_SIZE:
        msg = f"a chain link is {LINK_SIZE} bytes, got {len(prev)}"
        raise ChainFormatError(msg)


def next_link(prev: bytes, stored_event: StoredEvent) -> bytes:
    """SHA-256(prev ‖ canonical_bytes(stored_event))."""
    _check_link(prev)
    return hashlib.sha256(prev + canonical_bytes(stored_event)).digest()


def extend_chain(prev: bytes, stored_events: Sequence[StoredEvent]) -> list[bytes]:
    """The links of `stored_events` (already in notification order) after `prev`.

    The hot path of every save: topics are encoded once per batch, one hash per event.
    """
    _check_link(prev)
    links: list[bytes] = []
    topics: dict[str, bytes] = {}
    sha256 = hashlib.sha256
    for stored_event in stored_events:
        topic = topics.get(stored_event.topic)
        if topic is None:
            topic = topics[stored_event.topic] = stored_event.topic.encode("utf-8")
        prev = sha256(prev + _canonical(stored_event, topic)).digest()
        links.append(prev)
    return links


def link_rows(
    prev_position: int,
    prev_link: bytes,
    notification_ids: Sequence[int] | None,
    stored_events: Sequence[StoredEvent],
) -> tuple[list[int], list[bytes]]:
    """Ids and links for a batch just inserted, in notification order; one pass.

    Raises ChainIntegrityError when the ids are missing or do not follow the head.
    """
    if notification_ids is None or len(notification_ids) != len(stored_events):
        msg = "the recorder did not return one notification id per inserted event"
        raise ChainIntegrityError(msg)
    pairs = sorted(zip(notification_ids, stored_events, strict=True), key=lambda p: p[0])
    if pairs and pairs[0][0] <= prev_position:
        msg = (
            f"chain head is at notification id {prev_position} but a new event got id "
            f"{pairs[0][0]}: the events table was edited; run verify_chain"
        )
        raise ChainIntegrityError(msg)
    ids = [notification_id for notification_id, _ in pairs]
    return ids, extend_chain(prev_link, [event for _, event in pairs])


def chain_table_name(application_name: str) -> str:
    """`<application name lowercased>_chain` ("stored_chain" without a name)."""
    name = (application_name.lower() or "stored") + "_chain"
    if not _IDENTIFIER.match(name):
        msg = f"cannot name a chain table after application {application_name!r}: {name!r}"
        raise ChainConfigurationError(msg)
    return name


def chained_recorder_class(topic: str | None, default: type, required: type, key: str) -> type:
    """The recorder class a factory should build: `topic` if set, else `default`; either
    way it must write the chain (subclass `required`)."""
    recorder_class: type = resolve_topic(topic) if topic else default
    if not (isinstance(recorder_class, type) and issubclass(recorder_class, required)):
        msg = f"{key}={topic!r} does not write the hash chain; use a subclass of {required.__name__}"
        raise ChainConfigurationError(msg)
    return recorder_class
