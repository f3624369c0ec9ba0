"""SQLite persistence with the hash chain: set PERSISTENCE_MODULE=ledger.persistence.sqlite.

Everything else is eventsourcing's SQLite module (SQLITE_DBNAME, SQLITE_LOCK_TIMEOUT,
CREATE_TABLE, tracking, snapshots). The application recorder also writes one row per
event into `<application name lowercased>_chain` (notification_id INTEGER PRIMARY KEY,
link BLOB NOT NULL) inside the insert transaction. SQLite lets one writer in at a time,
and the recorder inserts the events first (taking the write lock) and only then reads
the chain head, so links are computed in commit order without any extra locking.

Never VACUUM the store: the library uses the rowid of `stored_events` as notification
id, and VACUUM may renumber rowids of a table without an INTEGER PRIMARY KEY.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from eventsourcing import sqlite as es_sqlite
from eventsourcing.persistence import ApplicationRecorder, ProcessRecorder, StoredEvent

from ledger.persistence.links import GENESIS, chain_table_name, chained_recorder_class, link_rows

T = TypeVar("T")


class ChainedSQLiteApplicationRecorder(es_sqlite.SQLiteApplicationRecorder):
    """SQLiteApplicationRecorder that appends chain links in the insert transaction."""

    notification_ids_contiguous = True  # rowids: max + 1, never skipped by a rollback

    def __init__(
        self,
        datastore: es_sqlite.SQLiteDatastore,
        events_table_name: str = "stored_events",
        *,
        chain_table_name: str = "stored_chain",
        **kwargs: Any,
    ):
        self.chain_table_name = chain_table_name  # needed by construct_create_table_statements
        super().__init__(datastore, events_table_name=events_table_name, **kwargs)
        self._select_head = (
            f"SELECT notification_id, link FROM {chain_table_name} "
            "ORDER BY notification_id DESC LIMIT 1"
        )
        self._insert_link = f"INSERT INTO {chain_table_name} (notification_id, link) VALUES (?, ?)"

    def construct_create_table_statements(self) -> list[str]:
        statements = super().construct_create_table_statements()
        statements.append(
            f"CREATE TABLE IF NOT EXISTS {self.chain_table_name} ("
            "notification_id INTEGER PRIMARY KEY, link BLOB NOT NULL)"
        )
        return statements

    def _insert_events(
        self, c: es_sqlite.SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        notification_ids = super()._insert_events(c, stored_events, **kwargs)
        if stored_events:
            c.execute(self._select_head)  # after the inserts: this connection holds the write lock
            row = c.fetchone()
            head_id, head = (row[0], bytes(row[1])) if row is not None else (0, GENESIS)
            ids, links = link_rows(head_id, head, notification_ids, stored_events)
            c.executemany(self._insert_link, zip(ids, links, strict=True))
        return notification_ids

    def select_links(self, gt: int, lte: int | None, limit: int) -> list[tuple[int, bytes]]:
        statement = f"SELECT notification_id, link FROM {self.chain_table_name} WHERE notification_id > ? "
        params: list[int] = [gt]
        if lte is not None:
            statement += "AND notification_id <= ? "
            params.append(lte)
        statement += "ORDER BY notification_id LIMIT ?"
        params.append(limit)
        with self.datastore.transaction(commit=False) as c:
            c.execute(statement, params)
            return [(row[0], bytes(row[1])) for row in c.fetchall()]

    def select_last_link(self, before: int | None = None) -> tuple[int, bytes] | None:
        statement = f"SELECT notification_id, link FROM {self.chain_table_name} "
        params: list[int] = []
        if before is not None:
            statement += "WHERE notification_id < ? "
            params.append(before)
        statement += "ORDER BY notification_id DESC LIMIT 1"
        with self.datastore.transaction(commit=False) as c:
            c.execute(statement, params)
            row = c.fetchone()
            return (row[0], bytes(row[1])) if row is not None else None

    def chain_bounds(self) -> tuple[int, int]:
        statement = (
            f"SELECT (SELECT MAX(rowid) FROM {self.events_table_name}), "
            f"(SELECT MAX(notification_id) FROM {self.chain_table_name})"
        )
        with self.datastore.transaction(commit=False) as c:
            c.execute(statement)
            row = c.fetchone()
            return row[0] or 0, row[1] or 0

    def run_in_transaction(self, fn: Callable[[es_sqlite.SQLiteCursor], T], *, commit: bool = True) -> T:
        """Run `fn(cursor)` in one transaction on the store's database (`?` placeholders);
        commits when `commit` is true and `fn` returns, rolls back if it raises."""
        with self.datastore.transaction(commit=commit) as cursor:
            return fn(cursor)


class ChainedSQLiteProcessRecorder(ChainedSQLiteApplicationRecorder, es_sqlite.SQLiteProcessRecorder):
    """SQLiteProcessRecorder (events + tracking in one transaction) with the chain."""


class ChainedSQLiteFactory(es_sqlite.SQLiteFactory):
    """eventsourcing's SQLite factory, building chained application and process recorders."""

    application_recorder_class = ChainedSQLiteApplicationRecorder
    process_recorder_class = ChainedSQLiteProcessRecorder

    def application_recorder(self) -> ApplicationRecorder:
        recorder_class = chained_recorder_class(
            self.env.get(self.APPLICATION_RECORDER_TOPIC), self.application_recorder_class,
            ChainedSQLiteApplicationRecorder, self.APPLICATION_RECORDER_TOPIC,
        )
        recorder: ChainedSQLiteApplicationRecorder = recorder_class(
            datastore=self.datastore, chain_table_name=chain_table_name(self.env.name)
        )
        if self.env_create_table():
            recorder.create_table()
        return recorder

    def process_recorder(self) -> ProcessRecorder:
        recorder_class = chained_recorder_class(
            self.env.get(self.PROCESS_RECORDER_TOPIC), self.process_recorder_class,
            ChainedSQLiteProcessRecorder, self.PROCESS_RECORDER_TOPIC,
        )
        recorder: ChainedSQLiteProcessRecorder = recorder_class(
            datastore=self.datastore, chain_table_name=chain_table_name(self.env.name)
        )
        if self.env_create_table():
            recorder.create_table()
        return recorder


Factory = ChainedSQLiteFactory
