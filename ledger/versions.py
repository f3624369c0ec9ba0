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


def _postgres(recorder: Any, ids: Sequence[UUID]) -> dict[UUID, int]:
    schema = getattr(recorder.datastore, "schema", "") or ""
    table = recorder.events_table_name
    qualified = table if "." in table or not schema else f"{schema}.{table}"
    sql = (f"SELECT originator_id, max(originator_version) AS v FROM {qualified}"
           " WHERE originator_id = ANY(%s) GROUP BY originator_id")
    with recorder.datastore.transaction(commit=False) as cur:
        cur.execute(sql, (list(ids),))
        rows = cur.fetchall()
    return {UUID(str(r["originator_id"])): int(r["v"]) for r in rows}
