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
bytea values) before the commit: two round trips. Writers are serialised exactly as much as
before, no more. A save of up to SMALL_SAVE_EVENTS_MAX events (an online batch) sends the
same statements as two simple queries with the values bound in the client; a larger one
(an offline sync) goes through the library's pipeline with binary parameters.

POSTGRES_ENABLE_DB_FUNCTIONS=y is refused: that path inserts without the table lock.
"""

from __future__ import annotations

import contextlib
import struct
from collections.abc import Callable, Sequence
from typing import Any, TypeVar
from uuid import UUID

import psycopg
from eventsourcing import postgres as es_postgres
from eventsourcing.persistence import (
    ApplicationRecorder,
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
    ChainConfigurationError,
    chained_recorder_class,
    link_rows,
)

T = TypeVar("T")
_RETRY = retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)


SMALL_SAVE_EVENTS_MAX = 128  # above ~180 events, binary parameters cost less than literals


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
                 rows: tuple[Any, ...], cursor: ClientCursor[Any], held: contextlib.ExitStack
                 ) -> None:
        self.notification_ids = notification_ids
        self.head_id = head_id  # the chain's head when the insert ran (0: empty)
        self._links_sql, self._rows, self._cursor, self._held = links_sql, rows, cursor, held

    def finish(self) -> None:
        with self._held:
            self._cursor.execute(self._links_sql, self._rows)

    def abort(self) -> None:
        self._held.close()  # closes the cursor, rolls back, returns the connection


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
        self._lock_sql = [_render(statement) for statement in self.lock_table_statements]
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
        self._small_insert = "BEGIN; " + "; ".join(self._lock_sql) + "; " + _render(
            self._chain_sql(
                "WITH new AS (INSERT INTO {events} (originator_id, originator_version, topic, state) "
                "SELECT * FROM unnest(%s::uuid[], %s::bigint[], %s::text[], %s::bytea[]) "
                "RETURNING notification_id) "
                "SELECT notification_id, NULL::bytea FROM new UNION ALL "
                "(SELECT notification_id, link FROM {chain} ORDER BY notification_id DESC LIMIT 1)"
            ))
        self._small_links = self._insert_links.replace("%(ids)s", "%s").replace(
            "%(links)s", "%s").replace("%(count)s", "%s") + "; COMMIT"

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        if (kwargs or not stored_events or len(stored_events) > SMALL_SAVE_EVENTS_MAX
                or isinstance(self, es_postgres.PostgresProcessRecorder)):
            return super().insert_events(stored_events, **kwargs)
        return self._insert_small(stored_events)

    @_RETRY
    def _insert_small(self, stored_events: Sequence[StoredEvent]) -> Sequence[int]:
        held = self._first_half(stored_events)
        held.finish()
        return held.notification_ids

    def insert_events_deferred(self, stored_events: Sequence[StoredEvent]) -> HeldSave | None:
        """A small save in two steps: now the lock, the insert and the chain head (the new
        notification ids come back); later `finish()` (the links and the commit) or `abort()`
        (a rollback), on the same connection, which the save holds until then. The batching
        writer sends this while the previous batch's `finish()` is still under way in
        another thread: PostgreSQL runs it once that commit has released the table lock,
        and the writer finishes it only if that commit succeeded. None: not a small save;
        use insert_events."""
        if (not stored_events or len(stored_events) > SMALL_SAVE_EVENTS_MAX
                or isinstance(self, es_postgres.PostgresProcessRecorder)):
            return None
        return self._first_half_retried(stored_events)

    def _first_half(self, stored_events: Sequence[StoredEvent]) -> HeldSave:
        """The lock, the insert and the head as one simple query, the values bound in the
        client; the links and the commit are the held save's `finish()`."""
        ids, versions, topics = _event_arrays(stored_events)
        states = '{"\\\\x' + '","\\\\x'.join([e.state.hex() for e in stored_events]) + '"}'
        with contextlib.ExitStack() as stack:  # on an error: rolled back, connection returned
            conn = stack.enter_context(self.datastore.get_connection())
            stack.callback(_rollback_unless_idle, conn)
            curs = stack.enter_context(ClientCursor(conn, row_factory=tuple_row))
            curs.execute(self._small_insert, (ids, versions, topics, states))
            while curs.nextset():
                pass  # on to the rows of the last statement
            found = curs.fetchall()
            notification_ids, rows = self._link_new_rows(found, stored_events)
            head_id = next((row[0] for row in found if row[1] is not None), 0)
            return HeldSave(notification_ids, head_id, self._small_links, rows, curs,
                            stack.pop_all())

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
        for statement in self._lock_sql:
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
