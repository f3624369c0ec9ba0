"""Parent notifications (meal served or refused, entry, exit) with delivery marks. Sending SMS
or push is out of scope; the SSE stream reads from here.

A notification is one row of the meals, refusals or passes read models, read as one: a table
of its own cost as many rows again as the scans themselves (about a third of a catch-up). The
log position is its id; `pm_delivery` marks the ones sent (kept across rebuilds)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec

from ledger.sqldb import SideDatabase

NOTIFICATIONS_PAGE_MAX = 200
# (position, kind, at, then the fields the body is made of)
_PENDING = (
    "SELECT n.position, n.kind, n.at, n.a, n.b, n.c, n.d, n.e, d.position FROM ("
    "SELECT position, 'meal_served' AS kind, at, funding AS a, funded_kzt AS b, paid_kzt AS c,"
    " items AS d, balance_kzt AS e FROM pm_meal WHERE child_id = ? AND position > ?"
    " UNION ALL SELECT position, 'meal_refused', at, reason, NULL, NULL, NULL, NULL"
    " FROM pm_refusal WHERE kind = 'meal' AND child_id = ? AND position > ?"
    " UNION ALL SELECT position, CASE WHEN direction = 'in' THEN 'entry' ELSE 'exit' END, at,"
    " method, NULL, NULL, NULL, NULL FROM pm_pass WHERE person_kind = 'pupil'"
    " AND person_id = ? AND position > ?"
    ") n LEFT JOIN pm_delivery d ON d.position = n.position ORDER BY n.position LIMIT ?")


class Notification(msgspec.Struct, frozen=True):
    position: int
    child_id: str
    kind: str
    at: str
    body: dict[str, Any]
    delivered: bool = False


def _body(kind: str, a: Any, b: Any, c: Any, d: Any, e: Any) -> dict[str, Any]:
    if kind == "meal_served":
        items = msgspec.json.decode(d)
        return {"funding": a, "amount_kzt": int(b) or int(c),
                "items": [item["name"] for item in items],
                "balance_kzt": int(e) if e is not None else None}
    if kind == "meal_refused":
        return {"reason": a}
    return {"method": a}


def pending(db: SideDatabase, child_id: str, after: int) -> list[Notification]:
    with db.read() as cur:
        rows = cur.fetchall(_PENDING, (child_id, after, child_id, after, child_id, after,
                                       NOTIFICATIONS_PAGE_MAX))
    return [Notification(int(p), child_id, k, at, _body(k, a, b, c, d, e), done is not None)
            for p, k, at, a, b, c, d, e, done in rows]


def mark_delivered(db: SideDatabase, positions: Sequence[int]) -> None:
    now = datetime.now(UTC).isoformat()
    with db.transaction() as cur:
        cur.executemany("INSERT INTO pm_delivery (position, delivered_at) VALUES (?, ?) "
                        "ON CONFLICT (position) DO NOTHING", [(p, now) for p in positions])
