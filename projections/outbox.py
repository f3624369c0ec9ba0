"""The outbox of parent notifications (meal served or refused, entry, exit), with delivery
marks. Sending SMS or push is out of scope; the SSE stream reads from here."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec

from ledger.records import TerminalEvent
from ledger.sqldb import Cursor, SideDatabase
from projections.eventlog import insert_rows
from projections.runner import Projection

NOTIFICATIONS_PAGE_MAX = 200
_json = msgspec.json.Encoder()


class Notification(msgspec.Struct, frozen=True):
    position: int
    child_id: str
    kind: str
    at: str
    body: dict[str, Any]
    delivered: bool = False


class Outbox(Projection):
    name, tables = "notifications", "notifications"
    events = (TerminalEvent.MealServed, TerminalEvent.MealRefused, TerminalEvent.GatePassed)

    def apply(self, cur: Cursor, batch: Sequence[tuple[int, Any]]) -> None:
        rows = []
        for position, e in batch:
            if isinstance(e, TerminalEvent.MealServed):
                body: dict[str, Any] = {"funding": e.funding, "amount_kzt": e.funded_kzt or e.paid_kzt,
                                        "items": [i.name for i in e.items],
                                        "balance_kzt": e.balance_kzt}
                rows.append((position, e.child_id, "meal_served", e.at.isoformat(), body))
            elif isinstance(e, TerminalEvent.MealRefused) and e.child_id is not None:
                rows.append((position, e.child_id, "meal_refused", e.at.isoformat(),
                             {"reason": e.reason}))
            elif isinstance(e, TerminalEvent.GatePassed) and e.child_id is not None:
                kind = "entry" if e.direction == "in" else "exit"
                rows.append((position, e.child_id, kind, e.at.isoformat(), {"method": e.method}))
        insert_rows(cur, "pm_notification", ("position", "child_id", "kind", "at", "body"),
                    [(p, c, k, a, _json.encode(b).decode()) for p, c, k, a, b in rows])


def pending(db: SideDatabase, child_id: str, after: int) -> list[Notification]:
    with db.read() as cur:
        rows = cur.fetchall(
            "SELECT n.position, n.child_id, n.kind, n.at, n.body, d.position FROM pm_notification n"
            " LEFT JOIN pm_delivery d ON d.position = n.position WHERE n.child_id = ? AND"
            " n.position > ? ORDER BY n.position LIMIT ?", (child_id, after, NOTIFICATIONS_PAGE_MAX))
    return [Notification(int(p), c, k, a, msgspec.json.decode(b), d is not None)
            for p, c, k, a, b, d in rows]


def mark_delivered(db: SideDatabase, positions: Sequence[int]) -> None:
    now = datetime.now(UTC).isoformat()
    with db.transaction() as cur:
        cur.executemany("INSERT INTO pm_delivery (position, delivered_at) VALUES (?, ?) "
                        "ON CONFLICT (position) DO NOTHING", [(p, now) for p in positions])
