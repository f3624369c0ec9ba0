"""PostgreSQL persistence with the hash chain: PERSISTENCE_MODULE=ledger.persistence.postgres.

Everything else is eventsourcing's PostgreSQL module (POSTGRES_* settings incl.
POSTGRES_SCHEMA and POSTGRES_LOCK_TIMEOUT, CREATE_TABLE, tracking, snapshots), except
LISTEN/NOTIFY subscriptions: Tamaq's read models pull, so inserts send no NOTIFY (it would
take PostgreSQL's notification-queue lock at every commit). The application recorder also writes `<schema>.<application name
lowercased>_chain` (notification_id bigint PRIMARY KEY, link bytea NOT NULL).

Serialisation: the library already takes `LOCK TABLE <events> IN EXCLUSIVE MODE` in every
insert transaction so that notification ids are issued in commit order. The chain head is
read after that lock by the insert statement itself (it returns the new ids and the head),
and the new links are inserted with one `INSERT ... SELECT` (ids and links packed into two
bytea values) before the commit: two round trips. A save of up to SMALL_SAVE_EVENTS_MAX
events (an online batch) sends the same statements as two simple queries with the values
bound in the client; a larger one (an offline sync) goes through the library's pipeline with
binary parameters.

The writer's lease: every save first takes a transaction-level advisory lock on the events
table (`pg_advisory_xact_lock`, the key derived from the schema and table name), then the
table lock. (A writer that is not Tamaq's would take only the table lock, and could slip
in between two leased saves: only this recorder may write these tables.) A process whose
batching writer is busy can instead hold that advisory lock for a while at session level on
a connection of its own (`acquire_lease`). While it holds it no
other writer can begin a save, so its own small saves skip the table lock and take the
chain head from the save before (kept in memory): batch k+1's insert runs while batch k's
commit is still under way, and commits only after it. Each such insert checks, in its own
statement, that the lease is still held (pg_locks) and that the aggregates the writer took
to be absent without reading them are absent; if not, it inserts nothing and the unit of
work is retried the careful way. A writer that loses its lease mid-save is still safe:
whoever gets the advisory lock next waits on the table lock for the save in progress, and
reads the head after it.

POSTGRES_ENABLE_DB_FUNCTIONS=y is refused: that path inserts without the table lock.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import struct
import threading
import weakref
from collections.abc import Callable, Sequence
from typing import Any, TypeVar
from uuid import UUID

import psycopg
from eventsourcing import postgres as es_postgres
from eventsourcing.persistence import (
    ApplicationRecorder,
    IntegrityError,
    InterfaceError,
    OperationalError,
    ProcessRecorder,
    ProgrammingError,
    StoredEvent,
)
from eventsourcing.utils import retry
from psycopg import ClientCursor, Cursor
from psycopg.rows import DictRow, tuple_row
from psycopg.sql import SQL, Composed, Identifier

from ledger.persistence.links import (
    GENESIS,
    LINK_SIZE,
    ChainConfigurationError,
    chained_recorder_class,
    link_rows,
)

T = TypeVar("T")
_RETRY = retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)


SMALL_SAVE_EVENTS_MAX = 128  # above ~180 events, binary parameters cost less than literals
_SAVE_TYPES = "uuid[], bigint[], text[], bytea[]"  # a small save's ids, versions, topics, states


def _hex(originator_id: UUID | str) -> str:
    return originator_id.hex if isinstance(originator_id, UUID) else str(originator_id)


def _event_arrays(stored_events: Sequence[StoredEvent]) -> tuple[str, str, str]:
    """Ids (32 hex digits: half the cost of str()), versions and topics (class paths: no
    quote, comma, brace or backslash) as array literals."""
    ids = "{" + ",".join([_hex(e.originator_id) for e in stored_events]) + "}"
    versions = "{" + ",".join([str(e.originator_version) for e in stored_events]) + "}"
    topics = '{"' + '","'.join([e.topic for e in stored_events]) + '"}'
    return ids, versions, topics


def _render(statement: Any) -> str:
    """A statement as text, rendered once (psycopg renders a composed one at every execute)."""
    return statement if isinstance(statement, str) else str(statement.as_string(None))


class HeldSave:
    """The first half of a small save, its transaction open: `finish()` sends the links and
    the commit, `abort()` rolls it back; either returns the connection to the pool."""

    def __init__(self, notification_ids: Sequence[int], head_id: int, links_sql: str,
                 rows: tuple[Any, ...], cursor: ClientCursor[Any], held: contextlib.ExitStack,
                 on_failure: Callable[[], None] | None = None) -> None:
        self.notification_ids = notification_ids
        # the chain's head when the insert ran (0: empty); -1 for a save under the lease,
        # whose insert did not wait for the save before it to commit
        self.head_id = head_id
        self._links_sql, self._rows, self._cursor, self._held = links_sql, rows, cursor, held
        self._on_failure = on_failure

    def finish(self) -> None:
        try:
            with self._held:
                self._cursor.execute(self._links_sql, self._rows)
        except BaseException:
            if self._on_failure is not None:
                self._on_failure()
            raise

    def abort(self) -> None:
        if self._on_failure is not None:
            self._on_failure()
        self._held.close()  # closes the cursor, rolls back, returns the connection


class Lease:
    """The advisory lock held at session level on a connection of its own, and the chain
    head as the lease holder's last save left it (None: unknown, read it under the table
    lock)."""

    def __init__(self, conn: psycopg.Connection[Any], head: tuple[int, bytes] | None) -> None:
        self.conn = conn
        self.pid = conn.info.backend_pid
        self.head = head
        self.wanted = False  # another writer waits for it: let it go after this batch


def advisory_key(schema: str, table: str) -> int:
    """The advisory lock key of an events table: 8 bytes of SHA-256, as a signed bigint."""
    digest = hashlib.sha256(f"tamaq-writer:{schema}.{table}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _rollback_unless_idle(conn: psycopg.Connection[Any]) -> None:
    """After a save's statements: a transaction still open (an error cut it short) is
    rolled back before the connection goes back to the pool; a broken connection leaves it."""
    if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        with contextlib.suppress(psycopg.Error):
            conn.rollback()


def _chain_table_for(events_table_name: str) -> str:
    base = events_table_name.removesuffix("_events")
    return f"{base}_chain"


class ChainedPostgresApplicationRecorder(es_postgres.PostgresApplicationRecorder):
    """PostgresApplicationRecorder that appends chain links in the insert transaction."""

    notification_ids_contiguous = False  # a rolled-back insert leaves a gap in the sequence

    def __init__(
        self,
        datastore: es_postgres.PostgresDatastore,
        *,
        events_table_name: str = "stored_events",
        chain_table_name: str | None = None,
        **kwargs: Any,
    ):
        if datastore.enable_db_functions:
            msg = ("POSTGRES_ENABLE_DB_FUNCTIONS=y inserts events without the table lock "
                   "the hash chain relies on; unset it to use ledger.persistence.postgres")
            raise ChainConfigurationError(msg)
        super().__init__(datastore, events_table_name=events_table_name, **kwargs)
        self.chain_table_name = chain_table_name or _chain_table_for(events_table_name)
        self.check_identifier_length(self.chain_table_name)
        self.sql_create_statements.append(self._chain_sql(
            "CREATE TABLE IF NOT EXISTS {chain} "
            "(notification_id bigint PRIMARY KEY, link bytea NOT NULL)"
        ))
        self._select_head = self._chain_sql(
            "SELECT notification_id, link FROM {chain} ORDER BY notification_id DESC LIMIT 1"
        )
        # The statements of every save are rendered once: psycopg renders a composed
        # statement again at each execute, prepared or not (a third of a small save's CPU).
        self._lease_key = advisory_key(datastore.schema or "public", events_table_name)
        self._lease: Lease | None = None
        self._lease_lock = threading.Lock()  # the lease's state, and a leased insert's turn
        table_lock = [_render(statement) for statement in self.lock_table_statements]
        # every save outside a lease: the advisory lock (waits for a lease holder), then
        # the table lock (waits for a save in progress, leased or not); under the lease,
        # a save that reads the head from the table still takes the table lock
        self._lock_sql_leased = table_lock
        self._lock_sql = [*table_lock[:1], f"SELECT pg_advisory_xact_lock({self._lease_key})",
                          *table_lock[1:]]
        # Ids and links travel as two packed bytea values (8-byte big-endian ids, 32-byte
        # links) and are split server-side: dumping 500-element arrays costs more client
        # CPU than the rest of the chain together.
        self._insert_links = _render(self._chain_sql(
            "INSERT INTO {chain} (notification_id, link) "
            "SELECT ('x' || encode(substring(%(ids)s::bytea FROM g * 8 + 1 FOR 8), 'hex'))::bit(64)::bigint, "
            "substring(%(links)s::bytea FROM g * 32 + 1 FOR 32) "
            "FROM generate_series(0, %(count)s::integer - 1) AS g"
        ))
        # Events travel as four plain arrays, in one prepared statement: the library's array
        # of composite values costs several times more client CPU to dump than the insert.
        # The same statement, run after the table lock, returns the chain head (the row with
        # a link; read in the statement's snapshot, which sees every earlier commit) and the
        # new notification ids (no link): no statement of its own for the head.
        self._insert_plain = _render(self._chain_sql(
            "WITH new AS (INSERT INTO {events} (originator_id, originator_version, topic, state) "
            "SELECT * FROM unnest(%s::text::uuid[], %s::text::bigint[], %s::text::text[], %b::bytea[]) "
            "RETURNING notification_id) "
            "SELECT notification_id, NULL::bytea FROM new UNION ALL "
            "(SELECT notification_id, link FROM {chain} ORDER BY notification_id DESC LIMIT 1)"
        ))
        # A small save (an online batch) as two simple queries with the values bound in the
        # client: the lock, the insert and the head in one, the links and the commit in the
        # other. Same statements, same order, same round trips as the pipeline below, at less
        # than half its client CPU (seven commands and two syncs cost more than the data).
        high, low = (self._lease_key >> 32) & 0xFFFFFFFF, self._lease_key & 0xFFFFFFFF
        # the lease's lock (an advisory lock on a bigint shows in pg_locks as its two
        # halves): held by the lease connection (its pid the parameter), or waited for
        lease_locks = ("SELECT FROM pg_catalog.pg_locks WHERE locktype = 'advisory' "
                       f"AND classid = {high} AND objid = {low} AND objsubid = 1")
        self._lease_held_sql = f"EXISTS ({lease_locks} AND granted AND pid = %s)"
        lease_waited_sql = f"EXISTS ({lease_locks} AND NOT granted)"
        # The small saves' statements are planned once a connection: PREPAREd on it before
        # its first small save (`_ready`), and run as EXECUTE inside the simple queries.
        # Planned at every run, the leased insert alone cost PostgreSQL 0.6 ms of CPU a batch.
        self._prepare_sql: dict[str, str] = {}
        self._prepared_on: weakref.WeakSet[psycopg.Connection[Any]] = weakref.WeakSet()
        rows = "unnest(%s::uuid[], %s::bigint[], %s::text[], %s::bytea[]) "
        small_insert = _render(self._chain_sql(
            "WITH new AS (INSERT INTO {events} (originator_id, originator_version, topic, state) "
            "SELECT * FROM " + rows + "RETURNING notification_id) "
            "SELECT notification_id, NULL::bytea FROM new UNION ALL "
            "(SELECT notification_id, link FROM {chain} ORDER BY notification_id DESC LIMIT 1)"
        ))
        self._small_insert = ("BEGIN; " + "; ".join(self._lock_sql) + "; "
                              + self._prepared("small_insert", small_insert, _SAVE_TYPES))
        # under the lease with the head unknown: the table lock, and nothing inserted
        # unless the lease is still held
        self._small_insert_leased = "BEGIN; " + "; ".join(self._lock_sql_leased) + "; " + (
            self._prepared("small_insert_leased", small_insert.replace(
                rows, rows + "WHERE " + self._lease_held_sql + " "), _SAVE_TYPES + ", integer"))
        # Under the lease, with the head known: no lock at all, and the insert inserts
        # nothing unless the lease is still held and the aggregates taken to be absent are.
        self._leased_insert = "BEGIN; " + self._prepared("leased_insert", _render(self._chain_sql(
            "INSERT INTO {events} (originator_id, originator_version, topic, state) "
            "SELECT * FROM " + rows + "WHERE " + self._lease_held_sql + " "
            # one index probe an id: as `originator_id = ANY(...)` the planner, which sees
            # many events an aggregate, takes a sequential scan to find one row early
            "AND NOT EXISTS (SELECT FROM unnest(%s::uuid[]) AS absent(id) CROSS JOIN LATERAL "
            "(SELECT FROM {events} AS e WHERE e.originator_id = absent.id LIMIT 1) AS found) "
            # and whether another writer waits for the lease (it is then let go soon)
            "RETURNING notification_id, " + lease_waited_sql)), _SAVE_TYPES + ", integer, uuid[]")
        self._small_links = self._prepared("small_links", self._insert_links.replace(
            "%(ids)s", "%s").replace("%(links)s", "%s").replace("%(count)s", "%s"),
            "bytea, bytea, integer") + "; COMMIT"
        assert "".join(self._prepare_sql.values()).count("pg_locks") == 3

    # -- the small saves' prepared statements -------------------------------------------

    def _prepared(self, name: str, statement: str, types: str) -> str:
        """`statement` (its `%s` in order) PREPAREd as one of this recorder's statements
        with parameters of `types`; returns its EXECUTE, the parameters still `%s`."""
        count = statement.count("%s")
        assert count == types.count(",") + 1, (name, count, types)
        numbered = iter(range(1, count + 1))
        key = f"tamaq_{name}_{self._lease_key & 0xFFFFFFFFFFFFFFFF:016x}"
        self._prepare_sql[key] = (f"PREPARE {key} ({types}) AS "
                                  + re.sub("%s", lambda _: f"${next(numbered)}", statement))
        return f"EXECUTE {key} ({', '.join(['%s'] * count)})"

    def _ready(self, conn: psycopg.Connection[Any]) -> None:
        """The small saves' statements PREPAREd on `conn`, once a connection: what
        pg_prepared_statements lacks (a save may have failed after preparing)."""
        if conn in self._prepared_on:
            return
        with conn.cursor(row_factory=tuple_row) as curs:
            curs.execute("SELECT name FROM pg_catalog.pg_prepared_statements")
            there = {row[0] for row in curs.fetchall()}
            for key, statement in self._prepare_sql.items():
                if key not in there:
                    curs.execute(statement)
        conn.commit()
        self._prepared_on.add(conn)

    def _execute_small(self, curs: ClientCursor[Any], statements: str,
                       params: Sequence[Any]) -> None:
        """Run a small save's statements. A connection that lost its prepared statements
        (DEALLOCATE, DISCARD ALL: a pooler in between) prepares them again, and the
        statements run once more; after any other error they are looked up again before
        the connection's next save."""
        conn = curs.connection
        try:
            curs.execute(statements, params)
        except psycopg.errors.InvalidSqlStatementName:
            self._prepared_on.discard(conn)
            conn.rollback()
            self._ready(conn)
            curs.execute(statements, params)
        except BaseException:
            self._prepared_on.discard(conn)
            raise

    # -- the writer's lease --------------------------------------------------------------

    def acquire_lease(self) -> None:
        """Hold the writer's advisory lock at session level, on a connection of its own,
        until `release_lease`: waits for whoever holds it, and for saves in progress
        elsewhere. The chain head is read once the lock is held."""
        if self._lease is not None:
            return
        conn = self.datastore.pool.getconn()
        try:
            conn.execute(f"SELECT pg_advisory_lock({self._lease_key})")
            # the head once the saves in progress have committed (one whose writer just
            # lost its lease may still be under way)
            with conn.transaction():
                for statement in self._lock_sql_leased:
                    conn.execute(statement)
                row = conn.execute(_render(self._select_head)).fetchone()
        except BaseException:
            conn.close()  # a closed session holds no lock
            self.datastore.pool.putconn(conn)
            raise
        head = (row["notification_id"], bytes(row["link"])) if row else (0, GENESIS)
        with self._lease_lock:
            self._lease = Lease(conn, head)

    def release_lease(self) -> None:
        with self._lease_lock:
            lease, self._lease = self._lease, None
        if lease is None:
            return
        try:
            lease.conn.execute(f"SELECT pg_advisory_unlock({self._lease_key})")
        except psycopg.Error:
            lease.conn.close()  # a closed session holds no lock
        finally:
            self.datastore.pool.putconn(lease.conn)

    @property
    def leased(self) -> bool:
        return self._lease is not None

    @property
    def lease_wanted(self) -> bool:
        """Another writer was seen waiting for the lease (by the last leased insert)."""
        lease = self._lease
        return lease is not None and lease.wanted

    def forget_head(self) -> None:
        """The head kept in memory may be wrong from now on (a save under the lease failed
        or was rolled back; a save goes by another path, maybe in the committer thread):
        the next small save reads it under the table lock."""
        with self._lease_lock:  # after a leased insert in progress has taken its lock
            lease = self._lease
            if lease is not None:
                lease.head = None

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        if (kwargs or not stored_events or len(stored_events) > SMALL_SAVE_EVENTS_MAX
                or isinstance(self, es_postgres.PostgresProcessRecorder)):
            self.forget_head()  # this save reads the head itself; the next one too
            try:
                return super().insert_events(stored_events, **kwargs)
            finally:
                self.forget_head()
        return self._insert_small(stored_events)

    @_RETRY
    def _insert_small(self, stored_events: Sequence[StoredEvent]) -> Sequence[int]:
        held = self._first_half(stored_events)
        held.finish()
        return held.notification_ids

    def insert_events_deferred(self, stored_events: Sequence[StoredEvent],
                               absent: Sequence[UUID] = ()) -> HeldSave | None:
        """A small save in two steps: now the lock, the insert and the chain head (the new
        notification ids come back); later `finish()` (the links and the commit) or `abort()`
        (a rollback), on the same connection, which the save holds until then. The batching
        writer sends this while the previous batch's `finish()` is still under way in
        another thread: PostgreSQL runs it once that commit has released the table lock,
        and the writer finishes it only if that commit succeeded. None: not a small save;
        use insert_events.

        Under the lease, with the head known, the insert does not wait for the save before
        it: it runs at once, and `absent` (aggregates the unit took to be absent without
        reading them) are checked in the same statement; IntegrityError if one is there
        after all, or if the lease was lost."""
        if (not stored_events or len(stored_events) > SMALL_SAVE_EVENTS_MAX
                or isinstance(self, es_postgres.PostgresProcessRecorder)):
            if absent:
                raise IntegrityError("aggregates taken to be absent need a small save")
            return None
        with self._lease_lock:
            lease = self._lease
            if lease is not None and lease.head is not None:
                return self._first_half_leased(stored_events, absent, lease)
        if absent:
            raise IntegrityError("aggregates taken to be absent need the lease and its head")
        return self._first_half_retried(stored_events)

    def _first_half_leased(self, stored_events: Sequence[StoredEvent], absent: Sequence[UUID],
                           lease: Lease) -> HeldSave:
        """The insert under the lease (called holding `_lease_lock`, so no other save of this
        recorder starts between taking the head and the insert taking its lock on the
        table); the links follow the head in memory, which moves on to this save's last."""
        assert lease.head is not None
        ids, versions, topics = _event_arrays(stored_events)
        states = '{"\\\\x' + '","\\\\x'.join([e.state.hex() for e in stored_events]) + '"}'
        missing = "{" + ",".join([_hex(a) for a in absent]) + "}"
        with contextlib.ExitStack() as stack:  # on an error: rolled back, connection returned
            conn = stack.enter_context(self.datastore.get_connection())
            stack.callback(_rollback_unless_idle, conn)
            self._ready(conn)
            curs = stack.enter_context(ClientCursor(conn, row_factory=tuple_row))
            self._execute_small(curs, self._leased_insert,
                                (ids, versions, topics, states, lease.pid, missing))
            while curs.nextset():
                pass
            found = curs.fetchall()
            notification_ids = [row[0] for row in found]
            if found and found[0][1]:
                lease.wanted = True
            if not notification_ids:
                if not self._lease_held(conn, lease):
                    self._lost(lease, locked=True)
                    raise IntegrityError("the writer's lease was lost")
                raise IntegrityError("an aggregate taken to be absent is there: decide again, "
                                     "reading it")
            head_id, head_link = lease.head
            new_ids, links = link_rows(head_id, head_link, notification_ids, stored_events)
            lease.head = (new_ids[-1], links[-1])
            rows = (struct.pack(f">{len(new_ids)}q", *new_ids), b"".join(links), len(new_ids))
            return HeldSave(notification_ids, -1, self._small_links, rows, curs, stack.pop_all(),
                            on_failure=self.forget_head)

    def _lease_held(self, on: psycopg.Connection[Any] | Cursor[DictRow], lease: Lease) -> bool:
        """Whether the lease's connection still holds its lock (`on`: dict rows)."""
        row = on.execute("SELECT " + self._lease_held_sql + " AS held", (lease.pid,)).fetchone()
        return bool(row and row["held"])

    def _lost(self, lease: Lease, *, locked: bool = False) -> None:
        """The lease's connection no longer holds the lock (it broke): forget the lease;
        this recorder's saves take the advisory lock again."""
        with contextlib.nullcontext() if locked else self._lease_lock:
            if self._lease is lease:
                self._lease = None
        with contextlib.suppress(Exception):
            lease.conn.close()
        self.datastore.pool.putconn(lease.conn)

    def _first_half(self, stored_events: Sequence[StoredEvent]) -> HeldSave:
        """The lock, the insert and the head as one simple query, the values bound in the
        client; the links and the commit are the held save's `finish()`."""
        ids, versions, topics = _event_arrays(stored_events)
        states = '{"\\\\x' + '","\\\\x'.join([e.state.hex() for e in stored_events]) + '"}'
        lease = self._lease
        with contextlib.ExitStack() as stack:  # on an error: rolled back, connection returned
            conn = stack.enter_context(self.datastore.get_connection())
            stack.callback(_rollback_unless_idle, conn)
            self._ready(conn)
            curs = stack.enter_context(ClientCursor(conn, row_factory=tuple_row))
            if lease is None:
                self._execute_small(curs, self._small_insert, (ids, versions, topics, states))
            else:
                self._execute_small(curs, self._small_insert_leased,
                                    (ids, versions, topics, states, lease.pid))
            while curs.nextset():
                pass  # on to the rows of the last statement
            found = curs.fetchall()
            if lease is not None and not any(row[1] is None for row in found):
                self._lost(lease)
                raise IntegrityError("the writer's lease was lost")
            notification_ids, rows = self._link_new_rows(found, stored_events)
            head_id = next((row[0] for row in found if row[1] is not None), 0)
            on_failure = None
            if lease is not None and lease is self._lease:
                # the head read under the table lock, moved on to this save's last link
                lease.head = (max(notification_ids), rows[1][-LINK_SIZE:])
                on_failure = self.forget_head
            return HeldSave(notification_ids, head_id, self._small_links, rows, curs,
                            stack.pop_all(), on_failure=on_failure)

    _first_half_retried = _RETRY(_first_half)

    def _link_new_rows(self, rows: list[Any], stored_events: Sequence[StoredEvent]
                       ) -> tuple[list[int], tuple[bytes, bytes, int]]:
        """The new notification ids (the rows without a link) and the parameters of the
        chain insert: their links after the head (the row with one)."""
        notification_ids = [row[0] for row in rows if row[1] is None]
        if len(notification_ids) != len(stored_events):
            msg = f"got {len(notification_ids)} notification ids for {len(stored_events)} events"
            raise ProgrammingError(msg)
        head = [(row[0], bytes(row[1])) for row in rows if row[1] is not None]
        head_id, head_link = head[0] if head else (0, GENESIS)
        ids, links = link_rows(head_id, head_link, notification_ids, stored_events)
        return notification_ids, (struct.pack(f">{len(ids)}q", *ids), b"".join(links), len(ids))

    def _insert_stored_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        self._lock_table(curs)
        lease = self._lease
        if lease is not None:  # the table lock is held: check the lease holds too
            if not self._lease_held(curs, lease):
                self._lost(lease)
                raise IntegrityError("the writer's lease was lost")
        # ids (32 hex digits: half the cost of str()), versions and topics (class paths: no
        # quote, comma or brace) as array literals; rows come back as plain tuples
        ids, versions, topics = _event_arrays(stored_events)
        curs.row_factory = tuple_row  # type: ignore[assignment]
        curs.execute(self._insert_plain, (ids, versions, topics, [e.state for e in stored_events]),
                     prepare=True, binary=True)

    def _chain_sql(self, template: str) -> Composed:
        chain = Identifier(self.datastore.schema, self.chain_table_name)
        events = Identifier(self.datastore.schema, self.events_table_name)
        return SQL(template).format(chain=chain, events=events)

    def _lock_table(self, curs: Cursor[DictRow]) -> None:
        for statement in self._lock_sql if self._lease is None else self._lock_sql_leased:
            curs.execute(statement, prepare=True)

    def _fetch_ids_after_insert_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        notification_ids, (ids, links, count) = self._link_new_rows(curs.fetchall(), stored_events)
        curs.execute(self._insert_links, {"ids": ids, "links": links, "count": count},
                     prepare=True, binary=True)
        return notification_ids

    def _fetch_links(self, statement: Composed, params: Sequence[int]) -> list[tuple[int, bytes]]:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(statement, params, prepare=True)
            return [(row["notification_id"], bytes(row["link"])) for row in curs.fetchall()]

    @_RETRY
    def select_links(self, gt: int, lte: int | None, limit: int) -> list[tuple[int, bytes]]:
        if lte is None:
            statement = "SELECT * FROM {chain} WHERE notification_id > %s ORDER BY notification_id LIMIT %s"
            return self._fetch_links(self._chain_sql(statement), (gt, limit))
        statement = ("SELECT * FROM {chain} WHERE notification_id > %s AND notification_id <= %s "
                     "ORDER BY notification_id LIMIT %s")
        return self._fetch_links(self._chain_sql(statement), (gt, lte, limit))

    @_RETRY
    def select_last_link(self, before: int | None = None) -> tuple[int, bytes] | None:
        if before is None:
            rows = self._fetch_links(self._select_head, ())
        else:
            statement = ("SELECT * FROM {chain} WHERE notification_id < %s "
                         "ORDER BY notification_id DESC LIMIT 1")
            rows = self._fetch_links(self._chain_sql(statement), (before,))
        return rows[0] if rows else None

    @_RETRY
    def chain_bounds(self) -> tuple[int, int]:
        statement = self._chain_sql(
            "SELECT (SELECT max(notification_id) FROM {events}) AS events, "
            "(SELECT max(notification_id) FROM {chain}) AS chain"
        )
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(statement)  # one statement: one snapshot of both tables
            row = curs.fetchone()
            assert row is not None
            return row["events"] or 0, row["chain"] or 0

    def run_in_transaction(self, fn: Callable[[Cursor[DictRow]], T], *, commit: bool = True) -> T:
        """Run `fn(cursor)` in one transaction on the store's database (`%s` placeholders,
        dict rows; qualify tables with the store's schema); commits when `commit` is true
        and `fn` returns, rolls back if it raises."""
        with self.datastore.transaction(commit=commit) as cursor:
            return fn(cursor)


class ChainedPostgresProcessRecorder(ChainedPostgresApplicationRecorder, es_postgres.PostgresProcessRecorder):
    """PostgresProcessRecorder (events + tracking in one transaction) with the chain."""


class ChainedPostgresFactory(es_postgres.PostgresFactory):
    """eventsourcing's PostgreSQL factory, building chained application and process recorders."""

    application_recorder_class = ChainedPostgresApplicationRecorder
    process_recorder_class = ChainedPostgresProcessRecorder

    def application_recorder(self) -> ApplicationRecorder:
        chained_recorder_class(
            self.env.get(self.APPLICATION_RECORDER_TOPIC), self.application_recorder_class,
            ChainedPostgresApplicationRecorder, self.APPLICATION_RECORDER_TOPIC,
        )
        return super().application_recorder()

    def process_recorder(self) -> ProcessRecorder:
        chained_recorder_class(
            self.env.get(self.PROCESS_RECORDER_TOPIC), self.process_recorder_class,
            ChainedPostgresProcessRecorder, self.PROCESS_RECORDER_TOPIC,
        )
        return super().process_recorder()


Factory = ChainedPostgresFactory
