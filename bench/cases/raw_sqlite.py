"""Baseline *raw*: the sqlite3 module on a file in WAL mode with synchronous=FULL,
with a table shaped like the library's SQLite events table (rowid = notification id)."""

from __future__ import annotations

import sqlite3

from bench.context import Context
from bench.harness import Case, Stopwatch
from bench.rows import MEAL_DECODER, EventRow

ORDER = 20
GROUP = "Baseline: raw SQLite (file, WAL, synchronous=FULL)"
TABLE_DDL = (
    "CREATE TABLE events (originator_id TEXT, originator_version INTEGER, "
    "topic TEXT, state BLOB, PRIMARY KEY (originator_id, originator_version))"
)
INSERT = "INSERT INTO events (originator_id, originator_version, topic, state) VALUES (?, ?, ?, ?)"
SELECT = "SELECT originator_id, originator_version, topic, state FROM events ORDER BY rowid"

SqliteRow = tuple[str, int, str, bytes]


def open_db(ctx: Context) -> sqlite3.Connection:
    conn = sqlite3.connect(ctx.sqlite_path("raw"), isolation_level=None)  # autocommit
    ctx.on_cleanup(conn.close)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute(TABLE_DDL)
    return conn


def as_sqlite(rows: tuple[EventRow, ...]) -> list[SqliteRow]:
    """The library stores UUIDs as text in SQLite; so do we (outside the timing)."""
    return [(str(r.originator_id), r.originator_version, r.topic, r.state) for r in rows]


def insert_many(conn: sqlite3.Connection, rows: list[SqliteRow]) -> None:
    conn.execute("BEGIN")
    conn.executemany(INSERT, rows)
    conn.execute("COMMIT")


def insert_commit_per_row(ctx: Context) -> float:
    conn = open_db(ctx)
    rows = as_sqlite(ctx.rows[: ctx.sizes.per_commit_rows])
    ctx.status(f"{len(rows):,} single-row commits")
    with Stopwatch() as sw:
        for row in rows:
            conn.execute(INSERT, row)
    return sw.rate(len(rows))


def executemany_one_tx(ctx: Context) -> float:
    conn = open_db(ctx)
    rows = as_sqlite(ctx.rows)
    ctx.status(f"executemany {len(rows):,} rows")
    with Stopwatch() as sw:
        insert_many(conn, rows)
    return sw.rate(len(rows))


def select_decode(ctx: Context) -> float:
    conn = open_db(ctx)
    insert_many(conn, as_sqlite(ctx.rows))
    ctx.status(f"SELECT + decode {len(ctx.rows):,} rows")
    decode = MEAL_DECODER.decode
    count = 0
    with Stopwatch() as sw:
        for _originator_id, _version, _topic, state in conn.execute(SELECT):
            decode(state)
            count += 1
    assert count == len(ctx.rows), f"read {count} of {len(ctx.rows)} rows"
    return sw.rate(count)


CASES = [
    Case(
        "sqlite.raw.insert_commit_per_row", GROUP, "rows/s", insert_commit_per_row,
        backend="sqlite",
    ),
    Case("sqlite.raw.executemany_one_tx", GROUP, "rows/s", executemany_one_tx, backend="sqlite"),
    Case("sqlite.raw.select_decode", GROUP, "rows/s", select_decode, backend="sqlite"),
]
