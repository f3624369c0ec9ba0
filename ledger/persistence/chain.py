"""A SHA-256 hash chain over the event log, in commit (notification id) order.

Format (what an auditor needs to recompute it with nothing but a SHA-256 tool)
-------------------------------------------------------------------------------
For every stored event, in ascending notification id order:

    canonical = originator_id  as the 16 raw bytes of the UUID (RFC 4122 byte order)
              ‖ originator_version as 8 bytes, unsigned big-endian
              ‖ len(topic_utf8)    as 4 bytes, unsigned big-endian
              ‖ topic_utf8         (the event class topic, e.g. "ledger.child:Child.Fed")
              ‖ len(state)         as 4 bytes, unsigned big-endian
              ‖ state              (the stored bytes exactly as in the events table,
                                    i.e. after transcoding, compression and encryption)
    link_n    = SHA-256(link_{n-1} ‖ canonical_n)          (32 bytes)
    link_0    = GENESIS = 32 zero bytes                   (before the first event)

Notification ids may have gaps on PostgreSQL (a rolled-back insert consumes sequence
values); the chain simply skips them: link_{n-1} is the link of the previous *stored*
event. The link of the event with the highest notification id is the *head*; the pair
(position, head) is what gets sealed and signed (see `ledger.persistence.seal`).

Links live in the side table `<application name lowercased>_chain` (notification_id,
link), written in the same transaction as the events (see the backend modules).

Python one-liner for an auditor, given rows (id, originator_id, version, topic, state)
in id order:  link = hashlib.sha256(link + uuid.UUID(oid).bytes
+ version.to_bytes(8, "big") + len(t).to_bytes(4, "big") + t + len(s).to_bytes(4, "big")
+ s).digest()  with t = topic.encode().
"""

from __future__ import annotations

from collections.abc import Iterator
from uuid import UUID

from ledger.persistence.links import (
    GENESIS,
    LINK_SIZE,
    STREAM_LIMIT_MAX,
    STREAM_PAGE_SIZE,
    ChainConfigurationError,
    ChainFormatError,
    ChainIntegrityError,
    ChainRecorder,
    canonical_bytes,
    extend_chain,
    link_rows,
    next_link,
)
from ledger.persistence.verify import VerifyResult, verify_chain

__all__ = [
    "GENESIS",
    "LINK_SIZE",
    "ChainConfigurationError",
    "ChainFormatError",
    "ChainIntegrityError",
    "ChainRecorder",
    "VerifyResult",
    "canonical_bytes",
    "chain_head",
    "extend_chain",
    "iter_events_with_links",
    "link_rows",
    "log_only_grew",
    "next_link",
    "verify_chain",
]


def chain_head(recorder: ChainRecorder) -> tuple[int, bytes]:
    """(position, link) of the last chain row; (0, GENESIS) for an empty log."""
    last = recorder.select_last_link()
    return last if last is not None else (0, GENESIS)


EventWithLink = tuple[int, UUID | str, int, str, bytes, bytes]


def iter_events_with_links(
    recorder: ChainRecorder, after: int, limit: int
) -> Iterator[EventWithLink]:
    """Stored events with id > after, ascending, at most `limit`, each as
    (notification_id, originator_id, originator_version, topic, state, link).

    `link` is b"" when the chain has no row for that event (a sign of tampering).
    Reads in pages of STREAM_PAGE_SIZE; `limit` is capped at STREAM_LIMIT_MAX.
    """
    if after < 0 or not 0 < limit <= STREAM_LIMIT_MAX:
        msg = f"need after >= 0 and 0 < limit <= {STREAM_LIMIT_MAX}, got {after}, {limit}"
        raise ValueError(msg)
    remaining = limit
    while remaining > 0:
        page = recorder.select_notifications(
            start=after + 1, limit=min(remaining, STREAM_PAGE_SIZE)
        )
        if not page:
            return
        links = dict(recorder.select_links(after, page[-1].id, 2 * len(page) + 1))
        for n in page:
            yield (n.id, n.originator_id, n.originator_version, n.topic,
                   bytes(n.state), links.get(n.id, b""))
        after, remaining = page[-1].id, remaining - len(page)


def log_only_grew(recorder: ChainRecorder, earlier_position: int, earlier_head: bytes | str) -> bool:
    """True when the log still holds, unchanged, everything up to `earlier_position`
    (its recomputed link there equals `earlier_head`) and the whole chain verifies;
    that is, since the auditor noted (position, head), events were only appended."""
    result = verify_chain(recorder, sealed=[(earlier_position, earlier_head)])
    return result.ok

