"""Fast paths between the event log and the read models.

`read_page` reads (position, topic, state) straight from the recorder's table: the library's
`select_notifications` builds a Notification and converts an originator UUID per row, which
the projections never use (about 10 % of a catch-up). Stores without SQL (POPO) fall back to
the library's reader.

`decoder_of` gives the scan events, most of the log, as light views (`VIEWS`): ids, days and
instants stay the strings they are stored as, which the read models write as they are (a
typed decode, `str(uuid)` and `isoformat()` cost about twice as much).

`insert_rows` appends rows in bulk: COPY on PostgreSQL (3-4 times the rate of executemany),
executemany elsewhere. `upsert_rows` sends rows that may meet existing keys as one statement
over arrays on PostgreSQL (executemany there costs the server a statement a row)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

import msgspec
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder
from eventsourcing.utils import resolve_topic
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Identifier

from ledger.records import TerminalEvent
from ledger.sqldb import Cursor

Row = tuple[int, str, bytes]
COPY_ROWS_MIN = 64  # below this, one executemany costs no more than a COPY round trip


class Served(msgspec.Struct, frozen=True, kw_only=True):
    """TerminalEvent.MealServed as the read models read it (`day`, `at`: as stored)."""

    originator_id: str
    event_id: str
    terminal_id: str
    school_id: str
    child_id: str
    day: str
    at: str
    band: str
    grade: int
    class_name: str
    funding: str
    funded_kzt: int
    rate_kzt: int
    paid_kzt: int
    items: msgspec.Raw  # the items' JSON as stored: what pm_meal.items holds
    offline: bool
    flags: tuple[str, ...]
    balance_kzt: int | None


class Refused(msgspec.Struct, frozen=True, kw_only=True):
    event_id: str
    terminal_id: str
    school_id: str
    child_id: str | None
    day: str
    at: str
    reason: str
    offline: bool


class MealRefusal(Refused, frozen=True, kw_only=True):
    """TerminalEvent.MealRefused as the read models read it."""


class PassRefusal(Refused, frozen=True, kw_only=True):
    """TerminalEvent.PassRefused as the read models read it."""


class Passed(msgspec.Struct, frozen=True, kw_only=True):
    """TerminalEvent.GatePassed as the read models read it."""

    event_id: str
    school_id: str
    child_id: str | None
    staff_id: str | None
    day: str
    at: str
    direction: str
    method: str
    authorized_by: str | None
    offline: bool


VIEWS: dict[type, type] = {
    TerminalEvent.MealServed: Served, TerminalEvent.MealRefused: MealRefusal,
    TerminalEvent.PassRefused: PassRefusal, TerminalEvent.GatePassed: Passed,
}


@lru_cache(maxsize=256)
def _decoder(topic: str) -> msgspec.json.Decoder[Any]:
    cls = resolve_topic(topic)
    return msgspec.json.Decoder(VIEWS.get(cls, cls))


def decoder_of(topic: str) -> Callable[[bytes], Any]:
    """What decodes a topic's state: into the event, or its view when it has one."""
    return _decoder(topic).decode


def instant(stored: str) -> str:
    """An instant as stored (msgspec writes UTC as `Z`) in `datetime.isoformat()`'s form,
    which the read models hold."""
    if stored.endswith("Z"):
        return stored[:-1] + "+00:00"
    return datetime.fromisoformat(stored).isoformat()


def read_page(recorder: Any, start: int, limit: int, stop: int | None) -> list[Row]:
    """Up to `limit` events from position `start` (inclusive) to `stop` (inclusive, if set)."""
    if isinstance(recorder, PostgresApplicationRecorder):
        return _read_postgres(recorder, start, limit, stop)
    if isinstance(recorder, SQLiteApplicationRecorder):
        return _read_sqlite(recorder, start, limit, stop)
    found = recorder.select_notifications(start=start, limit=limit, stop=stop)
    return [(n.id, n.topic, n.state) for n in found]


def _read_postgres(recorder: PostgresApplicationRecorder, start: int, limit: int,
                   stop: int | None) -> list[Row]:
    """The events whose ids lie in a window one page wide, sorted here: without table
    statistics (a log filled since the last ANALYZE) the planner answers `ORDER BY ... LIMIT`
    with a sort on disk of every row it reads. In binary: bytea in text comes as hex."""
    table = SQL("{}.{}").format(Identifier(recorder.datastore.schema),
                                Identifier(recorder.events_table_name))
    statement = SQL("SELECT notification_id, topic, state FROM {} WHERE notification_id >= %s"
                    " AND notification_id <= %s").format(table)
    upto = stop if stop is not None else 2**63 - 1
    with recorder.datastore.get_connection() as conn, \
            conn.cursor(row_factory=tuple_row, binary=True) as cur:
        # the library's connections autocommit: nothing is left open
        cur.execute(statement, (start, min(upto, start + limit - 1)), prepare=True)
        rows = cur.fetchall()
        if not rows:  # ids skipped by rolled-back inserts, a window's width or more
            cur.execute(SQL("SELECT min(notification_id) FROM {} WHERE notification_id >= %s"
                            " AND notification_id <= %s").format(table), (start, upto))
            found = cur.fetchone()
            if found is None or found[0] is None:
                return []
            cur.execute(statement, (found[0], min(upto, found[0] + limit - 1)), prepare=True)
            rows = cur.fetchall()
    rows.sort()  # ids are unique: the order of the log
    return rows


def _read_sqlite(recorder: SQLiteApplicationRecorder, start: int, limit: int,
                 stop: int | None) -> list[Row]:
    statement = (f"SELECT rowid, topic, state FROM {recorder.events_table_name} WHERE rowid >= ?"
                 " AND rowid <= ? ORDER BY rowid LIMIT ?")
    upto = stop if stop is not None else 2**63 - 1
    with recorder.datastore.transaction(commit=False) as cur:
        cur.execute(statement, (start, upto, limit))
        return [(r[0], r[1], r[2]) for r in cur.fetchall()]


def insert_rows(cur: Cursor, table: str, columns: Sequence[str],
                rows: Sequence[Sequence[Any]]) -> None:
    """Append rows (no conflict handling: for tables whose keys the log makes unique)."""
    if not rows:
        return
    names = ", ".join(columns)
    if cur.kind == "postgres" and len(rows) >= COPY_ROWS_MIN:
        with cur.raw.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    marks = ",".join("?" * len(columns))
    cur.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)


def copy_text(value: Any) -> str:
    """A value as COPY's text format holds it (None, str or int: what read-model rows hold)."""
    if value is None:
        return "\\N"
    if type(value) is str:
        if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
            return (value.replace("\\", "\\\\").replace("\t", "\\t")
                    .replace("\n", "\\n").replace("\r", "\\r"))
        return value
    if type(value) is int:
        return str(value)
    raise TypeError(f"no COPY text for a {type(value).__name__}")


def insert_rows_sharing_tails(cur: Cursor, table: str, columns: Sequence[str],
                              rows: Sequence[Sequence[Any]]) -> None:
    """`insert_rows` for rows that mostly repeat all but their first column (a school's
    children of one grade have the same day rows but for the child): on PostgreSQL each
    distinct tail is put in COPY's text form once, a row costs its first value and a join
    (psycopg's own formatting costs ~3 us a row of 14 columns)."""
    if cur.kind != "postgres" or len(rows) < COPY_ROWS_MIN:
        insert_rows(cur, table, columns, rows)
        return
    tails: dict[tuple[Any, ...], str] = {}
    lines: list[str] = []
    for row in rows:
        tail = tuple(row[1:])
        text = tails.get(tail)
        if text is None:
            text = tails[tail] = "\t".join([copy_text(value) for value in tail])
        lines.append(f"{copy_text(row[0])}\t{text}\n")
    with cur.raw.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        copy.write("".join(lines).encode())


def upsert_rows(cur: Cursor, table: str, columns: Sequence[tuple[str, str]],
                rows: Sequence[Sequence[Any]], tail: str) -> None:
    """INSERT rows that may meet existing keys (`tail`: the ON CONFLICT clause); `columns`:
    (name, SQL type). On PostgreSQL one statement over arrays: no two rows may share a key
    (a statement updates a row once)."""
    if not rows:
        return
    names = ", ".join(name for name, _ in columns)
    if cur.kind != "postgres":
        marks = ",".join("?" * len(columns))
        cur.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks}) {tail}", rows)
        return
    arrays = ", ".join(f"?::{kind}[]" for _, kind in columns)
    cur.execute(f"INSERT INTO {table} ({names}) SELECT * FROM unnest({arrays}) {tail}",
                [list(column) for column in zip(*rows, strict=True)])
