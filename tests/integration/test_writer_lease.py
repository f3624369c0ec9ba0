"""The batching writer's lease on PostgreSQL (`LedgerApplication.hold_lease`): while one
process holds it, nobody else saves, so its batches skip the table lock and the log's tail,
and take a new scan's records to be absent without reading them. What must hold:

- batches under the lease decide exactly as one at a time, and the chain verifies;
- another writer waits for the lease, and what it saved is seen once the lease is taken again;
- a wrong guess (the scan was recorded by another writer before the lease) is caught by the
  save and decided again reading everything: a duplicate stays a duplicate, a second meal is
  refused;
- a lease lost with its connection is noticed by the next save, which goes the careful way;
- the writer thread lets the lease go when no request comes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from ledger_fixtures import SCHOOL_DAY, at, canteen, enrolled_school, meal_item

import ledger.versions as versions
from api.writer import LEASE_IDLE_S, BatchingWriter
from ledger.ledger import Ledger
from ledger.persistence import postgres
from ledger.persistence.chain import verify_chain
from ledger.scans import ItemOutcome, TerminalItem
from ledger.store import close_ledger, open_ledger

CHILDREN = 4


@pytest.fixture
def pg_school(postgres_url: str) -> Iterator[Ledger]:
    with enrolled_school(postgres_url, CHILDREN) as ledger:
        yield ledger


@pytest.fixture
def other(postgres_url: str, pg_school: Ledger) -> Iterator[Ledger]:
    """A second ledger on the same store: another worker or process."""
    ledger = open_ledger(postgres_url)
    try:
        yield ledger
    finally:
        close_ledger(ledger)


def _meal(event_id: str, child: int, hour: int) -> tuple[str, TerminalItem]:
    return canteen(), meal_item(event_id, card=f"k{child}", at=at(SCHOOL_DAY, hour))


def _batches() -> list[list[tuple[str, TerminalItem]]]:
    first = [_meal(f"e{i}", i, 9) for i in range(2)]
    second = [first[0], _meal("e1-again", 1, 10), _meal("e2", 3, 10), _meal("e3", 2, 9)]
    third = [second[1], _meal("e3-again", 2, 11)]
    return [first, second, third]


def _deferred(ledger: Ledger, batches: list[list[tuple[str, TerminalItem]]]
              ) -> list[list[ItemOutcome]]:
    outcomes, after, commits = [], None, []
    for batch in batches:
        decided, after = ledger.record_scans_deferred(batch, after)
        outcomes.append(decided)
        commits.append(after)
    for commit in commits:
        assert commit is None or commit.result(timeout=10) is None
    return outcomes


def _reference(url: str, batches: list[list[tuple[str, TerminalItem]]]) -> list[list[ItemOutcome]]:
    with enrolled_school(url, CHILDREN) as ledger:
        return [ledger.record_scans(batch) for batch in batches]


class _Spy:
    """Counts calls of a recorder or module function (and the errors it raised)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, owner: Any, name: str) -> None:
        self.calls = 0
        self.errors: list[BaseException] = []
        real = getattr(owner, name)

        def spy(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            try:
                return real(*args, **kwargs)
            except BaseException as error:
                self.errors.append(error)
                raise

        monkeypatch.setattr(owner, name, spy)


def _chain_ok(ledger: Ledger) -> None:
    result = verify_chain(ledger.recorder)
    assert result.ok and result.position == ledger.recorder.max_notification_id(), \
        result.summary()


def test_batches_under_the_lease_decide_as_one_at_a_time(
        pg_school: Ledger, sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    leased = _Spy(monkeypatch, postgres.ChainedPostgresApplicationRecorder, "_first_half_leased")
    tails = _Spy(monkeypatch, versions, "_postgres_tail")
    assert pg_school.hold_lease() and pg_school.leased
    outcomes = _deferred(pg_school, _batches())
    assert outcomes == _reference(sqlite_url, _batches())
    assert [(o.status, o.reason) for o in outcomes[1][:2]] == [
        ("duplicate", None), ("refused", "already_served")]
    # the head came from memory for every batch after the first, and the tail was read
    # once, when the lease began
    assert leased.calls >= 2 and not leased.errors
    assert tails.calls <= 1
    _chain_ok(pg_school)


def test_another_writer_waits_for_the_lease_and_is_seen_after_it(
        pg_school: Ledger, other: Ledger) -> None:
    assert pg_school.hold_lease()
    done = threading.Event()

    def revoke() -> None:
        other.revoke_identifier("card", "k1", "lost")
        done.set()

    thread = threading.Thread(target=revoke)
    thread.start()
    try:
        assert not done.wait(0.5)  # held on the advisory lock
        [outcome] = _deferred(pg_school, [[_meal("e1", 1, 9)]])[0]
        assert outcome.status == "recorded"  # the revocation has not happened yet
    finally:
        pg_school.release_lease()
        thread.join(10)
    assert done.is_set()
    assert pg_school.hold_lease()  # the tail is read again: the revocation is seen
    [outcome] = _deferred(pg_school, [[_meal("e1-later", 1, 10)]])[0]
    assert (outcome.status, outcome.reason) == ("refused", "unknown_identifier")
    _chain_ok(pg_school)


def test_a_wrong_guess_is_caught_by_the_save_and_decided_again(
        pg_school: Ledger, other: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    # recorded by another writer: this process has never seen the scan or the child's day
    [first] = other.record_scans([_meal("e0", 0, 9)])
    assert first.status == "recorded"
    leased = _Spy(monkeypatch, postgres.ChainedPostgresApplicationRecorder, "_first_half_leased")
    assert pg_school.hold_lease()
    # a warm-up batch for another child reads the log's tail (it shows e0, forgotten)
    _deferred(pg_school, [[_meal("e3", 3, 9)]])
    pg_school.aggregate_cache.clear()  # as if evicted: the next batch guesses
    retry, second = _deferred(pg_school, [[_meal("e0", 0, 9), _meal("e0-again", 0, 10)]])[0]
    assert (retry.status, second.status, second.reason) == (
        "duplicate", "refused", "already_served")
    assert any("taken to be absent" in str(error) for error in leased.errors)
    _chain_ok(pg_school)


def test_a_lost_lease_is_noticed_and_the_save_goes_the_careful_way(
        pg_school: Ledger, other: Ledger, postgres_url: str) -> None:
    assert pg_school.hold_lease()
    _deferred(pg_school, [[_meal("e0", 0, 9)]])
    lease = pg_school.recorder._lease
    assert lease is not None
    from bench.context import libpq_url

    with psycopg.connect(libpq_url(postgres_url), autocommit=True) as conn:  # its session ends
        conn.execute("SELECT pg_terminate_backend(%s)", (lease.pid,))
    # the lock went with the session: another writer saves at once
    other.add_identifier("card", "spare", child_id="c2")
    [outcome] = _deferred(pg_school, [[_meal("e1", 1, 9)]])[0]
    assert outcome.status == "recorded"
    assert not pg_school.leased  # noticed, and the save went through the table lock
    _chain_ok(pg_school)


def test_the_writer_lets_the_lease_go_when_no_request_comes(
        pg_school: Ledger, other: Ledger) -> None:
    writer = BatchingWriter(pg_school)
    writer.start()
    try:
        [outcome] = writer.submit(canteen(), [_meal("e0", 0, 9)[1]]).result(10)
        assert outcome.status == "recorded"
        time.sleep(LEASE_IDLE_S * 5)
        finished = threading.Event()
        thread = threading.Thread(target=lambda: (
            other.add_identifier("card", "spare", child_id="c2"), finished.set()))
        thread.start()
        thread.join(10)
        assert finished.is_set()  # it did not wait for a writer that has nothing to do
        [outcome] = writer.submit(canteen(), [_meal("e1", 1, 9)[1]]).result(10)
        assert outcome.status == "recorded"
    finally:
        writer.stop()
    assert not pg_school.leased
    _chain_ok(pg_school)


def test_no_lease_on_sqlite_or_when_switched_off(
        sqlite_url: str, pg_school: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    with enrolled_school(sqlite_url, CHILDREN) as ledger:
        assert not ledger.hold_lease() and not ledger.leased
    monkeypatch.setenv("TAMAQ_WRITER_LEASE", "0")
    assert not pg_school.hold_lease() and not pg_school.leased


def test_a_busy_writer_lets_a_waiting_writer_in(
        pg_school: Ledger, other: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    import api.writer as writer_module

    # neither the time held nor a pause lets the lease go: only the waiter's sign
    monkeypatch.setattr(writer_module, "LEASE_HOLD_MAX_S", 1e9)
    monkeypatch.setattr(writer_module, "LEASE_IDLE_S", 5.0)
    writer = BatchingWriter(pg_school)
    writer.start()
    saved = threading.Event()
    outcomes: list[ItemOutcome] = []
    try:
        def feed() -> None:  # scans without a pause, until the other writer got through
            n = 0
            while not saved.is_set() and n < 1_000:
                futures = [writer.submit(canteen(), [meal_item(
                    f"f{n}-{k}", card=f"k{k % CHILDREN}", at=at(SCHOOL_DAY, 8 + k % 6))])
                    for k in range(8)]
                outcomes.extend(o for future in futures for o in future.result(10))
                n += 1

        feeder = threading.Thread(target=feed)
        feeder.start()
        while not pg_school.leased and feeder.is_alive():
            time.sleep(0.01)
        assert pg_school.leased
        other.add_identifier("card", "spare", child_id="c2")  # waits, then gets in
        saved.set()
        feeder.join(30)
    finally:
        writer.stop()
    assert outcomes and all(o.status in ("recorded", "refused") for o in outcomes)
    assert len(outcomes) < 1_000 * 8  # it got in while the scans were still coming
    assert sum(o.status == "recorded" for o in outcomes) == CHILDREN  # one a child-day
    _chain_ok(pg_school)
