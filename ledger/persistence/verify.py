"""Recompute the hash chain and name the first position that does not fit.

`verify_chain` re-reads the events and the chain rows in notification order, a page at
a time, recomputes every link from GENESIS (or from the stored link just before
`start`) and compares. At the first difference it works out what happened:

- "state changed": the event's bytes (state, topic or identity) are not what its link
  covers, and nothing else explains it.
- "event missing": the chain has a link where the events table has no event, or ids
  are absent from both tables and the next link does not follow. The deleted event is
  named when a later event of the same aggregate shows the version gap.
- "events out of order / swapped": the link at this position covers an event (or a
  state) now found at a later position.
- "chain link mismatch": the event is intact but its own link row was altered, or the
  event has no link row at all (deleted, or the event was written around the chain).
- "does not match sealed head at N": every link fits, but the recomputed link at a
  sealed position N differs from the head the auditor kept: the chain was rewritten.
  The event is named when the auditor kept consecutive seals around it (for instance
  every link from an earlier `iter_events_with_links` export).

Pages are read as plain tuples (`ledger.persistence.pages`), the next one in a helper
thread while this one is checked, and go through a tight loop while every event has its
own link row and the link recomputes; the first row that does not is handed, with the
rest of its page, to the general merge that names the finding. Memory is bounded by the
page size; `on_rows` lets a replay use the verified rows in the same pass.
"""

from __future__ import annotations

import hashlib
import struct
from collections import deque
from collections.abc import Callable, Generator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from typing import Any

import msgspec
from eventsourcing.persistence import Notification, StoredEvent

from ledger.persistence.links import (
    _HEADER,
    _LENGTH,
    GENESIS,
    ChainFormatError,
    ChainRecorder,
    _uuid_bytes,
    next_link,
)
from ledger.persistence.pages import EventRow, LinkRow, PageReader, page_reader

PAGE_SIZE = 10_000
LINKS_PAGE_MAX = 2 * PAGE_SIZE
READERS = 2  # pages read ahead, each in its own thread
LOOKAHEAD_MAX = 10_000  # events searched for a swap partner or a deleted event's aggregate
EVIDENCE_QUERIES_MAX = 1_000  # aggregates whose previous version is looked up
TOPIC_CACHE_MAX = 1_024
_NO_SEAL = 2**63  # past every notification id

STATE_CHANGED = "state changed"
EVENT_MISSING = "event missing"
SWAPPED = "events out of order / swapped"
LINK_MISMATCH = "chain link mismatch"

Progress = Callable[[int, int], None]
RowsVerified = Callable[[Sequence[EventRow]], None]
_FAST_PATH_EXITS = (struct.error, TypeError, ValueError, AttributeError)


def sealed_reason(position: int) -> str:
    return f"does not match sealed head at {position}"


class VerifyResult(msgspec.Struct, frozen=True, kw_only=True):
    """Outcome of `verify_chain`. `position`/`head`: last notification id vouched for
    and its link (hex); on a sealed-head failure, the last seal that still matched."""

    ok: bool
    position: int
    head: str
    checked: int
    broken_position: int | None = None
    broken_event: tuple[str, int] | None = None  # (originator_id, originator_version)
    reason: str | None = None
    detail: str | None = None

    def summary(self) -> str:
        if self.ok:
            return f"intact up to position {self.position}, head {self.head}"
        event = f" (event {self.broken_event[0]} v{self.broken_event[1]})" if self.broken_event else ""
        return f"broken at position {self.broken_position}{event}: {self.reason}; {self.detail}"


def _as_link(head: bytes | str) -> bytes:
    """A sealed head given as bytes or as the hex string seals are shown in."""
    return bytes.fromhex(head) if isinstance(head, str) else bytes(head)


def _identity(event: StoredEvent) -> tuple[str, int]:
    return str(event.originator_id), event.originator_version


def _describe(event: Notification) -> str:
    return f"{event.originator_id} v{event.originator_version} at {event.id}"


def _id_bytes(originator_id: Any) -> bytes:
    """What `_uuid_bytes` gives, quicker for the canonical text form SQLite stores."""
    if type(originator_id) is str:
        digits = originator_id.replace("-", "")
        if len(digits) == 32:
            try:
                raw = bytes.fromhex(digits)
            except ValueError:
                raw = b""
            if len(raw) == 16:  # 32 hex digits, nothing else: exactly what UUID() accepts
                return raw
    return _uuid_bytes(originator_id)


def _link_or_none(prev: bytes, event: StoredEvent) -> bytes | None:
    try:
        return next_link(prev, event)
    except ChainFormatError:
        return None


def _swap_partner(
    prev: bytes, event: Notification, stored: bytes, window: Sequence[Notification]
) -> Notification | None:
    """The later event whose row (or whose state) the link at `event` really covers."""
    for other in window:
        if _link_or_none(prev, other) == stored:
            return other
        moved = StoredEvent(event.originator_id, event.originator_version, other.topic, other.state)
        if _link_or_none(prev, moved) == stored:
            return other
    return None


def _deleted_event(recorder: ChainRecorder, events: Sequence[Notification]) -> tuple[str, int] | None:
    """An (originator_id, version) absent from the store although a later version exists."""
    seen: set[object] = set()
    for event in events:
        if event.originator_id in seen:
            continue
        seen.add(event.originator_id)
        if len(seen) > EVIDENCE_QUERIES_MAX:
            return None
        expected = event.originator_version - 1
        if expected < 1:
            continue
        prior = recorder.select_events(event.originator_id, lte=expected, desc=True, limit=1)
        if not prior or prior[0].originator_version != expected:
            return str(event.originator_id), expected
    return None


@dataclass
class _Scan:
    recorder: ChainRecorder
    reader: PageReader
    end: int
    prev: bytes
    position: int
    seals: list[tuple[int, bytes]]
    trusted: tuple[int, bytes]
    checked: int = 0
    seal_index: int = 0
    since_first: Notification | None = None  # first event checked after the last matched seal
    since_count: int = 0
    finishing: bool = False
    topics: dict[str, bytes] = field(default_factory=dict)

    @classmethod
    def begin(
        cls, recorder: ChainRecorder, start: int, end: int, sealed: Sequence[tuple[int, bytes | str]]
    ) -> _Scan:
        before = recorder.select_last_link(before=start) if start > 1 else None
        position, prev = before if before is not None else (0, GENESIS)
        seals = sorted((n, _as_link(h)) for n, h in sealed if n >= start - 1)
        return cls(recorder, page_reader(recorder), end, prev, position, seals, trusted=(position, prev))

    def ok(self) -> VerifyResult:
        return VerifyResult(ok=True, position=self.position, head=self.prev.hex(), checked=self.checked)

    def broken(
        self, position: int, event: tuple[str, int] | None, reason: str, detail: str
    ) -> VerifyResult:
        return VerifyResult(
            ok=False, position=self.position, head=self.prev.hex(), checked=self.checked,
            broken_position=position, broken_event=event, reason=reason, detail=detail,
        )

    def check_seals(self, before: int | None) -> VerifyResult | None:
        """Compare every seal at a position < `before` (all, when None) with the scan."""
        while self.seal_index < len(self.seals):
            position, head = self.seals[self.seal_index]
            if before is not None and position >= before:
                return None
            if (self.position, self.prev) != (position, head):
                return self.seal_broken(position)
            self.trusted, self.since_first, self.since_count = (position, head), None, 0
            self.seal_index += 1
        return None

    def seal_broken(self, sealed_position: int) -> VerifyResult:
        trusted_position, trusted_head = self.trusted
        first = self.since_first
        single = self.since_count == 1 and self.position == sealed_position
        if self.finishing and self.position < sealed_position:
            detail = f"the log ends at {self.position}, before the sealed position: events were removed"
        else:
            detail = (
                f"every link fits, yet the link at {sealed_position} differs from the sealed head: "
                f"an event in positions {trusted_position + 1}..{sealed_position} was changed "
                "or removed and the chain recomputed"
            )
        return VerifyResult(
            ok=False, position=trusted_position, head=trusted_head.hex(), checked=self.checked,
            broken_position=first.id if first is not None else sealed_position,
            broken_event=_identity(first) if single and first is not None else None,
            reason=sealed_reason(sealed_position), detail=detail,
        )

    def page(self, rows: Sequence[EventRow], links: Sequence[LinkRow]) -> tuple[int, VerifyResult | None]:
        """Check one page; returns how many of its events were vouched for (in order) and
        the failure, if any. `fast` takes the common case; from the first row it cannot
        vouch for, the general merge takes over with library-shaped rows, so findings and
        messages are the merge's whatever the reader."""
        checked = self.checked
        failure = self.fast(rows, links)
        done = self.checked - checked
        if failure is not None or done == len(rows) == len(links):
            return done, failure
        failure = self.merge([self.reader.notification(row) for row in rows[done:]], links[done:])
        return (self.checked - checked if failure is not None else len(rows)), failure

    def fast(self, rows: Sequence[EventRow], links: Sequence[LinkRow]) -> VerifyResult | None:
        """Vouch for rows while each has its own link row and the link recomputes; stop
        silently at the first that does not (or cannot be put in canonical form)."""
        sha256, header, length = hashlib.sha256, _HEADER.pack, _LENGTH.pack
        prev, position, count = self.prev, self.position, 0
        seal_at, need_first = self.next_seal(), self.since_first is None
        try:
            for row, (link_id, stored) in zip(rows, links):  # noqa: B905 - lengths may differ
                nid, oid, version, topic, state = row
                if nid != link_id:
                    break
                if nid > seal_at:
                    self.advance(prev, position, count)
                    count, failure = 0, self.check_seals(nid)
                    if failure is not None:
                        return failure
                    seal_at, need_first = self.next_seal(), self.since_first is None
                topic_bytes = self.topics.get(topic) or self.topic_bytes(topic)
                if type(oid) is not bytes:
                    oid = _id_bytes(oid)
                canonical = (prev, header(oid, version, len(topic_bytes)), topic_bytes,
                             length(len(state)), state)
                if sha256(b"".join(canonical)).digest() != stored:
                    break
                if need_first:
                    self.since_first, need_first = self.reader.notification(row), False
                prev, position, count = stored, nid, count + 1
        except _FAST_PATH_EXITS:
            pass  # the merge recomputes this row the careful way and names what is wrong
        self.advance(prev, position, count)
        return None

    def advance(self, prev: bytes, position: int, count: int) -> None:
        self.prev, self.position = prev, position
        self.checked += count
        self.since_count += count

    def next_seal(self) -> int:
        return self.seals[self.seal_index][0] if self.seal_index < len(self.seals) else _NO_SEAL

    def topic_bytes(self, topic: str) -> bytes:
        if len(self.topics) >= TOPIC_CACHE_MAX:
            self.topics.clear()
        self.topics[topic] = encoded = topic.encode("utf-8")
        return encoded


    def merge(self, events: Sequence[Notification], links: Sequence[LinkRow]) -> VerifyResult | None:
        """Merge events and chain rows by notification id, naming the first misfit."""
        e = k = 0
        while e < len(events) or k < len(links):
            event = events[e] if e < len(events) else None
            link = links[k] if k < len(links) else None
            if link is not None and (event is None or link[0] < event.id):
                return self.check_seals(link[0]) or self.orphan_link(link[0])
            assert event is not None
            failure = self.check_seals(event.id)
            if failure is not None:
                return failure
            if link is None or event.id < link[0]:
                return self.broken(event.id, _identity(event), LINK_MISMATCH,
                                   "the event has no chain link: its link row was deleted "
                                   "or the event was written around the chain")
            failure = self.step(event, link[1])
            if failure is not None:
                return failure
            e, k = e + 1, k + 1
        return None

    def step(self, event: Notification, stored: bytes) -> VerifyResult | None:
        computed = _link_or_none(self.prev, event)
        if computed != stored:
            return self.diagnose(event, stored, computed)
        if self.since_first is None:
            self.since_first = event
        self.since_count += 1
        self.prev, self.position, self.checked = stored, event.id, self.checked + 1
        return None

    def window_after(self, position: int) -> Sequence[Notification]:
        return self.recorder.select_notifications(start=position + 1, limit=LOOKAHEAD_MAX, stop=self.end)

    def orphan_link(self, position: int) -> VerifyResult:
        evidence = _deleted_event(self.recorder, self.window_after(position))
        return self.broken(position, evidence, EVENT_MISSING,
                           f"the chain has a link at {position} but the events table has no event there")

    def link_only_altered(self, computed: bytes | None, window: Sequence[Notification]) -> bool:
        if computed is None or not window:
            return False
        following = dict(self.recorder.select_links(window[0].id - 1, window[0].id, 1))
        return following.get(window[0].id) == _link_or_none(computed, window[0])

    def diagnose(self, event: Notification, stored: bytes, computed: bytes | None) -> VerifyResult:
        window = self.window_after(event.id)
        partner = _swap_partner(self.prev, event, stored, window)
        if partner is not None:
            return self.broken(event.id, _identity(event), SWAPPED,
                               f"the link at {event.id} covers what is now at {partner.id}: "
                               f"{_describe(event)} and {_describe(partner)} were swapped")
        if self.link_only_altered(computed, window):
            return self.broken(event.id, _identity(event), LINK_MISMATCH,
                               f"the event at {event.id} is intact but its stored link was altered")
        first_absent = self.position + 1
        if event.id > first_absent:
            evidence = _deleted_event(self.recorder, [event, *window])
            if evidence is not None or self.recorder.notification_ids_contiguous:
                return self.broken(first_absent, evidence, EVENT_MISSING,
                                   f"ids {first_absent}..{event.id - 1} are in neither table and the "
                                   f"link at {event.id} does not follow the link at {self.position}")
        return self.broken(event.id, _identity(event), STATE_CHANGED,
                           f"the bytes of {_describe(event)} are not what its link covers")


def verify_chain(
    recorder: ChainRecorder,
    *,
    start: int = 1,
    progress: Progress | None = None,
    sealed: Sequence[tuple[int, bytes | str]] = (),
    on_rows: RowsVerified | None = None,
    stop: int | None = None,
) -> VerifyResult:
    """Recompute the chain from `start` to the end of the log as it is when called (or to
    `stop`, inclusive: the first part of a split verification, ledger/persistence/split.py).

    `progress(done, total)` is called after each page with positions covered so far.
    `sealed` holds (position, head) pairs the auditor kept; each is checked on the way.
    `on_rows(rows)` gets, page by page and in order, the events whose links recomputed
    (rows of `ledger.persistence.pages`), so a replay can use them in the same pass; the
    rows after a failure are not passed. Memory is bounded by the page size.
    """
    if start < 1:
        msg = f"start is a notification id (>= 1), got {start}"
        raise ValueError(msg)
    max_event, max_link = recorder.chain_bounds()
    end = max(max_event, max_link) if stop is None else min(max(max_event, max_link), stop)
    scan = _Scan.begin(recorder, start, end, sealed)
    total = max(end - start + 1, 0)
    with closing(_pages(scan.reader, start - 1, end)) as pages:
        for events, links, page_end in pages:
            done, failure = scan.page(events, links)
            if on_rows is not None and done:
                on_rows(events if done == len(events) else events[:done])
            if failure is not None:
                return failure
            if progress is not None:
                progress(page_end - start + 1, total)
    scan.finishing = True
    return scan.check_seals(None) or scan.ok()


Page = tuple[list[EventRow], list[LinkRow], int]


def _read_page(reader: PageReader, cursor: int, page_end: int) -> Page:
    """The events and chain rows with cursor < notification_id <= page_end."""
    events = reader.events(cursor, page_end, PAGE_SIZE)
    links = reader.links(cursor, page_end, LINKS_PAGE_MAX)
    return events, links, page_end


def _pages(reader: PageReader, cursor: int, end: int) -> Generator[Page, None, None]:
    """Pages from `cursor` to `end` in order, each a window of PAGE_SIZE notification ids
    (a window holds at most that many rows of each table; one left empty by ids a rolled-back
    insert skipped costs two quick queries). Windows do not depend on what the one before
    held, so the next two are read in helper threads, on their own connections, while the
    caller checks this one: the database's time and ours overlap. At most three pages are
    held."""
    bounds = [(low, min(low + PAGE_SIZE, end)) for low in range(cursor, end, PAGE_SIZE)]
    with ThreadPoolExecutor(max_workers=READERS, thread_name_prefix="verify-read") as pool:
        pending = deque(pool.submit(_read_page, reader, low, high)
                        for low, high in bounds[:READERS])
        for nxt in range(READERS, len(bounds) + READERS):
            page = pending.popleft().result()
            if nxt < len(bounds):
                pending.append(pool.submit(_read_page, reader, *bounds[nxt]))
            yield page
