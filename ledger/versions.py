"""The current version of many aggregates in one query, so a batch of commands checks its
cached aggregates against the store once instead of once per aggregate."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

IN_LIST_MAX = 1_000


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


def _postgres(recorder: Any, ids: Sequence[UUID]) -> dict[UUID, int]:
    qualified = _pg_table(recorder)
    sql = (f"SELECT originator_id, max(originator_version) AS v FROM {qualified}"
           " WHERE originator_id = ANY(%s) GROUP BY originator_id")
    # one autocommit statement: no BEGIN/ROLLBACK round trips around a single read
    with recorder.datastore.get_connection() as conn:
        rows = conn.execute(sql, (list(ids),)).fetchall()
    return {UUID(str(r["originator_id"])): int(r["v"]) for r in rows}


def load_events(recorder: Any, ids: Sequence[UUID]) -> dict[UUID, list[Any]]:
    """The stored events of many aggregates in one query (oldest first), keyed by id."""
    kind = type(recorder).__module__
    found: dict[UUID, list[Any]] = {}
    for start in range(0, len(ids), IN_LIST_MAX):
        chunk = ids[start:start + IN_LIST_MAX]
        if "postgres" in kind:
            rows = _postgres_events(recorder, chunk)
        elif "sqlite" in kind:
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


def _postgres_events(recorder: Any, ids: Sequence[UUID]) -> list[Any]:
    from eventsourcing.persistence import StoredEvent

    qualified = _pg_table(recorder)
    sql = (f"SELECT originator_id, originator_version, topic, state FROM {qualified}"
           " WHERE originator_id = ANY(%s) ORDER BY originator_id, originator_version")
    with recorder.datastore.get_connection() as conn:
        rows = conn.execute(sql, (list(ids),)).fetchall()
    return [StoredEvent(originator_id=r["originator_id"], originator_version=int(r["originator_version"]),
                        topic=r["topic"], state=bytes(r["state"])) for r in rows]
