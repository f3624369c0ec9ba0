"""The chain format, seals and the verifier on the in-memory (POPO) chained recorder."""

from __future__ import annotations

import hashlib
import struct
from dataclasses import replace
from uuid import UUID, uuid4

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import generate_private_key
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import StoredEvent
from hypothesis import given
from hypothesis import strategies as st

from ledger.persistence.chain import (
    GENESIS,
    ChainFormatError,
    ChainIntegrityError,
    canonical_bytes,
    chain_head,
    extend_chain,
    iter_events_with_links,
    link_rows,
    log_only_grew,
    next_link,
    verify_chain,
)
from ledger.persistence.popo import ChainedPOPOApplicationRecorder
from ledger.persistence.seal import (
    SealKeyError,
    generate_seal_key,
    public_key_pem,
    seal_message,
    sign_seal,
    verify_seal,
)


class Tray(Aggregate):
    def __init__(self) -> None:
        self.count = 0

    @event("Filled")
    def fill(self, portions: int) -> None:
        self.count += portions


class Kitchen(Application[UUID]):
    env = {"PERSISTENCE_MODULE": "ledger.persistence.popo"}


TRAYS, FILLS = 3, 10
EVENTS = TRAYS * (1 + FILLS)  # one Created and FILLS Filled per tray


def kitchen_with_history() -> tuple[Kitchen, list[Tray]]:
    app = Kitchen()
    items = [Tray() for _ in range(TRAYS)]
    for portions in range(FILLS):
        for tray in items:
            tray.fill(portions)
        app.save(*items)
    return app, items


def stored(state: bytes = b"{}", version: int = 1, topic: str = "x:Y") -> StoredEvent:
    return StoredEvent(originator_id=uuid4(), originator_version=version, topic=topic, state=state)


def test_canonical_bytes_follow_the_documented_layout() -> None:
    event_ = stored(state=b"\x00\xffstate", version=7, topic="ledger.child:Child.Fed")
    topic = event_.topic.encode()
    expected = (UUID(str(event_.originator_id)).bytes + struct.pack(">Q", 7) + struct.pack(">I", len(topic))
                + topic + struct.pack(">I", len(event_.state)) + event_.state)
    assert canonical_bytes(event_) == expected
    assert next_link(GENESIS, event_) == hashlib.sha256(bytes(32) + expected).digest()


def test_a_text_uuid_id_links_like_the_uuid_and_other_text_is_refused() -> None:
    event_ = stored()
    as_text = replace(event_, originator_id=str(event_.originator_id))
    assert canonical_bytes(as_text) == canonical_bytes(event_)
    with pytest.raises(ChainFormatError, match="not a UUID"):
        canonical_bytes(replace(event_, originator_id="child-42"))


@given(st.lists(st.binary(max_size=40), min_size=1, max_size=30), st.data())
def test_links_do_not_depend_on_how_events_were_batched(states: list[bytes], data: st.DataObject) -> None:
    events = [stored(state=s, version=i + 1) for i, s in enumerate(states)]
    cut = data.draw(st.integers(min_value=0, max_value=len(events)))
    first = extend_chain(GENESIS, events[:cut])
    second = extend_chain(first[-1] if first else GENESIS, events[cut:])
    assert first + second == extend_chain(GENESIS, events)


def test_links_for_ids_that_do_not_follow_the_head_are_refused() -> None:
    with pytest.raises(ChainIntegrityError, match="events table was edited"):
        link_rows(5, GENESIS, [5, 6], [stored(), stored()])


def test_an_application_on_the_popo_module_writes_a_chain_that_verifies() -> None:
    app, trays = kitchen_with_history()
    assert isinstance(app.recorder, ChainedPOPOApplicationRecorder)
    result = verify_chain(app.recorder)
    assert (result.ok, result.checked, result.position) == (True, EVENTS, EVENTS)
    assert chain_head(app.recorder) == (EVENTS, bytes.fromhex(result.head))
    assert app.repository.get(trays[1].id).count == sum(range(FILLS))


def test_progress_is_reported_up_to_the_total() -> None:
    app, _ = kitchen_with_history()
    calls: list[tuple[int, int]] = []
    verify_chain(app.recorder, progress=lambda done, total: calls.append((done, total)))
    assert calls and calls[-1] == (EVENTS, EVENTS)


def test_a_changed_event_in_memory_is_named() -> None:
    app, _ = kitchen_with_history()
    recorder = app.recorder
    assert isinstance(recorder, ChainedPOPOApplicationRecorder)
    original = recorder._stored_events[11]
    recorder._stored_events[11] = replace(original, state=original.state.replace(b"1", b"2", 1))
    result = verify_chain(recorder)
    assert (result.reason, result.broken_position) == ("state changed", 12)
    assert result.broken_event == (str(original.originator_id), original.originator_version)


def test_verifying_from_a_later_start_checks_only_the_rest() -> None:
    app, _ = kitchen_with_history()
    result = verify_chain(app.recorder, start=21)
    assert (result.ok, result.checked, result.position) == (True, EVENTS - 20, EVENTS)


def test_a_sealed_position_beyond_the_end_of_the_log_is_named() -> None:
    app, _ = kitchen_with_history()
    result = verify_chain(app.recorder, sealed=[(EVENTS + 1, bytes(32))])
    assert result.reason == f"does not match sealed head at {EVENTS + 1}"
    assert f"log ends at {EVENTS}" in (result.detail or "")


def test_the_log_only_grew_since_an_earlier_head() -> None:
    app, trays = kitchen_with_history()
    earlier = chain_head(app.recorder)
    trays[0].fill(1)
    app.save(trays[0])
    assert log_only_grew(app.recorder, *earlier)
    assert not log_only_grew(app.recorder, earlier[0], bytes(32))


def test_the_event_stream_carries_each_link_in_order() -> None:
    app, _ = kitchen_with_history()
    rows = list(iter_events_with_links(app.recorder, after=25, limit=3))
    assert [row[0] for row in rows] == [26, 27, 28]
    previous = dict(app.recorder.select_links(24, 25, 1))[25]
    for nid, oid, version, topic, state, link in rows:
        assert link == next_link(previous, StoredEvent(oid, version, topic, state))
        previous = link
    with pytest.raises(ValueError, match="limit"):
        list(iter_events_with_links(app.recorder, after=0, limit=0))


def test_a_seal_signed_with_the_key_verifies_and_any_change_does_not() -> None:
    private_pem = generate_seal_key()
    public_pem = public_key_pem(private_pem)
    head = hashlib.sha256(b"head").digest()
    signature = sign_seal(private_pem, 42, head)
    assert seal_message(42, head) == f"tamaq-ledger-seal/v1 position=42 head={head.hex()}".encode()
    assert verify_seal(public_pem, 42, head, signature)
    assert not verify_seal(public_pem, 43, head, signature)
    assert not verify_seal(public_pem, 42, bytes(32), signature)
    assert not verify_seal(public_key_pem(generate_seal_key()), 42, head, signature)


def test_a_key_that_is_not_ed25519_is_refused_with_a_named_error() -> None:
    rsa_pem = generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    with pytest.raises(SealKeyError, match="Ed25519 key is expected"):
        sign_seal(rsa_pem, 1, bytes(32))
    with pytest.raises(SealKeyError, match="cannot read"):
        verify_seal(b"not a key", 1, bytes(32), bytes(64))
