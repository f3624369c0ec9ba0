"""Baseline *raw*: psycopg 3 against a table shaped like the library's events table."""

from __future__ import annotations

from typing import Any

import psycopg

from bench.context import Context
from bench.harness import Case, Stopwatch
from bench.rows import MEAL_DECODER, EventRow

ORDER = 10
GROUP = "Baseline: raw PostgreSQL (psycopg 3)"
TABLE_DDL = (
    "CREATE TABLE events ("
    "originator_id uuid NOT NULL, originator_version bigint NOT NULL, "
    "topic text, state bytea, notification_id bigserial, "
    "PRIMARY KEY (originator_id, originator_version))",
    "CREATE UNIQUE INDEX events_notification_id ON events (notification_id)",
)
INSERT = "INSERT INTO events (originator_id, originator_version, topic, state) VALUES (%s, %s, %s, %s)"
COPY = "COPY events (originator_id, originator_version, topic, state) FROM STDIN (FORMAT BINARY)"
COPY_TYPES = ["uuid", "int8", "text", "bytea"]
SELECT = "SELECT originator_id, originator_version, topic, state FROM events ORDER BY notification_id"


def create_table(ctx: Context) -> psycopg.Connection[Any]:
    conn = ctx.pg_connect()
    for statement in TABLE_DDL:
        conn.execute(statement)
    conn.commit()
    return conn


def copy_rows(conn: psycopg.Connection[Any], rows: tuple[EventRow, ...]) -> None:
    with conn.transaction(), conn.cursor() as cur, cur.copy(COPY) as copy:
        copy.set_types(COPY_TYPES)
        for row in rows:
            copy.write_row(row)


def insert_commit_per_row(ctx: Context) -> float:
    conn = create_table(ctx)
    conn.autocommit = True  # every INSERT is its own transaction and commit
    rows = ctx.rows[: ctx.sizes.per_commit_rows]
    ctx.status(f"{len(rows):,} single-row commits")
    with conn.cursor() as cur, Stopwatch() as sw:
        for row in rows:
            cur.execute(INSERT, row, prepare=True)
    return sw.rate(len(rows))


def executemany_one_tx(ctx: Context) -> float:
    conn = create_table(ctx)
    rows = ctx.rows
    ctx.status(f"executemany {len(rows):,} rows")
    with Stopwatch() as sw, conn.transaction(), conn.cursor() as cur:
        cur.executemany(INSERT, rows)
    return sw.rate(len(rows))


def copy_binary(ctx: Context) -> float:
    conn = create_table(ctx)
    rows = ctx.rows
    ctx.status(f"COPY BINARY {len(rows):,} rows")
    with Stopwatch() as sw:
        copy_rows(conn, rows)
    return sw.rate(len(rows))


def select_decode(ctx: Context) -> float:
    conn = create_table(ctx)
    copy_rows(conn, ctx.rows)
    conn.execute("ANALYZE events")
    conn.commit()
    ctx.status(f"SELECT + decode {len(ctx.rows):,} rows")
    decode = MEAL_DECODER.decode
    count = 0
    with Stopwatch() as sw, conn.cursor(binary=True) as cur:
        cur.execute(SELECT)
        for _originator_id, _version, _topic, state in cur:
            decode(state)
            count += 1
    conn.rollback()
    assert count == len(ctx.rows), f"read {count} of {len(ctx.rows)} rows"
    return sw.rate(count)


CASES = [
    Case(
        "pg.raw.insert_commit_per_row", GROUP, "rows/s", insert_commit_per_row,
        target="reference ≈ 4,100 rows/s (issue 10)", backend="postgres",
    ),
    Case(
        "pg.raw.executemany_one_tx", GROUP, "rows/s", executemany_one_tx,
        target="reference ≈ 99,000 rows/s (EVENTSTORE-NOTES)", backend="postgres",
    ),
    Case(
        "pg.raw.copy_binary", GROUP, "rows/s", copy_binary,
        target="reference ≈ 380,000 rows/s (issue 10)", backend="postgres",
    ),
    Case(
        "pg.raw.select_decode", GROUP, "rows/s", select_decode,
        target="reference 300,000-580,000 rows/s (issue 10)", backend="postgres",
    ),
]
