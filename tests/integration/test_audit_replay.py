"""The single-pass audit replay: `ledger.audit.replay` reads each page of events once,
recomputes its links and decodes every event into its class. It must hand on exactly what
the library's own reader and mapper give, in log order, and stop at the first tampered
event with the same finding `verify_chain` always gave, whatever the page size."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from ledger_fixtures import SCHOOL_DAY, at, canteen, enrol, scan, school_ledger
from test_chain_tamper import AGGREGATES, ROUNDS, RawStore, chained_env, store, write_history

from ledger import audit
from ledger.dates import local_day
from ledger.ledger import Ledger
from ledger.persistence import verify as verify_module
from ledger.persistence.chain import verify_chain
from ledger.persistence.links import ChainFormatError, _uuid_bytes
from ledger.persistence.pages import originator_text

__all__ = ["store"]  # the Canteen store fixture (sqlite and postgres) of test_chain_tamper
CHILDREN = 6


@pytest.fixture
def small_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pages of 7 events, so that every test crosses many page boundaries."""
    monkeypatch.setattr(verify_module, "PAGE_SIZE", 7)
    monkeypatch.setattr(verify_module, "LINKS_PAGE_MAX", 14)


@pytest.fixture(params=["sqlite", "postgres"])
def ledger_store(request: pytest.FixtureRequest) -> Iterator[tuple[Ledger, RawStore]]:
    url: str = request.getfixturevalue(f"{request.param}_url")
    with school_ledger(url) as ledger:
        for i in range(CHILDREN):
            enrol(ledger, f"c{i}", card=f"k{i}")
            scan(ledger, canteen(), f"e{i}", card=f"k{i}", at=at(SCHOOL_DAY, 11, i))
        raw = RawStore(request.param, url, chained_env(request.param, url))
        if request.param == "sqlite":
            raw.events, raw.chain = "stored_events", "ledger_chain"
        else:
            raw.events, raw.chain = "ledger_events", "ledger_chain"
        yield ledger, raw
        raw.conn.close()


def library_replay(ledger: Ledger) -> list[tuple[int, Any]]:
    notes = ledger.recorder.select_notifications(start=1, limit=1_000_000)
    return [(n.id, ledger.mapper.to_domain_event(n)) for n in notes]


def collected(ledger: Ledger, **kwargs: Any) -> tuple[audit.VerifyResult, list[tuple[int, Any]]]:
    events: list[tuple[int, Any]] = []
    result = audit.replay(ledger, events.extend, **kwargs)
    return result, events


@pytest.mark.parametrize("pages", ["default", "small"])
def test_replay_hands_on_the_library_s_events_in_log_order(
    store_url: str, pages: str, request: pytest.FixtureRequest
) -> None:
    if pages == "small":
        request.getfixturevalue("small_pages")
    with school_ledger(store_url) as ledger:
        for i in range(CHILDREN):
            enrol(ledger, f"c{i}", card=f"k{i}")
            scan(ledger, canteen(), f"e{i}", card=f"k{i}", at=at(SCHOOL_DAY, 11, i))
        expected = library_replay(ledger)
        result, events = collected(ledger)
        assert result.ok and result.checked == len(expected) > 50
        assert events == expected
        assert audit.verify(ledger) == result


def test_a_changed_byte_stops_the_replay_just_before_that_event(
    ledger_store: tuple[Ledger, RawStore], small_pages: None
) -> None:
    ledger, raw = ledger_store
    ids = raw.ids()
    target = ids[40]
    raw.flip_one_byte(target)
    result, events = collected(ledger)
    assert (result.reason, result.broken_position, result.broken_event) == (
        "state changed", target, raw.identity(target))
    assert [position for position, _ in events] == ids[:40]


def test_an_event_that_fits_a_rewritten_chain_but_does_not_decode_is_named(
    ledger_store: tuple[Ledger, RawStore], small_pages: None
) -> None:
    ledger, raw = ledger_store
    ids = raw.ids()
    target = ids[30]
    raw.set_state(target, b'{"not": "an event"}')
    raw.rewrite_chain()
    result, events = collected(ledger)
    assert (result.ok, result.reason) == (False, audit.UNREADABLE)
    assert (result.broken_position, result.broken_event) == (target, raw.identity(target))
    assert (result.position, result.checked) == (ids[-1], len(ids))  # the chain itself is intact
    assert [position for position, _ in events] == ids[:30]


def test_a_recorded_seal_still_catches_a_rewritten_chain(
    ledger_store: tuple[Ledger, RawStore], small_pages: None
) -> None:
    ledger, raw = ledger_store
    seal = audit.seal_today(ledger, local_day(at(SCHOOL_DAY), "Asia/Almaty"), None)
    scan(ledger, canteen(), "after-seal", card="k0", at=at(SCHOOL_DAY, 13))
    target = raw.ids()[12]
    raw.flip_one_byte(target)
    raw.rewrite_chain()
    assert verify_chain(ledger.recorder).ok  # self-consistent without the seal
    result = audit.verify(ledger)
    assert result.reason == f"does not match sealed head at {seal.sealed.position}"
    assert result.broken_position == raw.ids()[0]


def test_an_untouched_log_with_seals_verifies_in_one_pass(
    ledger_store: tuple[Ledger, RawStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger, _ = ledger_store
    audit.seal_today(ledger, local_day(at(SCHOOL_DAY), "Asia/Almaty"), None)
    scan(ledger, canteen(), "after-seal", card="k1", at=at(SCHOOL_DAY, 13))
    passes: list[object] = []
    real = audit.verify_chain
    monkeypatch.setattr(audit, "verify_chain", lambda *a, **k: passes.append(a) or real(*a, **k))
    assert audit.verify(ledger).ok
    assert len(passes) == 1


@pytest.mark.parametrize("tamper", ["flip", "delete", "delete_with_link", "swap", "link", "orphan"])
def test_findings_do_not_depend_on_the_page_size(
    store: tuple[Any, RawStore], tamper: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    app, raw = store
    write_history(app)
    ids = raw.ids()
    if tamper == "flip":
        raw.flip_one_byte(ids[70])
    elif tamper in ("delete", "delete_with_link"):
        raw.run("DELETE FROM {events} WHERE {nid}=?", (ids[70],))
        if tamper == "delete_with_link":
            raw.run("DELETE FROM {chain} WHERE notification_id=?", (ids[70],))
    elif tamper == "swap":
        first, second = raw.state(ids[20]), raw.state(ids[150])
        raw.set_state(ids[20], second)
        raw.set_state(ids[150], first)
    elif tamper == "link":
        raw.run("UPDATE {chain} SET link=? WHERE notification_id=?", (bytes(32), ids[70]))
    else:
        raw.run("DELETE FROM {events} WHERE {nid}=?", (ids[-1],))
    whole = verify_chain(app.recorder)
    for page_size in (1, 7, 70):
        monkeypatch.setattr(verify_module, "PAGE_SIZE", page_size)
        monkeypatch.setattr(verify_module, "LINKS_PAGE_MAX", 2 * page_size)
        assert verify_chain(app.recorder) == whole
    assert not whole.ok


def test_rows_handed_on_are_the_library_s_notifications(store: tuple[Any, RawStore], small_pages: None) -> None:
    app, raw = store
    write_history(app)
    rows: list[tuple[int, str, int, str, bytes]] = []
    result = verify_chain(app.recorder, on_rows=lambda page: rows.extend(
        (r[0], originator_text(r[1]), r[2], r[3], r[4]) for r in page))
    notes = app.recorder.select_notifications(start=1, limit=1_000)
    assert result.ok and len(rows) == AGGREGATES * ROUNDS
    assert rows == [(n.id, str(n.originator_id), n.originator_version, n.topic, n.state) for n in notes]


@pytest.mark.parametrize("text", [
    "6f1c2a43-1b7e-5d8e-9a57-2a7b1c9e0d11", "6F1C2A43-1B7E-5D8E-9A57-2A7B1C9E0D11",
    "6f1c2a431b7e5d8e9a572a7b1c9e0d11", "{6f1c2a43-1b7e-5d8e-9a57-2a7b1c9e0d11}",
    "urn:uuid:6f1c2a43-1b7e-5d8e-9a57-2a7b1c9e0d11", "6f1c2a43-1b7e-5d8e-9a57-2a7b1c9e0d1",
    "6f1c2a43 1b7e 5d8e 9a57 2a7b1c9e0d11", "6f 1c2a431b7e5d8e9a572a7b1c9e0d11",
    "6f1c2a43_1b7e5d8e9a572a7b1c9e0d11", "6f1c2a43-1b7e-5d8e-9a57-2a7b1c9e0d1g", "",
])
def test_the_quick_id_conversion_agrees_with_the_chain_format(text: str) -> None:
    try:
        expected: bytes | None = _uuid_bytes(text)
    except ChainFormatError:
        expected = None
    try:
        quick: bytes | None = verify_module._id_bytes(text)
    except ChainFormatError:
        quick = None
    assert quick == expected


def test_ids_skipped_by_rolled_back_inserts_leave_empty_pages_that_verify(
    postgres_url: str, small_pages: None
) -> None:
    """Pages are windows of ids read ahead of the check; a window holding no row (ids a
    rolled-back insert took: PostgreSQL's sequences, SQLite reuses rowids) is simply empty,
    and the events after it still replay."""
    with school_ledger(postgres_url) as ledger:
        for i in range(CHILDREN):
            enrol(ledger, f"c{i}", card=f"k{i}")
        raw = RawStore("postgres", postgres_url, chained_env("postgres", postgres_url))
        raw.events, raw.chain = "ledger_events", "ledger_chain"
        try:
            raw.run("SELECT setval(pg_get_serial_sequence('{events}', 'notification_id'),"
                    " (SELECT max(notification_id) FROM {events}) + 30)")
            scan(ledger, canteen(), "after-the-gap", card="k1", at=at(SCHOOL_DAY, 13))
            ids = raw.ids()
        finally:
            raw.conn.close()
        assert max(b - a for a, b in zip(ids, ids[1:])) > 30  # 4 windows of 7 ids, no row
        expected = library_replay(ledger)
        result, events = collected(ledger)
        assert result.ok and result.position == ids[-1] and result.checked == len(ids)
        assert events == expected
