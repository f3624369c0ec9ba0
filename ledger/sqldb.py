"""A small SQL helper over the event store's own database, for what lives beside the events:
read models, their tracking positions, personal-data keys. SQL is written once with `?`
placeholders; on PostgreSQL they become `%s` and the search path is the store's schema."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Literal

Kind = Literal["sqlite", "postgres"]


class Cursor:
    def __init__(self, raw: Any, kind: Kind) -> None:
        self.raw, self.kind = raw, kind

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self.kind == "postgres" else sql

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        self.raw.execute(self._sql(sql), params)
        return self

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            self.raw.executemany(self._sql(sql), rows)

    def fetchone(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        self.raw.execute(self._sql(sql), params)
        row = self.raw.fetchone()
        return tuple(row) if row is not None else None

    def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        self.raw.execute(self._sql(sql), params)
        return [tuple(r) for r in self.raw.fetchall()]


class SideDatabase:
    def __init__(self, kind: Kind, *, sqlite_path: str | None = None, conninfo: str = "",
                 schema: str | None = None, pool_size_max: int = 8) -> None:
        self.kind = kind
        self.schema = schema
        self._local = threading.local()
        self._lock = threading.RLock()
        self._pool: Any = None
        self._sqlite_path = sqlite_path or ":memory:"
        self._shared: sqlite3.Connection | None = None
        if kind == "postgres":
            from psycopg_pool import ConnectionPool

            options = f"-c search_path={schema}" if schema else ""
            self._pool = ConnectionPool(
                conninfo, min_size=1, max_size=pool_size_max, open=True,
                kwargs={"options": options, "autocommit": False}, timeout=10,
            )
        elif self._sqlite_path == ":memory:":
            self._shared = self._connect_sqlite()

    def _connect_sqlite(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self._sqlite_path, isolation_level=None,
                               check_same_thread=False, timeout=30)
        if self._sqlite_path != ":memory:":
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA busy_timeout=30000")
        return conn

    def _sqlite_conn(self) -> sqlite3.Connection:
        if self._shared is not None:
            return self._shared
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connect_sqlite()
        return conn

    @contextmanager
    def transaction(self) -> Iterator[Cursor]:
        """One transaction: committed when the block ends, rolled back if it raises."""
        if self.kind == "postgres":
            with self._pool.connection() as conn, conn.transaction():
                with conn.cursor() as cur:
                    yield Cursor(cur, "postgres")
            return
        lock = self._lock if self._shared is not None else _NULL_LOCK
        with lock:
            conn = self._sqlite_conn()
            cur = conn.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                yield Cursor(cur, "sqlite")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            else:
                conn.execute("COMMIT")
            finally:
                cur.close()

    @contextmanager
    def read(self) -> Iterator[Cursor]:
        """A read-only view: one consistent snapshot for several queries."""
        if self.kind == "postgres":
            with self._pool.connection() as conn, conn.transaction():
                with conn.cursor() as cur:
                    cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    yield Cursor(cur, "postgres")
            return
        lock = self._lock if self._shared is not None else _NULL_LOCK
        with lock:
            conn = self._sqlite_conn()
            cur = conn.cursor()
            cur.execute("BEGIN")
            try:
                yield Cursor(cur, "sqlite")
            finally:
                conn.execute("ROLLBACK")
                cur.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
        if self._shared is not None:
            self._shared.close()
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()


class _NullLock:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


_NULL_LOCK = _NullLock()
