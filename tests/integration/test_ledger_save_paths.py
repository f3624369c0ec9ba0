"""How the ledger saves, on real stores: a small save (an online batch) and a large one (an
offline sync chunk) take different routes to PostgreSQL and must leave the same chain; a
failed small save stores nothing and leaves its connection usable; a writer does not read its
own events back in the next tail; stable ids are exactly uuid5 of their key."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent
from ledger_fixtures import SCHOOL_DAY, at, canteen, enrol, scan, school_ledger

from ledger import application
from ledger.base import NAMESPACE, stable_id
from ledger.ledger import Ledger
from ledger.persistence.chain import verify_chain
from ledger.persistence.postgres import SMALL_SAVE_EVENTS_MAX
from ledger.store import close_ledger, open_ledger

TOPIC = "ledger.records:TerminalEvent.MealServed"


def test_stable_ids_are_uuid5_of_their_key() -> None:
    for key in [("child", "c1"), ("terminal-event", "t1", "e-42"), ("menu", "s1", "2025-10-01"),
                ("identifier", "card", "Ünïcode-токен")]:
        expected = uuid.uuid5(NAMESPACE, "/".join(key))
        made = stable_id(*key)
        assert made == expected and str(made) == str(expected) and hash(made) == hash(expected)
        assert made.version == 5 and made.is_safe == expected.is_safe


@pytest.fixture
def pg_ledger(postgres_url: str) -> Iterator[Ledger]:
    ledger = open_ledger(postgres_url)
    try:
        yield ledger
    finally:
        close_ledger(ledger)


def _events(count: int, state: bytes = b'{"x":1}') -> list[StoredEvent]:
    return [StoredEvent(uuid.uuid4(), 1, TOPIC, state) for _ in range(count)]


def test_small_and_large_saves_leave_one_verifiable_chain(pg_ledger: Ledger) -> None:
    recorder = pg_ledger.recorder
    sizes = [1, SMALL_SAVE_EVENTS_MAX, SMALL_SAVE_EVENTS_MAX + 1, 2, 600, 3]
    saved: list[int] = []
    for size in sizes:
        # states with bytes a text literal would have to escape: quotes, backslashes, NUL
        events = _events(size, state=b'\\x00 "quoted" \\\\ \x00\xff{}')
        ids = recorder.insert_events(events)
        assert ids is not None and len(ids) == size
        stored = {n.id: n for n in recorder.select_notifications(min(ids), size)}
        assert [(stored[i].originator_id, stored[i].state) for i in ids] == [
            (e.originator_id, e.state) for e in events]
        saved.extend(ids)
    assert saved == sorted(saved)
    result = verify_chain(recorder)
    assert result.ok, result.summary()
    assert result.position == saved[-1]


def test_a_failed_small_save_stores_nothing_and_the_next_one_works(pg_ledger: Ledger) -> None:
    recorder = pg_ledger.recorder
    first = _events(1)
    recorder.insert_events(first)
    clash = [*_events(2), first[0]]  # the same aggregate version again: refused
    with pytest.raises(IntegrityError):
        recorder.insert_events(clash)
    assert recorder.select_events(clash[0].originator_id) == []
    assert recorder.insert_events(_events(2))  # the connection is not left in a transaction
    result = verify_chain(recorder)
    assert result.ok and result.position == recorder.max_notification_id(), result.summary()


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_a_writer_does_not_read_its_own_events_back_in_the_next_tail(
        kind: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    url: str = request.getfixturevalue(f"{kind}_url")
    tails: list[int] = []
    read = application.changes_since

    def counting(recorder, position, load=()):  # type: ignore[no-untyped-def]
        found = read(recorder, position, load)
        tails.append(-1 if found[1] is None else len(found[1]))
        return found

    monkeypatch.setattr(application, "changes_since", counting)
    with school_ledger(url) as ledger:
        enrol(ledger, "c1", card="k1")
        enrol(ledger, "c2", card="k2")
        assert scan(ledger, canteen(), "e1", card="k1", at=at(SCHOOL_DAY, 9)).status == "recorded"
        tails.clear()
        assert scan(ledger, canteen(), "e2", card="k2", at=at(SCHOOL_DAY, 9)).status == "recorded"
        assert tails == [0]  # e1's meal and child-day did not come back
        other = open_ledger(url)
        try:
            other.revoke_identifier("card", "k1", "lost")
        finally:
            close_ledger(other)
        tails.clear()
        outcome = scan(ledger, canteen(), "e3", card="k1", at=at(SCHOOL_DAY, 10))
        assert tails == [2]  # the other writer's events: the identifier's and the child's
        assert (outcome.status, outcome.reason) == ("refused", "unknown_identifier")


def _prepared_here(conn: object) -> dict[str, int]:
    """The connection's prepared statements and how often each ran (PostgreSQL 14+)."""
    with conn.cursor() as curs:  # type: ignore[attr-defined]
        curs.execute("SELECT name, generic_plans + custom_plans AS runs "
                     "FROM pg_catalog.pg_prepared_statements")
        rows = {row["name"]: row["runs"] for row in curs.fetchall()}
    conn.commit()  # type: ignore[attr-defined]
    return rows


@pytest.fixture
def one_connection_ledger(postgres_url: str) -> Iterator[Ledger]:
    """A ledger whose recorder has one pooled connection: every save takes that one."""
    ledger = open_ledger(postgres_url,
                         extra_env={"POSTGRES_POOL_SIZE": "1", "POSTGRES_MAX_OVERFLOW": "0"})
    try:
        yield ledger
    finally:
        close_ledger(ledger)


def test_small_saves_run_statements_prepared_once_a_connection(
        one_connection_ledger: Ledger) -> None:
    """A small save's statements are PREPAREd on a connection before its first small save
    and run as EXECUTE (planned once, not at every save); a connection that lost them
    (DEALLOCATE, a pooler's DISCARD ALL) prepares them again and the save goes through."""
    recorder = one_connection_ledger.recorder
    ours = set(recorder._prepare_sql)
    assert len(ours) == 4
    for _ in range(3):
        assert recorder.insert_events(_events(2))
    connections = list(recorder._prepared_on)
    assert len(connections) == 1
    runs = {name: 0 for name in ours}
    for conn in connections:
        here = _prepared_here(conn)
        assert ours <= here.keys()
        for name in ours:
            runs[name] += here[name]
    insert, links = (next(n for n in ours if n.rsplit("_", 1)[0] == f"tamaq_{kind}")
                     for kind in ("small_insert", "small_links"))
    assert runs[insert] == runs[links] == 3  # every save went through them
    for conn in connections:  # gone behind the recorder's back
        with conn.cursor() as curs:
            for name in ours:
                curs.execute(f"DEALLOCATE {name}")
        conn.commit()
        assert not ours & _prepared_here(conn).keys()
    ids = recorder.insert_events(_events(3))
    assert ids is not None and len(ids) == 3
    assert list(recorder._prepared_on) == connections  # the same connection, prepared again
    assert ours <= _prepared_here(connections[0]).keys()
    result = verify_chain(recorder)
    assert result.ok and result.position == max(ids), result.summary()
