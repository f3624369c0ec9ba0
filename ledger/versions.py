"""Reads that keep the writer's aggregate cache honest in few queries: what changed in the log
since a position (its tail), the current version of many aggregates, and the events of many
aggregates at once."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

IN_LIST_MAX = 1_000
TAIL_ROWS_MAX = 10_000


Tail = tuple[int, dict[UUID, int] | None, dict[UUID, list[Any]]]


def changes_since(recorder: Any, position: int, load: Sequence[UUID] = ()) -> Tail:
    """(new position, {aggregate id: latest version} of the events stored after `position`,
    the stored events of the aggregates in `load`), on PostgreSQL in one round trip. The
    dict of versions is None when more than TAIL_ROWS_MAX arrived (forget everything then).

    Notification ids are issued in commit order (the table lock on PostgreSQL, the single
    writer on SQLite), so nothing can later appear at or below the position returned."""
    kind = type(recorder).__module__
    if "postgres" in kind:
        rows, stored = _postgres_tail(recorder, position, load)
    else:
        if "sqlite" in kind:
            rows = _sqlite_tail(recorder, position)
        else:
            rows = [(n.id, n.originator_id, n.originator_version) for n in
                    recorder.select_notifications(position, TAIL_ROWS_MAX + 1,
                                                  inclusive_of_start=False)]
        stored = load_events(recorder, load) if load else {}
    if len(rows) > TAIL_ROWS_MAX:
        return int(recorder.max_notification_id() or position), None, stored
    latest: dict[UUID, int] = {}
    for _, originator_id, version in rows:
        key = originator_id if isinstance(originator_id, UUID) else UUID(str(originator_id))
        if version > latest.get(key, -1):
            latest[key] = int(version)
    return (int(rows[-1][0]) if rows else position), latest, stored


def _sqlite_tail(recorder: Any, position: int) -> list[tuple[Any, ...]]:
    sql = (f"SELECT rowid, originator_id, originator_version FROM {recorder.events_table_name}"
           " WHERE rowid > ? ORDER BY rowid LIMIT ?")
    with recorder.datastore.transaction(commit=False) as cur:
        cur.execute(sql, (position, TAIL_ROWS_MAX + 1))
        return [tuple(row) for row in cur.fetchall()]


def _postgres_tail(recorder: Any, position: int, load: Sequence[UUID]
                   ) -> tuple[list[tuple[Any, ...]], dict[UUID, list[Any]]]:
    """The tail and the events to load in one statement (one round trip, no pipeline): tail
    rows come first, with no topic; then the events, with their topic and state."""
    from psycopg.rows import tuple_row

    table = _pg_table(recorder)
    sql = (f"(SELECT notification_id, originator_id, originator_version, NULL::text, NULL::bytea"
           f" FROM {table} WHERE notification_id > %s ORDER BY notification_id LIMIT %s)"
           f" UNION ALL (SELECT 0, originator_id, originator_version, topic, state FROM {table}"
           " WHERE originator_id = ANY(%s::uuid[]) ORDER BY originator_id, originator_version)")
    with recorder.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as cur:
        cur.execute(sql, (position, TAIL_ROWS_MAX + 1, _uuid_array(load)), prepare=True)
        rows = cur.fetchall()
    # (a union promises no order: sort here what the callers rely on)
    tail = sorted(row[:3] for row in rows if row[3] is None)
    events = sorted((row[1:] for row in rows if row[3] is not None), key=lambda r: (r[0], r[1]))
    return tail, _stored_by_id(events)


def max_versions(recorder: Any, ids: Sequence[UUID]) -> dict[UUID, int]:
    found: dict[UUID, int] = {}
    kind = type(recorder).__module__
    for start in range(0, len(ids), IN_LIST_MAX):
        chunk = ids[start:start + IN_LIST_MAX]
        if "postgres" in kind:
            found.update(_postgres(recorder, chunk))
        elif "sqlite" in kind:
            found.update(_sqlite(recorder, chunk))
        else:
            for aggregate_id in chunk:
                last = recorder.select_events(aggregate_id, desc=True, limit=1)
                if last:
                    found[aggregate_id] = last[0].originator_version
    return found


def _sqlite(recorder: Any, ids: Sequence[UUID]) -> dict[UUID, int]:
    marks = ",".join("?" * len(ids))
    sql = (f"SELECT originator_id, max(originator_version) FROM {recorder.events_table_name}"
           f" WHERE originator_id IN ({marks}) GROUP BY originator_id")
    with recorder.datastore.transaction(commit=False) as cur:
        cur.execute(sql, [i.hex for i in ids])
        return {UUID(str(row[0])): int(row[1]) for row in cur.fetchall()}


def _pg_table(recorder: Any) -> str:
    schema = getattr(recorder.datastore, "schema", "") or ""
    table = recorder.events_table_name
    return str(table) if "." in table or not schema else f"{schema}.{table}"


def _uuid_array(ids: Sequence[UUID]) -> str:
    """A uuid[] literal: one text parameter is far cheaper to send than psycopg's array dump
    (32 hex digits each: half the cost of str())."""
    return "{" + ",".join([i.hex if isinstance(i, UUID) else str(i) for i in ids]) + "}"


def _postgres(recorder: Any, ids: Sequence[UUID]) -> dict[UUID, int]:
    from psycopg.rows import tuple_row

    sql = (f"SELECT originator_id, max(originator_version) FROM {_pg_table(recorder)}"
           " WHERE originator_id = ANY(%s::uuid[]) GROUP BY originator_id")
    # one autocommit statement: no BEGIN/ROLLBACK round trips around a single read
    with recorder.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as cur:
        cur.execute(sql, (_uuid_array(ids),), prepare=True)
        return {row[0]: int(row[1]) for row in cur.fetchall()}


def load_events(recorder: Any, ids: Sequence[UUID]) -> dict[UUID, list[Any]]:
    """The stored events of many aggregates in one query (oldest first), keyed by id."""
    kind = type(recorder).__module__
    if "postgres" in kind:  # one array parameter, whatever the count
        return _postgres_events(recorder, ids)
    found: dict[UUID, list[Any]] = {}
    for start in range(0, len(ids), IN_LIST_MAX):
        chunk = ids[start:start + IN_LIST_MAX]
        if "sqlite" in kind:
            rows = _sqlite_events(recorder, chunk)
        else:
            rows = [s for i in chunk for s in recorder.select_events(i)]
        for stored in rows:
            found.setdefault(stored.originator_id, []).append(stored)
    return found


def _sqlite_events(recorder: Any, ids: Sequence[UUID]) -> list[Any]:
    from eventsourcing.persistence import StoredEvent

    marks = ",".join("?" * len(ids))
    sql = (f"SELECT originator_id, originator_version, topic, state FROM "
           f"{recorder.events_table_name} WHERE originator_id IN ({marks})"
           " ORDER BY originator_id, originator_version")
    with recorder.datastore.transaction(commit=False) as cur:
        cur.execute(sql, [i.hex for i in ids])
        return [StoredEvent(originator_id=UUID(str(r[0])), originator_version=int(r[1]),
                            topic=r[2], state=bytes(r[3])) for r in cur.fetchall()]


_EVENTS_SQL = ("SELECT originator_id, originator_version, topic, state FROM {table}"
               " WHERE originator_id = ANY(%s::uuid[]) ORDER BY originator_id, originator_version")


def _postgres_events(recorder: Any, ids: Sequence[UUID]) -> dict[UUID, list[Any]]:
    from psycopg.rows import tuple_row

    with recorder.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as cur:
        cur.execute(_EVENTS_SQL.format(table=_pg_table(recorder)), (_uuid_array(ids),),
                    prepare=True)
        return _stored_by_id(cur.fetchall())


def _stored_by_id(rows: list[tuple[Any, ...]]) -> dict[UUID, list[Any]]:
    from eventsourcing.persistence import StoredEvent

    found: dict[UUID, list[Any]] = {}
    for r in rows:
        found.setdefault(r[0], []).append(StoredEvent(
            originator_id=r[0], originator_version=r[1], topic=r[2], state=bytes(r[3])))
    return found
