"""Given-helpers for read-model tests: a runner over a ledger, the event log decoded, and every
read-model table dumped in a stable order so two stores can be compared row for row.

    ledger = open_ledger("memory://")
    runner = make_runner(ledger)
    ...use cases...
    runner.catch_up()
    live = dump_tables(runner.db)
    runner.rebuild()
    assert dump_tables(runner.db) == live
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ledger.ledger import Ledger
from ledger.mapper import decode_stored
from ledger.sqldb import SideDatabase
from ledger.store import close_ledger, open_ledger
from projections import all_projections
from projections.runner import PAGE_EVENTS_MAX, Runner
from projections.schema import TABLES, table_names

LOG_PAGE = 5_000


def make_runner(ledger: Ledger, page_size: int = PAGE_EVENTS_MAX,
                db: SideDatabase | None = None) -> Runner:
    """A runner with every projection, on the ledger's own database unless `db` is given."""
    side_db = db if db is not None else ledger.side_db
    assert side_db is not None
    return Runner(ledger, side_db, all_projections(ledger), page_size=page_size)


@contextmanager
def ledger_with_runner(url: str, page_size: int = PAGE_EVENTS_MAX
                       ) -> Iterator[tuple[Ledger, Runner]]:
    ledger = open_ledger(url)
    try:
        yield ledger, make_runner(ledger, page_size)
    finally:
        close_ledger(ledger)


def logged_events(ledger: Ledger) -> list[tuple[int, Any]]:
    """(position, decoded event) of every event in the notification log, in order."""
    found: list[tuple[int, Any]] = []
    start = 1
    while True:
        rows = ledger.recorder.select_notifications(start=start, limit=LOG_PAGE)
        found.extend((row.id, decode_stored(row.topic, row.state)) for row in rows)
        if len(rows) < LOG_PAGE:
            return found
        start = rows[-1].id + 1


def all_table_names() -> list[str]:
    return [table for name in TABLES for table in table_names(name)]


def _plain(value: Any) -> Any:
    if isinstance(value, memoryview):
        return bytes(value)
    return value


def dump_tables(db: SideDatabase, *, skip: tuple[str, ...] = ()) -> dict[str, list[tuple[Any, ...]]]:
    """Every pm_ table's rows, as plain Python values, sorted (order-free comparison)."""
    dumped: dict[str, list[tuple[Any, ...]]] = {}
    with db.read() as cur:
        for table in all_table_names():
            if table in skip:
                continue
            rows = cur.fetchall(f"SELECT * FROM {table}")
            dumped[table] = sorted((tuple(_plain(v) for v in row) for row in rows), key=repr)
    return dumped


def head(ledger: Ledger) -> int:
    return int(ledger.recorder.max_notification_id() or 0)


def small_history(ledger: Ledger, school_id: str = "s1", *, region_id: str = "r1",
                  prefix: str = "") -> list[str]:
    """A school with pupils of every band, meals (funded, paid, voided), passes, a home-schooled
    child, top-ups and a refund. Returns the child ids. `prefix` keeps ids apart when called
    twice on one ledger."""
    from ledger_fixtures import ENROLLED_ON, at, canteen, enrol, gate, make_school

    from ledger.scans import TerminalItem

    days = make_school(ledger, school_id, region_id=region_id)
    kids = [f"{prefix}{school_id}-k{i}" for i in range(6)]
    enrol(ledger, kids[0], 1, school_id=school_id)
    enrol(ledger, kids[1], 3, school_id=school_id, voucher=False)  # listed, not entitled
    enrol(ledger, kids[2], 7, school_id=school_id, categories=["large_family"])
    enrol(ledger, kids[3], 9, school_id=school_id)  # senior, no category: not listed
    enrol(ledger, kids[4], 0, school_id=school_id)  # preschool: no rate by default
    enrol(ledger, kids[5], 2, school_id=school_id)
    ledger.record_home_schooling(kids[5], days[5], days[9])
    for kid in kids:
        ledger.top_up(kid, f"{kid}-pay", 2_000, at(ENROLLED_ON, 7))
    scans: list[tuple[str, TerminalItem]] = []
    for n, day in enumerate(days[:8]):
        for kid in kids[:5]:
            scans.append((gate(school_id), TerminalItem(
                event_id=f"{kid}-in-{n}", kind="gate_pass", at=at(day, 8), child_id=kid,
                direction="in", method="card")))
            items = ("lunch",) if n % 3 else ("lunch", "juice")
            scans.append((canteen(school_id), TerminalItem(
                event_id=f"{kid}-meal-{n}", kind="meal", at=at(day, 11), child_id=kid,
                item_ids=items)))
    ledger.record_scans(scans)
    ledger.void_meal(canteen(school_id), f"{kids[0]}-meal-2", "admin", "double scan")
    ledger.void_meal(canteen(school_id), f"{kids[3]}-meal-0", "admin", "wrong child")
    ledger.refund(kids[3], f"{kids[3]}-refund", 100, "left over", "admin")
    return kids
