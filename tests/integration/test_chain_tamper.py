"""The hash chain on real stores: an ordinary eventsourcing Application writes ~200 events
through the chained factories, then the tests edit the SQLite file or the PostgreSQL
schema directly and check that verify_chain names the position and event touched."""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Iterator
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import InfrastructureFactory, IntegrityError, StoredEvent, Tracking
from eventsourcing.utils import Environment
from psycopg import sql

from ledger.persistence.chain import (
    GENESIS,
    ChainConfigurationError,
    ChainIntegrityError,
    chain_head,
    iter_events_with_links,
    log_only_grew,
    next_link,
    verify_chain,
)
from ledger.settings import eventsourcing_env, parse_database_url

AGGREGATES = 8
ROUNDS = 25  # 8 aggregates x (1 created + 24 incremented) = 200 events


class Meter(Aggregate):
    def __init__(self, school: str) -> None:
        self.school = school
        self.meals = 0

    @event("Served")
    def serve(self, meals: int) -> None:
        self.meals += meals


class Canteen(Application[UUID]):
    is_snapshotting_enabled = True


class RawStore:
    """Direct SQL on the store, the way an attacker (or a test) would edit it."""

    def __init__(self, kind: str, url: str, env: dict[str, str]) -> None:
        self.kind, self.env = kind, env
        if kind == "sqlite":
            self.conn: Any = sqlite3.connect(env["SQLITE_DBNAME"], isolation_level=None)
            self.events, self.chain, self.nid, self.p = "stored_events", "canteen_chain", "rowid", "?"
        else:
            store = parse_database_url(url)
            self.conn = psycopg.connect(host=store.pg_host, port=store.pg_port, user=store.pg_user,
                                        dbname=store.pg_dbname, autocommit=True)
            self.conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(store.pg_schema)))
            self.events, self.chain, self.nid, self.p = "canteen_events", "canteen_chain", "notification_id", "%s"

    def run(self, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        statement = statement.format(events=self.events, chain=self.chain, nid=self.nid).replace("?", self.p)
        cursor = self.conn.execute(statement, params)
        return list(cursor.fetchall()) if cursor.description else []

    def identity(self, nid: int) -> tuple[str, int]:
        (oid, version), = self.run("SELECT originator_id, originator_version FROM {events} WHERE {nid}=?", (nid,))
        return str(UUID(str(oid))), version

    def ids(self) -> list[int]:
        return [row[0] for row in self.run("SELECT {nid} FROM {events} ORDER BY {nid}")]

    def state(self, nid: int) -> bytes:
        return bytes(self.run("SELECT state FROM {events} WHERE {nid}=?", (nid,))[0][0])

    def set_state(self, nid: int, state: bytes) -> None:
        self.run("UPDATE {events} SET state=? WHERE {nid}=?", (state, nid))

    def flip_one_byte(self, nid: int) -> None:
        state = bytearray(self.state(nid))
        state[len(state) // 2] ^= 0x01
        self.set_state(nid, bytes(state))

    def independent_head(self) -> tuple[int, bytes]:
        """The chain recomputed with hashlib from the raw rows (the auditor's own code)."""
        link, last = bytes(32), 0
        rows = self.run("SELECT {nid}, originator_id, originator_version, topic, state FROM {events} ORDER BY {nid}")
        for nid, oid, version, topic, state in rows:
            t, s = topic.encode(), bytes(state)
            link = hashlib.sha256(link + UUID(str(oid)).bytes + version.to_bytes(8, "big")
                                  + len(t).to_bytes(4, "big") + t + len(s).to_bytes(4, "big") + s).digest()
            last = nid
        return last, link

    def rewrite_chain(self) -> None:
        """What an attacker does after an edit: recompute every link so the table agrees."""
        link = GENESIS
        rows = self.run("SELECT {nid}, originator_id, originator_version, topic, state FROM {events} ORDER BY {nid}")
        for nid, oid, version, topic, state in rows:
            link = next_link(link, _Stored(UUID(str(oid)), version, topic, bytes(state)))
            self.run("UPDATE {chain} SET link=? WHERE notification_id=?", (link, nid))


class _Stored:
    def __init__(self, originator_id: UUID, originator_version: int, topic: str, state: bytes) -> None:
        self.originator_id, self.originator_version, self.topic, self.state = (
            originator_id, originator_version, topic, state)


def chained_env(kind: str, url: str) -> dict[str, str]:
    env = eventsourcing_env(parse_database_url(url))
    env["PERSISTENCE_MODULE"] = f"ledger.persistence.{kind}"
    return env


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest) -> Iterator[tuple[Canteen, RawStore]]:
    url: str = request.getfixturevalue(f"{request.param}_url")
    env = chained_env(request.param, url)
    app = Canteen(env=env)
    raw = RawStore(request.param, url, env)
    yield app, raw
    raw.conn.close()
    app.close()


def write_history(app: Canteen) -> list[Meter]:
    meters = [Meter(school=f"school-{i}") for i in range(AGGREGATES)]
    app.save(*meters)
    for round_ in range(1, ROUNDS):
        for meter in meters:
            meter.serve(meals=round_ + meters.index(meter))
        app.save(*meters[:4])
        app.save(*meters[4:])
    return meters


def test_an_untouched_log_verifies_and_an_auditor_can_recompute_its_head(store: tuple[Canteen, RawStore]) -> None:
    app, raw = store
    write_history(app)
    result = verify_chain(app.recorder)
    position, head = chain_head(app.recorder)
    assert result.ok and result.checked == AGGREGATES * ROUNDS == len(raw.ids())
    assert (result.position, result.head) == (position, head.hex())
    assert raw.independent_head() == (position, head)


def test_one_changed_byte_of_one_event_names_exactly_that_event(store: tuple[Canteen, RawStore]) -> None:
    app, raw = store
    write_history(app)
    ids = raw.ids()
    target = ids[117]
    raw.flip_one_byte(target)
    result = verify_chain(app.recorder)
    assert not result.ok
    assert result.reason == "state changed"
    assert (result.broken_position, result.broken_event) == (target, raw.identity(target))
    assert result.position == ids[116] and result.checked == 117


def test_a_deleted_event_is_named_by_position_and_aggregate(store: tuple[Canteen, RawStore]) -> None:
    app, raw = store
    write_history(app)
    target = raw.ids()[90]
    identity = raw.identity(target)
    raw.run("DELETE FROM {events} WHERE {nid}=?", (target,))
    result = verify_chain(app.recorder)
    assert (result.ok, result.reason) == (False, "event missing")
    assert (result.broken_position, result.broken_event) == (target, identity)


def test_an_event_deleted_with_its_link_is_still_named(store: tuple[Canteen, RawStore]) -> None:
    app, raw = store
    write_history(app)
    target = raw.ids()[90]
    identity = raw.identity(target)
    raw.run("DELETE FROM {events} WHERE {nid}=?", (target,))
    raw.run("DELETE FROM {chain} WHERE notification_id=?", (target,))
    result = verify_chain(app.recorder)
    assert (result.ok, result.reason) == (False, "event missing")
    assert (result.broken_position, result.broken_event) == (target, identity)


def test_deleting_the_newest_event_is_named_and_sqlite_will_not_reuse_its_id(
    store: tuple[Canteen, RawStore],
) -> None:
    app, raw = store
    meters = write_history(app)
    newest = raw.ids()[-1]
    raw.run("DELETE FROM {events} WHERE {nid}=?", (newest,))
    result = verify_chain(app.recorder)
    assert (result.reason, result.broken_position, result.position) == ("event missing", newest, raw.ids()[-1])
    if raw.kind == "sqlite":  # SQLite would give the next event the deleted rowid again
        meters[0].serve(meals=1)
        with pytest.raises(ChainIntegrityError, match="events table was edited"):
            app.save(meters[0])
        assert raw.ids()[-1] == newest - 1  # the refused save left nothing behind


def test_two_swapped_events_are_named(store: tuple[Canteen, RawStore]) -> None:
    app, raw = store
    write_history(app)
    ids = raw.ids()
    first, second = ids[60], ids[140]
    state_first, state_second = raw.state(first), raw.state(second)
    raw.set_state(first, state_second)
    raw.set_state(second, state_first)
    result = verify_chain(app.recorder)
    assert (result.ok, result.reason) == (False, "events out of order / swapped")
    assert (result.broken_position, result.broken_event) == (first, raw.identity(first))
    assert f"now at {second}" in (result.detail or "")


def test_an_altered_link_row_alone_is_a_chain_link_mismatch(store: tuple[Canteen, RawStore]) -> None:
    app, raw = store
    write_history(app)
    target = raw.ids()[33]
    raw.run("UPDATE {chain} SET link=? WHERE notification_id=?", (bytes(32), target))
    result = verify_chain(app.recorder)
    assert (result.reason, result.broken_position, result.broken_event) == (
        "chain link mismatch", target, raw.identity(target))


def test_a_rewritten_chain_passes_alone_but_fails_against_a_sealed_head(store: tuple[Canteen, RawStore]) -> None:
    app, raw = store
    write_history(app)
    sealed_position, sealed_head = chain_head(app.recorder)
    export = [(row[0], row[5]) for row in iter_events_with_links(app.recorder, 0, 1_000)]
    target = raw.ids()[57]
    raw.flip_one_byte(target)
    raw.rewrite_chain()

    assert verify_chain(app.recorder).ok  # self-consistent: the chain alone cannot tell
    one_seal = verify_chain(app.recorder, sealed=[(sealed_position, sealed_head)])
    assert one_seal.reason == f"does not match sealed head at {sealed_position}"
    assert (one_seal.ok, one_seal.position, one_seal.head) == (False, 0, GENESIS.hex())
    every_link = verify_chain(app.recorder, sealed=export)
    assert every_link.reason == f"does not match sealed head at {target}"
    assert (every_link.broken_position, every_link.broken_event) == (target, raw.identity(target))
    assert not log_only_grew(app.recorder, sealed_position, sealed_head)


def test_a_log_that_only_grew_matches_the_head_an_auditor_kept(store: tuple[Canteen, RawStore]) -> None:
    app, _ = store
    meters = write_history(app)
    earlier = chain_head(app.recorder)
    meters[0].serve(meals=3)
    app.save(meters[0])
    assert chain_head(app.recorder)[0] > earlier[0]
    assert log_only_grew(app.recorder, *earlier)
    assert verify_chain(app.recorder, start=earlier[0] + 1).checked == 1


def test_the_application_still_reads_aggregates_notifications_and_snapshots(store: tuple[Canteen, RawStore]) -> None:
    app, raw = store
    meters = write_history(app)
    app.take_snapshot(meters[2].id)
    for meter in meters:
        assert app.repository.get(meter.id).meals == meter.meals
    notifications = app.recorder.select_notifications(start=1, limit=500)
    assert [n.id for n in notifications] == raw.ids()
    assert app.snapshots is not None and len(list(app.snapshots.get(meters[2].id))) == 1


def test_a_conflicting_save_is_rolled_back_with_its_links_and_the_chain_still_verifies(
    store: tuple[Canteen, RawStore],
) -> None:
    app, raw = store
    meters = write_history(app)
    stale = app.repository.get(meters[0].id)
    meters[0].serve(meals=1)
    app.save(meters[0])
    stale.serve(meals=2)
    meters[1].serve(meals=5)
    with pytest.raises(IntegrityError):
        app.save(stale, meters[1])  # one transaction: neither event nor link is kept
    meters[2].serve(meals=3)
    app.save(meters[2])
    result = verify_chain(app.recorder)
    assert result.ok and result.checked == len(raw.ids()) == AGGREGATES * ROUNDS + 2
    assert app.repository.get(meters[0].id).meals == meters[0].meals


def test_concurrent_writers_leave_one_chain_without_forks_or_gaps(store: tuple[Canteen, RawStore]) -> None:
    app, raw = store
    errors: list[BaseException] = []

    def writer(worker: int) -> None:
        try:
            meter = Meter(school=f"school-w{worker}")
            for round_ in range(40):
                for _ in range(1 + round_ % 3):
                    meter.serve(meals=1)
                app.save(meter)
        except BaseException as error:  # reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    result = verify_chain(app.recorder)
    links = raw.run("SELECT notification_id FROM {chain} ORDER BY notification_id")
    assert result.ok and result.checked == len(raw.ids()) == len(links) == 4 * (1 + sum(1 + r % 3 for r in range(40)))
    assert [row[0] for row in links] == raw.ids()
    writers_in_order = [row[0] for row in raw.run("SELECT originator_id FROM {events} ORDER BY {nid}")]
    assert sum(a != b for a, b in zip(writers_in_order, writers_in_order[1:])) > 3  # saves interleaved


def test_a_process_recorder_keeps_its_tracking_and_writes_the_chain(store: tuple[Canteen, RawStore]) -> None:
    app, raw = store
    write_history(app)
    factory = InfrastructureFactory.construct(Environment("Canteen", raw.env))
    recorder = factory.process_recorder()
    events = [StoredEvent(uuid4(), version, "tests:Upstream.Seen", b'{"n": %d}' % version) for version in (1, 2)]
    recorder.insert_events(events, tracking=Tracking("upstream", 7))
    assert recorder.max_tracking_id("upstream") == 7
    result = verify_chain(recorder)  # type: ignore[arg-type]
    assert result.ok and result.checked == AGGREGATES * ROUNDS + 2


def test_a_recorder_class_that_skips_the_chain_is_refused(store: tuple[Canteen, RawStore]) -> None:
    _, raw = store
    env = dict(raw.env, APPLICATION_RECORDER_TOPIC=(
        "eventsourcing.sqlite:SQLiteApplicationRecorder" if raw.kind == "sqlite"
        else "eventsourcing.postgres:PostgresApplicationRecorder"))
    with pytest.raises(ChainConfigurationError, match="does not write the hash chain"):
        Canteen(env=env)


def test_postgres_db_functions_mode_is_refused(postgres_url: str) -> None:
    env = chained_env("postgres", postgres_url)
    env["POSTGRES_ENABLE_DB_FUNCTIONS"] = "y"
    with pytest.raises(ChainConfigurationError, match="POSTGRES_ENABLE_DB_FUNCTIONS"):
        Canteen(env=env)
