"""Auditing the ledger: verify the hash chain against the seals recorded in the log (and any
head an auditor kept) while reading every event back into its class, in one streaming pass;
and seal today's head, signed when a key is configured."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import msgspec
from eventsourcing.utils import TopicError

from ledger.mapper import decode_stored
from ledger.persistence.chain import VerifyResult, chain_head, verify_chain
from ledger.persistence.pages import EventRow, originator_text
from ledger.persistence.seal import sign_seal
from ledger.persistence.split import verify_split
from ledger.records import Seal

SEAL_TOPIC = "ledger.records:Seal.Sealed"
UNREADABLE = "event unreadable"
Progress = Callable[[int, int], None]
Replayed = Callable[[list[tuple[int, Any]]], None]  # a page of (position, domain event)


def recorded_seals(ledger: Any) -> list[tuple[int, str]]:
    """The (position, head) pairs sealed in the log itself."""
    seals = []
    notes = ledger.recorder.select_notifications(start=1, limit=1_000_000, topics=[SEAL_TOPIC])
    for note in notes:
        sealed = decode_stored(note.topic, note.state)
        if sealed.position > 0:
            seals.append((sealed.position, sealed.head))
    return seals


class _Reading:
    """Decodes each page of verified rows; remembers the first row that does not decode."""

    def __init__(self, handle: Replayed | None) -> None:
        self.handle = handle
        self.unreadable: tuple[EventRow, Exception] | None = None
        self.seals: list[tuple[int, str]] = []  # (position, head) sealed in the rows read

    def rows(self, rows: Sequence[EventRow]) -> None:
        if self.unreadable is not None:
            return  # the verdict is set; the chain is still checked to the end
        events: list[tuple[int, Any]] = []
        keep = self.handle is not None
        row: EventRow | None = None
        try:
            for row in rows:
                event = decode_stored(row[3], row[4])
                if keep:
                    events.append((row[0], event))
                if row[3] == SEAL_TOPIC and event.position > 0:
                    self.seals.append((event.position, event.head))
        except (msgspec.MsgspecError, TopicError) as error:
            assert row is not None
            self.unreadable = (row, error)
        if self.handle is not None and events:
            self.handle(events)

    def verdict(self, result: VerifyResult) -> VerifyResult:
        """A broken chain first (it says more); else the first event that does not decode."""
        if not result.ok or self.unreadable is None:
            return result
        (position, originator_id, version, topic, _), error = self.unreadable
        identity = (originator_text(originator_id), version)
        return msgspec.structs.replace(
            result, ok=False, broken_position=position, broken_event=identity, reason=UNREADABLE,
            detail=f"{identity[0]} v{version} at {position} fits the chain but does not "
                   f"decode as {topic}: {error}")


def replay(ledger: Any, handle: Replayed | None = None, *, kept: Sequence[tuple[int, str]] = (),
           progress: Progress | None = None) -> VerifyResult:
    """Recompute the chain from the first event, checking it against every recorded seal and
    every (position, head) an auditor kept, and decode every event into its class in the
    same pass: `handle` gets them page by page, in log order, up to the first failure.
    Memory is bounded by the page size whatever the length of the log."""
    if handle is None:  # a verification: the log's second half in a second process
        reading = _Reading(None)
        split = verify_split(ledger.recorder, kept, reading.rows, progress, SEAL_TOPIC)
        if split is not None:
            result, seals = split
            if reading.unreadable is None and _seals_hold(ledger.recorder,
                                                          [*reading.seals, *seals]):
                return result
    reading = _Reading(handle)
    result = verify_chain(ledger.recorder, progress=progress, sealed=kept, on_rows=reading.rows)
    if result.ok and reading.unreadable is None and _seals_hold(ledger.recorder, reading.seals):
        return result
    # Something is wrong: verify again with every recorded seal checked on the way (the seals
    # are read up front this time), so the finding names the first position that misfits.
    result = verify_chain(ledger.recorder, sealed=[*recorded_seals(ledger), *kept])
    return reading.verdict(result)


def _seals_hold(recorder: Any, seals: Sequence[tuple[int, str]]) -> bool:
    """Every seal found in an intact chain names a stored link. (The chain being intact,
    every stored link is the recomputed one, so no second pass is needed.)"""
    for position, head in seals:
        found = recorder.select_links(position - 1, position, 1)
        if not found or found[0] != (position, _link_bytes(head)):
            return False
    return True


def _link_bytes(head: str) -> bytes | None:
    try:
        return bytes.fromhex(head)
    except ValueError:
        return None  # matches no link; the second pass reports the seal as verify_chain does


def verify(ledger: Any, *, kept: Sequence[tuple[int, str]] = (),
           progress: Progress | None = None) -> VerifyResult:
    """`replay` without a consumer: the chain is intact and every event reads back."""
    return replay(ledger, kept=kept, progress=progress)


def seal_today(ledger: Any, day: date, key_file: str | None) -> Seal:
    """Seal the current head as an event; idempotent per day."""
    position, head = chain_head(ledger.recorder)
    signature = None
    if key_file:
        signature = sign_seal(Path(key_file).read_bytes(), position, head).hex()
    return ledger.seal_chain(day, position, head.hex(), signature)  # type: ignore[no-any-return]
