"""Auditing the ledger: verify the hash chain against the seals recorded in the log (and any
head an auditor kept), and seal today's head, signed when a key is configured."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import Any

from ledger.mapper import decode_stored
from ledger.persistence.chain import VerifyResult, chain_head, verify_chain
from ledger.persistence.seal import sign_seal
from ledger.records import Seal

SEAL_TOPIC = "ledger.records:Seal.Sealed"


def recorded_seals(ledger: Any) -> list[tuple[int, str]]:
    """The (position, head) pairs sealed in the log itself."""
    seals = []
    notes = ledger.recorder.select_notifications(start=1, limit=1_000_000, topics=[SEAL_TOPIC])
    for note in notes:
        sealed = decode_stored(note.topic, note.state)
        if sealed.position > 0:
            seals.append((sealed.position, sealed.head))
    return seals


def verify(ledger: Any, *, kept: Sequence[tuple[int, str]] = (),
           progress: Callable[[int, int], None] | None = None) -> VerifyResult:
    """Recompute the chain from the first event; check it against every recorded seal and
    every (position, head) an auditor kept from earlier."""
    sealed = [*recorded_seals(ledger), *kept]
    return verify_chain(ledger.recorder, progress=progress, sealed=sealed)


def seal_today(ledger: Any, day: date, key_file: str | None) -> Seal:
    """Seal the current head as an event; idempotent per day."""
    position, head = chain_head(ledger.recorder)
    signature = None
    if key_file:
        signature = sign_seal(Path(key_file).read_bytes(), position, head).hex()
    return ledger.seal_chain(day, position, head.hex(), signature)  # type: ignore[no-any-return]
