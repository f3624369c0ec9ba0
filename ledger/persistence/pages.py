"""Pages of stored events and chain links as plain tuples, read straight from the tables.

The verifier's hot path. The library's `select_notifications` builds a Notification and a
UUID per row (about two thirds of a verification's time); here a row is the tuple

    (notification_id, originator_id, originator_version, topic, state)

where `originator_id` is the 16 raw bytes of the UUID when the database can give them
(PostgreSQL's `uuid_send`, so no UUID object is built) and otherwise the value as stored
(SQLite text). `notification(row)` turns a row back into exactly what the library's reader
returns, for the rare diagnosis paths. Stores without SQL (POPO) use the library's reader.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol
from uuid import UUID

from eventsourcing.persistence import Notification
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Composed, Identifier

EventRow = tuple[int, Any, int, str, Any]
LinkRow = tuple[int, bytes]
_NO_SORT = "SET LOCAL enable_sort = off"


class PageReader(Protocol):
    def events(self, after: int, stop: int, limit: int) -> list[EventRow]:
        """Events with after < notification_id <= stop, ascending, at most `limit`."""
        ...

    def links(self, after: int, stop: int, limit: int) -> list[LinkRow]:
        """Chain rows with after < notification_id <= stop, ascending, at most `limit`."""
        ...

    def notification(self, row: EventRow) -> Notification:
        """The row as the library's reader would have returned it."""
        ...


def page_reader(recorder: Any) -> PageReader:
    """The fastest reader the recorder's store allows."""
    if isinstance(recorder, PostgresApplicationRecorder) and hasattr(recorder, "chain_table_name"):
        return _PostgresPages(recorder)
    if isinstance(recorder, SQLiteApplicationRecorder) and hasattr(recorder, "chain_table_name"):
        return _SQLitePages(recorder)
    return _LibraryPages(recorder)


def originator_text(originator_id: Any) -> str:
    """An originator id from a row as the library shows it: a UUID in its canonical text
    form (PostgreSQL rows carry its raw bytes, SQLite stores 32 hex digits)."""
    if isinstance(originator_id, bytes):
        return str(UUID(bytes=originator_id))
    try:
        return str(UUID(str(originator_id)))
    except ValueError:
        return str(originator_id)


def _notification(row: EventRow, convert: Callable[[Any], Any]) -> Notification:
    nid, originator_id, version, topic, state = row
    return Notification(id=nid, originator_id=convert(originator_id), originator_version=version,
                        topic=topic, state=state)


class _PostgresPages:
    def __init__(self, recorder: PostgresApplicationRecorder) -> None:
        datastore = recorder.datastore
        self._datastore = datastore
        self._raw_uuid = datastore.originator_id_type == "uuid"
        oid = "uuid_send(originator_id)" if self._raw_uuid else "originator_id"
        self._events = self._sql(
            f"SELECT notification_id, {oid}, originator_version, topic, state FROM {{table}} "
            "WHERE notification_id > %s AND notification_id <= %s ORDER BY notification_id LIMIT %s",
            recorder.events_table_name)
        self._links = self._sql(
            "SELECT notification_id, link FROM {table} WHERE notification_id > %s "
            "AND notification_id <= %s ORDER BY notification_id LIMIT %s",
            recorder.chain_table_name)  # type: ignore[attr-defined]

    def _sql(self, template: str, table: str) -> Composed:
        return SQL(template).format(table=Identifier(self._datastore.schema, table))

    def _fetch(self, statement: Composed, params: tuple[int, int, int]) -> list[Any]:
        # Right after a bulk load the statistics are stale and the planner sorts the whole
        # range (on disk) for every page; the notification id index already gives the order.
        with self._datastore.get_connection() as conn, conn.pipeline(), conn.transaction(), \
                conn.cursor(row_factory=tuple_row, binary=True) as cur:
            cur.execute(_NO_SORT)
            cur.execute(statement, params, prepare=True)
            return cur.fetchall()

    def events(self, after: int, stop: int, limit: int) -> list[EventRow]:
        return self._fetch(self._events, (after, stop, limit))

    def links(self, after: int, stop: int, limit: int) -> list[LinkRow]:
        return self._fetch(self._links, (after, stop, limit))

    def notification(self, row: EventRow) -> Notification:
        return _notification(row, self._convert)

    def _convert(self, originator_id: Any) -> Any:
        return UUID(bytes=originator_id) if self._raw_uuid else originator_id


class _SQLitePages:
    def __init__(self, recorder: SQLiteApplicationRecorder) -> None:
        self._recorder = recorder
        self._events = (
            "SELECT rowid, originator_id, originator_version, topic, state FROM "
            f"{recorder.events_table_name} WHERE rowid > ? AND rowid <= ? ORDER BY rowid LIMIT ?")
        self._links = (
            f"SELECT notification_id, link FROM {recorder.chain_table_name} "  # type: ignore[attr-defined]
            "WHERE notification_id > ? AND notification_id <= ? ORDER BY notification_id LIMIT ?")

    def _fetch(self, statement: str, params: tuple[int, int, int]) -> list[Any]:
        with self._recorder.datastore.transaction(commit=False) as cur:
            cur.execute(statement, params)
            return cur.fetchall()  # type: ignore[no-any-return]

    def events(self, after: int, stop: int, limit: int) -> list[EventRow]:
        return self._fetch(self._events, (after, stop, limit))

    def links(self, after: int, stop: int, limit: int) -> list[LinkRow]:
        return [(nid, bytes(link)) for nid, link in self._fetch(self._links, (after, stop, limit))]

    def notification(self, row: EventRow) -> Notification:
        return _notification(row, self._recorder.convert_originator_id)


class _LibraryPages:
    def __init__(self, recorder: Any) -> None:
        self._recorder = recorder

    def events(self, after: int, stop: int, limit: int) -> list[EventRow]:
        found: Sequence[Notification] = self._recorder.select_notifications(
            start=after + 1, limit=limit, stop=stop)
        return [(n.id, n.originator_id, n.originator_version, n.topic, n.state) for n in found]

    def links(self, after: int, stop: int, limit: int) -> list[LinkRow]:
        return self._recorder.select_links(after, stop, limit)  # type: ignore[no-any-return]

    def notification(self, row: EventRow) -> Notification:
        return _notification(row, lambda originator_id: originator_id)
