"""Pull events from the notification log into the read models, exactly once.

Each batch is applied in ONE transaction of the read-model database together with the new
tracking positions: a crash anywhere leaves rows and position unchanged, so the batch is
simply applied again. Works the same on SQLite, PostgreSQL and memory (eventsourcing's
`subscribe()` is not available on SQLite, so we pull)."""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

from eventsourcing.utils import resolve_topic

from ledger.sqldb import Cursor, SideDatabase
from projections.eventlog import Row, decoder_of, read_page
from projections.schema import RETIRED_NAMES, RETIRED_TABLES, ddl, table_names

log = logging.getLogger("tamaq.projections")
# Bigger pages mean fewer transactions and one recompute per child per page; 20 k events of
# about 200 bytes keep a page's memory near 10 MB.
PAGE_EVENTS_MAX = 20_000
WAIT_TIMEOUT_S_MAX = 10.0


@contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic garbage collection while a page is applied: a page makes some 10^5
    short-lived objects (rows, events, row tuples), freed by reference counting, and each
    full collection they trigger walks every object of the process (in a server, the
    writer's whole aggregate cache): a third of a catch-up's time. Collection resumes,
    with whatever the page left, when it ends (a catch-up pauses it from its first page to
    its last: each resumption walked the page read ahead; a page leaves ~5 cyclic objects)."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


class Projection:
    """A read model: the tables it owns and how an event changes them. `wants` says which
    event classes it reads: the runner decodes an event only when some projection wants it
    (scan events as their views, eventlog.VIEWS), and hands each projection only its own
    events."""

    name: str = ""
    tables: str = ""
    events: tuple[type, ...] | None = None  # None: every event
    version = 1  # raised when the tables change shape: the read model is then built again

    def wants(self, cls: type) -> bool:
        return self.events is None or issubclass(cls, self.events)

    def apply(self, cur: Cursor, batch: Sequence[tuple[int, Any]]) -> None:
        raise NotImplementedError

    def reset(self, cur: Cursor) -> None:
        for table in table_names(self.tables):
            cur.execute(f"DELETE FROM {table}")

    def forget(self) -> None:
        """Drop in-memory caches (after a failed transaction or a reset)."""

    def prepare(self, cur: Cursor) -> None:
        """Once at start-up, after the tables and the tracking row exist."""


def keep_history(cur: Cursor, name: str, seeds: Sequence[str]) -> None:
    """Note from which position `name` keeps history: 0 for a new store; a store that had
    the read model before it kept history starts from its position then, with the current
    rows as the first entry (`seeds`: INSERT ... SELECT statements taking that position)."""
    cur.execute("INSERT INTO pm_history (name, since) SELECT name, position FROM pm_tracking"
                " WHERE name = ? ON CONFLICT (name) DO NOTHING", (name,))
    row = cur.fetchone("SELECT since FROM pm_history WHERE name = ?", (name,))
    if row is not None and int(row[0]) > 0:
        for statement in seeds:
            cur.execute(statement, (int(row[0]),))


def restart_history(cur: Cursor, name: str) -> None:
    cur.execute("UPDATE pm_history SET since = 0 WHERE name = ?", (name,))


def upgrade(cur: Cursor, projection: Projection) -> None:
    """Drop a read model whose tables the store holds in an older shape, to be built again
    from the first event (before `pm_version` existed, every read model was version 1)."""
    row = cur.fetchone("SELECT version FROM pm_version WHERE name = ?", (projection.name,))
    tracked = cur.fetchone("SELECT 1 FROM pm_tracking WHERE name = ?", (projection.name,))
    stored = int(row[0]) if row is not None else 1 if tracked is not None else projection.version
    if stored != projection.version:
        for table in table_names(projection.tables):
            cur.execute(f"DROP TABLE IF EXISTS {table}")
        cur.execute("UPDATE pm_tracking SET position = 0 WHERE name = ?", (projection.name,))
        restart_history(cur, projection.name)
        projection.forget()
    cur.execute("INSERT INTO pm_version (name, version) VALUES (?, ?) ON CONFLICT (name)"
                " DO UPDATE SET version = excluded.version", (projection.name, projection.version))


class Runner:
    def __init__(self, ledger: Any, db: SideDatabase, projections: Sequence[Projection],
                 *, page_size: int = PAGE_EVENTS_MAX, until: int | None = None) -> None:
        self.ledger, self.db = ledger, db
        self.projections = list(projections)
        self.page_size = min(page_size, PAGE_EVENTS_MAX)
        self.until = until  # replay as of a position: stop there
        self._lock = threading.Lock()
        self._advanced = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.position_cache = 0
        self.errors = 0
        self._routes: dict[str, tuple[Callable[[bytes], Any], tuple[int, ...]]] = {}
        self._reader: ThreadPoolExecutor | None = None
        self._ahead: tuple[int, Future[Any]] | None = None
        # secondary indexes of read models built from the first event: made once the log
        # is read to its head (one sort each instead of an entry per row of every page)
        self._deferred: list[str] = []
        self.setup()

    def setup(self) -> None:
        with self.db.transaction() as cur:
            for statement in ddl(self.db.kind, "tracking"):
                cur.execute(statement)
            for table in RETIRED_TABLES:
                cur.execute(f"DROP TABLE IF EXISTS {table}")
            cur.executemany("DELETE FROM pm_tracking WHERE name = ?", [(n,) for n in RETIRED_NAMES])
            for projection in self.projections:
                upgrade(cur, projection)
                cur.execute("INSERT INTO pm_tracking (name, position) VALUES (?, 0) "
                            "ON CONFLICT (name) DO NOTHING", (projection.name,))
                empty = cur.fetchone("SELECT 1 FROM pm_tracking WHERE name = ? AND"
                                     " position = 0", (projection.name,)) is not None
                for statement in ddl(self.db.kind, projection.tables):
                    if empty and statement.startswith("CREATE INDEX"):
                        self._deferred.append(statement)
                    else:
                        cur.execute(statement)
                projection.prepare(cur)
        self.position_cache = self.position()

    def positions(self) -> dict[str, int]:
        with self.db.read() as cur:
            rows = cur.fetchall("SELECT name, position FROM pm_tracking")
        known = {p.name for p in self.projections}
        return {name: int(pos) for name, pos in rows if name in known}

    def position(self) -> int:
        positions = self.positions()
        return min(positions.values()) if positions else 0

    def head(self) -> int:
        head = self.ledger.recorder.max_notification_id() or 0
        return min(head, self.until) if self.until is not None else head

    def run_once(self) -> int:
        """Apply the next page of events; returns how many events were read."""
        with self._lock, _collector_paused():
            positions = self.positions()
            start = min(positions.values()) if positions else 0
            after = [positions[p.name] for p in self.projections]
            rows, batches = self._next_page(start, after)
            if not rows:
                self._index()
                return 0
            last = rows[-1][0]
            more = len(rows) == self.page_size and (self.until is None or last < self.until)
            if more:  # read and decode the next page while this one is written
                self._prefetch(last)
            try:
                with self.db.transaction() as cur:
                    for projection, mine in zip(self.projections, batches, strict=True):
                        if last <= positions[projection.name]:
                            continue  # ahead of this page (rebuilding others): not moved back
                        projection.apply(cur, mine)  # once a page, even with no events
                        cur.execute("UPDATE pm_tracking SET position = ? WHERE name = ?",
                                    (last, projection.name))
            except BaseException:
                for projection in self.projections:
                    projection.forget()
                raise
            self.position_cache = last
            if not more:
                self._index()
        with self._advanced:
            self._advanced.notify_all()
        return len(rows)

    def _next_page(self, start: int, after: list[int]
                   ) -> tuple[Sequence[Row], list[list[tuple[int, Any]]]]:
        """The page from `start + 1`, routed: the one read ahead when it is that page (and
        its routing when every read model stands where it assumed), else read now."""
        ahead, self._ahead = self._ahead, None
        if ahead is not None:
            begin, future = ahead
            try:
                rows, batches = future.result()
            except Exception:  # read again below; a lasting fault shows there
                log.debug("read-ahead failed", exc_info=True)
            else:
                # an empty page read ahead only says there was nothing then: "caught up"
                # must be said by a read made now
                if begin == start and rows:
                    if batches is not None and all(a == start for a in after):
                        return rows, batches
                    return rows, self._route(rows, after)
        rows = read_page(self.ledger.recorder, start + 1, self.page_size, self.until)
        return rows, self._route(rows, after)

    def _prefetch(self, last: int) -> None:
        """Read the page after `last` in a helper thread and route it as if every read
        model stood at `last` (true once this page commits): the database's work and the
        fetch overlap this page's writes."""
        if self._reader is None:
            self._reader = ThreadPoolExecutor(1, thread_name_prefix="tamaq-read-ahead")
        after = [last] * len(self.projections)

        def read() -> tuple[Sequence[Row], list[list[tuple[int, Any]]] | None]:
            rows = read_page(self.ledger.recorder, last + 1, self.page_size, self.until)
            with _collector_paused():
                return rows, self._route(rows, after)

        self._ahead = (last, self._reader.submit(read))

    def _index(self) -> None:
        """Make the deferred indexes once the log is read to its head (queries before this
        only ran slower): on PostgreSQL two at a time, each on its own connection."""
        statements, self._deferred = self._deferred, []
        if not statements:
            return
        try:
            if self.db.kind != "postgres":
                with self.db.transaction() as cur:
                    for statement in statements:
                        cur.execute(statement)
                return

            def build(statement: str) -> None:
                with self.db.transaction() as cur:
                    cur.execute(statement)

            with ThreadPoolExecutor(2, thread_name_prefix="tamaq-index") as pool:
                for done in [pool.submit(build, statement) for statement in statements]:
                    done.result()
        except BaseException:
            self._deferred = statements  # IF NOT EXISTS: those made are skipped next time
            raise

    def _route(self, rows: Sequence[Row], after: Sequence[int]
               ) -> list[list[tuple[int, Any]]]:
        """Decode each event once, only if some projection wants it, and give every
        projection the events it wants that lie past its own position."""
        batches: list[list[tuple[int, Any]]] = [[] for _ in self.projections]
        if not rows:
            return batches
        routes = self._routes
        if max(after) >= rows[0][0]:  # some read models are ahead (a rebuild of others)
            for position, topic, state in rows:
                decoder, targets = routes.get(topic) or self._learn(topic)
                if targets:
                    event = decoder(state)
                    for i in targets:
                        if position > after[i]:
                            batches[i].append((position, event))
            return batches
        for position, topic, state in rows:
            decoder, targets = routes.get(topic) or self._learn(topic)
            if targets:
                item = (position, decoder(state))
                for i in targets:
                    batches[i].append(item)
        return batches

    def _learn(self, topic: str) -> tuple[Callable[[bytes], Any], tuple[int, ...]]:
        """How to decode a topic's events and which projections want them."""
        cls = resolve_topic(topic)
        targets = tuple(i for i, p in enumerate(self.projections) if p.wants(cls))
        route = self._routes[topic] = (decoder_of(topic), targets)
        return route

    def catch_up(self, progress: Callable[[int, int], None] | None = None) -> int:
        with _collector_paused():  # between pages too: the read-ahead page is alive
            return self._catch_up(progress)

    def _catch_up(self, progress: Callable[[int, int], None] | None) -> int:
        total = 0
        head = self.head()
        while True:
            count = self.run_once()
            total += count
            if progress is not None:
                progress(min(self.position_cache, head), head)
            if count == 0 or (self.until is not None and self.position_cache >= self.until):
                if self._thread is None:
                    self._close_reader()
                return total

    def rebuild(self, names: Sequence[str] | None = None,
                progress: Callable[[int, int], None] | None = None) -> int:
        """Empty the named read models (all by default) and replay from the first event."""
        chosen = [p for p in self.projections if names is None or p.name in names]
        with self._lock, self.db.transaction() as cur:
            for projection in chosen:
                projection.reset(cur)
                projection.forget()
                cur.execute("UPDATE pm_tracking SET position = 0 WHERE name = ?",
                            (projection.name,))
        return self.catch_up(progress)

    # -- running beside the API -----------------------------------------------------

    def start(self, poll_s: float = 0.05) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, args=(poll_s,),
                                        name="tamaq-projections", daemon=True)
        self._thread.start()

    def _loop(self, poll_s: float) -> None:
        while not self._stop.is_set():
            try:
                if self.run_once() == 0:
                    self._stop.wait(poll_s)
            except Exception:  # keep serving; the batch is retried on the next turn
                self.errors += 1
                log.exception("projection batch failed; retrying")
                self._stop.wait(min(2.0, poll_s * 20))

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self._close_reader()

    def _close_reader(self) -> None:
        self._ahead = None
        if self._reader is not None:
            self._reader.shutdown(wait=True)
            self._reader = None

    def poke(self) -> None:
        """Catch up now in this thread (used after a write when no loop runs)."""
        while self.run_once():
            pass

    def wait_for(self, position: int | None = None, timeout_s: float = 2.0) -> bool:
        """Read-your-writes: wait (bounded) until every read model reached `position`
        (default: the current head of the log)."""
        target = self.head() if position is None else position
        if self._thread is None:
            self.poke()
            return self.position_cache >= target
        deadline = time.monotonic() + min(timeout_s, WAIT_TIMEOUT_S_MAX)
        with self._advanced:
            while self.position_cache < target:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._advanced.wait(remaining)
        return True
