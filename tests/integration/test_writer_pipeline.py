"""The batching writer overlaps one batch's commit with deciding the next
(`LedgerApplication.run_deferred`, `HeldSave`). What must hold, on real stores:

- a batch decided on top of one still committing decides exactly as if that one had
  committed first (a repeat is a duplicate, a second meal is refused), and the chain verifies;
- if that commit fails, nothing of the next batch is stored, and deciding both again gives
  what one-at-a-time would have;
- another writer slipping in between does not confuse the check that a commit went through;
- any other unit of work waits for a commit in flight;
- through the writer thread, every request is answered once, also when a commit fails.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import Future

import pytest
from eventsourcing.persistence import OperationalError
from ledger_fixtures import SCHOOL_DAY, at, canteen, enrolled_school, meal_item

from api.writer import BatchingWriter
from ledger.application import PreviousCommitFailed
from ledger.ledger import Ledger
from ledger.persistence import postgres
from ledger.persistence.chain import verify_chain
from ledger.records import TerminalEvent
from ledger.scans import ItemOutcome, TerminalItem
from ledger.store import close_ledger, open_ledger

CHILDREN = 6


def _batches() -> list[list[tuple[str, TerminalItem]]]:
    """Three batches; the later ones lean on the earlier: repeats (duplicates), second meals
    (refused: taken), a used id with another scan (refused: reused), new children's meals."""
    first = [(canteen(), meal_item(f"e{i}", card=f"k{i}", at=at(SCHOOL_DAY, 9)))
             for i in range(CHILDREN // 2)]
    second = [first[0],  # the very same scan again
              (canteen(), meal_item("e1-again", card="k1", at=at(SCHOOL_DAY, 10))),
              (canteen(), meal_item("e2", card="k4", at=at(SCHOOL_DAY, 10))),
              *[(canteen(), meal_item(f"e{i}", card=f"k{i}", at=at(SCHOOL_DAY, 9)))
                for i in range(CHILDREN // 2, CHILDREN)]]
    third = [second[1], (canteen(), meal_item("e5-again", card="k5", at=at(SCHOOL_DAY, 11)))]
    return [first, second, third]


@pytest.fixture
def pg_school(postgres_url: str) -> Iterator[Ledger]:
    with enrolled_school(postgres_url, CHILDREN) as ledger:
        yield ledger


def _reference(url: str, batches: Sequence[Sequence[tuple[str, TerminalItem]]]
               ) -> list[list[ItemOutcome]]:
    """Each batch recorded and committed before the next is decided."""
    with enrolled_school(url, CHILDREN) as ledger:
        return [ledger.record_scans(batch) for batch in batches]


def _terminal_events(ledger: Ledger) -> int:
    topic = TerminalEvent.__module__ + ":" + TerminalEvent.__qualname__ + "."
    return sum(1 for n in ledger.recorder.select_notifications(1, 100_000)
               if n.topic.startswith(topic))


def test_batches_decided_on_a_commit_in_flight_decide_as_one_at_a_time(
        pg_school: Ledger, sqlite_url: str) -> None:
    outcomes: list[list[ItemOutcome]] = []
    after: Future[None] | None = None
    commits = []
    for batch in _batches():
        decided, after = pg_school.record_scans_deferred(batch, after)
        assert after is not None  # on PostgreSQL a small save's commit is left in flight
        commits.append(after)
        outcomes.append(decided)
    for commit in commits:
        assert commit.result(timeout=10) is None
    assert outcomes == _reference(sqlite_url, _batches())
    # what only the batch still committing could tell
    assert [(o.status, o.reason) for o in outcomes[1][:3]] == [
        ("duplicate", None), ("refused", "already_served"), ("refused", "event_id_reused")]
    result = verify_chain(pg_school.recorder)
    assert result.ok and result.position == pg_school.recorder.max_notification_id(), \
        result.summary()


def test_sqlite_has_nothing_in_flight(sqlite_url: str) -> None:
    with enrolled_school(sqlite_url, CHILDREN) as ledger:
        decided, commit = ledger.record_scans_deferred(_batches()[0], None)
        assert commit is None and [o.status for o in decided] == ["recorded"] * (CHILDREN // 2)


def _failing_first_commit(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The first held save's commit fails: rolled back, as a broken connection would leave it."""
    failed: list[int] = []
    finish = postgres.HeldSave.finish

    def flaky(self: postgres.HeldSave) -> None:
        if not failed:
            failed.append(len(self.notification_ids))
            self.abort()
            raise OperationalError("connection lost at commit (injected)")
        finish(self)

    monkeypatch.setattr(postgres.HeldSave, "finish", flaky)
    return failed


def test_a_failed_commit_stores_nothing_of_the_batch_decided_on_it(
        pg_school: Ledger, sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    failed = _failing_first_commit(monkeypatch)
    first, second, third = _batches()
    before = pg_school.recorder.max_notification_id()
    _, commit = pg_school.record_scans_deferred(first, None)
    assert commit is not None
    with pytest.raises(PreviousCommitFailed):
        pg_school.record_scans_deferred(second, commit)
    assert failed and isinstance(commit.exception(), OperationalError)
    assert pg_school.recorder.max_notification_id() == before  # neither batch stored
    # the cache held the failed batch's meals as if committed: forgotten, so deciding
    # again is deciding from the log
    again = [pg_school.record_scans(batch) for batch in (first, second, third)]
    assert again == _reference(sqlite_url, [first, second, third])
    assert verify_chain(pg_school.recorder).ok


def test_another_writer_in_between_makes_the_next_batch_wait_for_the_commit(
        pg_school: Ledger, postgres_url: str, sqlite_url: str) -> None:
    first, second, third = _batches()
    _, commit = pg_school.record_scans_deferred(first, None)
    other = open_ledger(postgres_url)
    try:  # its save waits on the table lock until the commit in flight is done
        other.add_identifier("card", "spare", child_id="c0")
    finally:
        close_ledger(other)
    decided, commit2 = pg_school.record_scans_deferred(second, commit)
    assert commit.done() and commit.exception() is None
    assert commit2 is not None and commit2.result(timeout=10) is None
    assert decided == _reference(sqlite_url, [first, second])[1]
    assert verify_chain(pg_school.recorder).ok


def test_other_units_of_work_wait_for_a_commit_in_flight(pg_school: Ledger) -> None:
    gate = threading.Event()
    finish = postgres.HeldSave.finish

    def slow(self: postgres.HeldSave) -> None:
        gate.wait(10)
        finish(self)

    postgres.HeldSave.finish = slow  # type: ignore[method-assign]
    try:
        _, commit = pg_school.record_scans_deferred(_batches()[0], None)
        assert commit is not None and not commit.done()
        threading.Timer(0.2, gate.set).start()
        pg_school.revoke_identifier("card", "k5", "lost")  # a unit of work of its own
        assert commit.done() and commit.exception() is None
    finally:
        postgres.HeldSave.finish = finish  # type: ignore[method-assign]


@pytest.mark.parametrize("fail_a_commit", [False, True])
def test_every_request_through_the_writer_is_answered_once(
        pg_school: Ledger, monkeypatch: pytest.MonkeyPatch, fail_a_commit: bool) -> None:
    if fail_a_commit:
        _failing_first_commit(monkeypatch)
    writer = BatchingWriter(pg_school)
    writer.start()
    try:
        futures = []
        lock = threading.Lock()

        def terminal(t: int) -> None:
            for n in range(15):
                item = meal_item(f"w{t}-{n}", card=f"k{(t + n) % CHILDREN}",
                                 at=at(SCHOOL_DAY, 8 + n % 6))
                future = writer.submit(canteen(), [item])
                with lock:
                    futures.append(future)

        threads = [threading.Thread(target=terminal, args=(t,)) for t in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        outcomes = [o for future in futures for o in future.result(timeout=30)]
    finally:
        writer.stop()
    assert len(outcomes) == 60 and all(o.status in ("recorded", "refused") for o in outcomes)
    funded = [o for o in outcomes if o.status == "recorded"]
    assert len(funded) == CHILDREN  # one funded meal a child-day, whatever the batching
    assert _terminal_events(pg_school) == 60  # each scan stored once, none lost
    assert verify_chain(pg_school.recorder).ok


@pytest.mark.parametrize("fail_a_commit", [False, True])
def test_requests_from_an_event_loop_are_answered_once_and_a_batch_at_a_time(
        pg_school: Ledger, monkeypatch: pytest.MonkeyPatch, fail_a_commit: bool) -> None:
    """`submit_awaitable`: the same answers as `submit`, and a batch's answers reach the
    loop in one call (not one a request); a caller that stops waiting loses nothing."""
    import api.writer as writer_module

    if fail_a_commit:
        _failing_first_commit(monkeypatch)
    calls: list[int] = []
    call_in = writer_module._call_in

    def counted(loop, answers, error):  # type: ignore[no-untyped-def]
        calls.append(len(answers))
        call_in(loop, answers, error)

    monkeypatch.setattr(writer_module, "_call_in", counted)
    writer = BatchingWriter(pg_school)
    writer.start()

    async def terminals() -> tuple[list[ItemOutcome], int]:
        async def terminal(t: int) -> list[ItemOutcome]:
            got = []
            for n in range(15):  # 4 terminals, one scan at a time each
                item = meal_item(f"a{t}-{n}", card=f"k{(t + n) % CHILDREN}",
                                 at=at(SCHOOL_DAY, 8 + n % 6))
                got.extend(await writer.submit_awaitable(canteen(), [item]))
            return got

        gone = asyncio.ensure_future(writer.submit_awaitable(canteen(), [meal_item(
            "gone", card="k0", at=at(SCHOOL_DAY, 7))]))
        await asyncio.sleep(0)
        gone.cancel()  # the terminal hung up: its scan is still decided and stored once
        answers = await asyncio.gather(*(terminal(t) for t in range(4)))
        # and 30 at once, all queued before the writer takes them: batches of several
        burst = await asyncio.gather(*(writer.submit_awaitable(canteen(), [meal_item(
            f"b{n}", card=f"k{n % CHILDREN}", at=at(SCHOOL_DAY, 12))]) for n in range(30)))
        return [o for got in [*answers, *burst] for o in got], writer.batches

    ran: list[tuple[list[ItemOutcome], int]] = []
    # a loop of its own in a thread of its own, as the server's (and Playwright's sync API,
    # which the browser tests share per session, keeps a loop running in the test thread)
    loop_thread = threading.Thread(target=lambda: ran.append(asyncio.run(terminals())))
    try:
        loop_thread.start()
        loop_thread.join(60)
    finally:
        writer.stop()
    assert ran, "the loop's requests were answered"
    outcomes, batches = ran[0]
    assert len(outcomes) == 90 and all(o.status in ("recorded", "refused") for o in outcomes)
    assert CHILDREN - 1 <= len([o for o in outcomes if o.status == "recorded"]) <= CHILDREN
    assert _terminal_events(pg_school) == 91  # each scan stored once, the abandoned one too
    assert verify_chain(pg_school.recorder).ok
    assert sum(calls) == 91  # every request answered once
    if not fail_a_commit:
        assert len(calls) <= batches < 91  # one call a batch, and batches held several


def test_a_unit_of_work_after_a_failed_commit_decides_without_it(
        pg_school: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    _failing_first_commit(monkeypatch)
    first = _batches()[0]
    decided, commit = pg_school.record_scans_deferred(first, None)
    assert decided[0].status == "recorded" and commit is not None
    # the next unit of work (not the writer's) waits for that commit, sees it fail, and
    # decides from the log: c0 has had no meal, so this one is funded
    again = meal_item("e0-later", card="k0", at=at(SCHOOL_DAY, 12))
    [outcome] = pg_school.record_scans([(canteen(), again)])
    assert isinstance(commit.exception(), OperationalError)
    assert (outcome.status, outcome.reason) == ("recorded", None)
    assert _terminal_events(pg_school) == 1


# -- a sync's chunks: each decided while the one before is saved (run_overlapped) ---------

def _sync() -> list[tuple[str, TerminalItem]]:
    """One request of the three batches above, in order, as chunks of three later."""
    return [scan for batch in _batches() for scan in batch]


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    from ledger import scans

    monkeypatch.setattr(scans, "CHUNK_ITEMS", 3)


def _overlapped(ledger: Ledger) -> list[Future[object] | None]:
    """Spy on the saves run_overlapped leaves in flight (None: saved already)."""
    left: list[Future[object] | None] = []
    run = ledger.run_overlapped

    def spy(command: object, after: Future[object] | None) -> object:
        result, in_flight = run(command, after)  # type: ignore[arg-type]
        left.append(in_flight)
        return result, in_flight

    ledger.run_overlapped = spy  # type: ignore[method-assign]
    return left


def test_a_syncs_chunks_decided_on_a_save_in_flight_decide_as_one_at_a_time(
        pg_school: Ledger, sqlite_url: str, small_chunks: None,
        monkeypatch: pytest.MonkeyPatch) -> None:
    left = _overlapped(pg_school)
    outcomes = pg_school.record_scans(_sync())
    assert len(left) == 4 and all(f is not None for f in left)  # every save was handed on
    assert all(f.done() and f.exception() is None for f in left if f is not None)
    monkeypatch.setenv("TAMAQ_SYNC_OVERLAP", "0")
    assert outcomes == _reference(sqlite_url, [_sync()])[0]
    assert [(o.status, o.reason) for o in outcomes[3:6]] == [
        ("duplicate", None), ("refused", "already_served"), ("refused", "event_id_reused")]
    result = verify_chain(pg_school.recorder)
    assert result.ok and result.position == pg_school.recorder.max_notification_id(), \
        result.summary()


def _failing_save(ledger: Ledger, failing: int) -> list[int]:
    """The `failing`-th save handed to the committer (counted from 1) fails before it stores
    anything, as a lost connection would."""
    calls: list[int] = []
    insert = ledger.recorder.insert_events

    def flaky(stored_events: Sequence[object], **kwargs: object) -> object:
        calls.append(len(stored_events))
        if len(calls) == failing:
            raise OperationalError("connection lost (injected)")
        return insert(stored_events, **kwargs)  # type: ignore[arg-type]

    ledger.recorder.insert_events = flaky  # type: ignore[method-assign]
    return calls


@pytest.mark.parametrize("failing", [1, 2, 4])
def test_a_failed_save_of_a_sync_is_decided_again_with_the_chunk_on_top_of_it(
        pg_school: Ledger, sqlite_url: str, small_chunks: None, failing: int) -> None:
    calls = _failing_save(pg_school, failing)
    outcomes = pg_school.record_scans(_sync())
    assert len(calls) > 4  # the failed chunk was saved again
    assert outcomes == _reference(sqlite_url, [_sync()])[0]
    recorded = {o.event_id for o in outcomes if o.status == "recorded"} | {
        o.event_id for o in outcomes if o.status == "refused" and o.reason != "event_id_reused"}
    assert _terminal_events(pg_school) == len(recorded)  # each stored once, none lost
    assert verify_chain(pg_school.recorder).ok


def test_a_sync_answers_after_its_last_save_committed(
        pg_school: Ledger, small_chunks: None) -> None:
    left = _overlapped(pg_school)
    pg_school.record_scans(_sync())
    position = pg_school.recorder.max_notification_id()
    assert left[-1] is not None and left[-1].done()
    # stored, and read back by nobody: the cache stands at the head
    assert _terminal_events(pg_school) == 8 and pg_school._cache_position == position
