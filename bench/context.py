"""What a benchmark run gets: sizes, the shared rows, a fresh PostgreSQL schema, a tmp dir.

The schema and the tmp dir are created lazily (a SQLite case never touches PostgreSQL)
and removed when the run ends, after the cleanups the case registered.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg.conninfo import conninfo_to_dict
from rich.progress import Progress, TaskID

from bench.rows import EventRow, make_rows

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/test"
DATABASE_URL_ENV = "TAMAQ_BENCH_DATABASE_URL"
CONNECT_TIMEOUT_S = 5
LOCK_TIMEOUT_MS = 10_000  # library apps: fail instead of waiting forever on the table lock
T = TypeVar("T")


@dataclass(frozen=True)
class Sizes:
    """How much work each kind of case does; `--quick` picks the small set."""

    rows: int  # the shared event rows (bulk cases, replay)
    per_commit_rows: int  # raw INSERT with one commit per row
    single_save_events: int  # library, one save() per event
    events_per_save: int = 500
    page_size: int = 10_000  # notification log pages for replay


FULL = Sizes(rows=50_000, per_commit_rows=5_000, single_save_events=3_000)
QUICK = Sizes(rows=5_000, per_commit_rows=1_000, single_save_events=500)


def database_url() -> str:
    return os.environ.get(DATABASE_URL_ENV) or DEFAULT_DATABASE_URL


def libpq_url(url: str) -> str:
    """The URL without our `schema` query parameter, which libpq would reject."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "schema"]
    return urlunsplit(parts._replace(query=urlencode(query)))


def connect(url: str, **kwargs: Any) -> psycopg.Connection[Any]:
    return psycopg.connect(libpq_url(url), connect_timeout=CONNECT_TIMEOUT_S, **kwargs)


def postgres_problem(url: str) -> str | None:
    """None when PostgreSQL answers, else a one-line reason."""
    try:
        with connect(url) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return f"PostgreSQL unreachable at {libpq_url(url)} ({first}); set {DATABASE_URL_ENV}"
    return None


class Context:
    """Per-run resources. Use as a context manager; the harness does."""

    def __init__(
        self,
        *,
        sizes: Sizes,
        quick: bool,
        base_url: str | None = None,
        progress: Progress | None = None,
        task: TaskID | None = None,
        label: str = "",
    ) -> None:
        self.sizes = sizes
        self.quick = quick
        self.base_url = base_url or database_url()
        self.progress = progress
        self._task = task
        self._label = label
        self._schema: str | None = None
        self._tmp: Path | None = None
        self._cleanups: list[Callable[[], object]] = []

    # -- sizes and data
    @property
    def rows(self) -> tuple[EventRow, ...]:
        """The shared event rows (`sizes.rows` of them), built once per process."""
        return make_rows(self.sizes.rows)

    def pick(self, full: T, quick: T) -> T:
        return quick if self.quick else full

    def status(self, text: str) -> None:
        """Show what the case is doing now in the progress display."""
        if self.progress is not None and self._task is not None:
            self.progress.update(self._task, description=f"{self._label} {text}".strip())

    def on_cleanup(self, fn: Callable[[], object]) -> None:
        """Run `fn` when the run ends (before the schema is dropped), last first."""
        self._cleanups.append(fn)

    # -- files
    @property
    def tmp_dir(self) -> Path:
        if self._tmp is None:
            self._tmp = Path(tempfile.mkdtemp(prefix="tamaq-bench-"))
        return self._tmp

    def sqlite_path(self, name: str = "bench") -> Path:
        return self.tmp_dir / f"{name}.sqlite3"

    # -- PostgreSQL
    @property
    def pg_schema(self) -> str:
        if self._schema is None:
            schema = f"bench_{secrets.token_hex(6)}"
            with connect(self.base_url, autocommit=True) as conn:
                conn.execute(f'CREATE SCHEMA "{schema}"')
            self._schema = schema
        return self._schema

    @property
    def postgres_url(self) -> str:
        """postgresql://...?schema=bench_xxx (the form TAMAQ_DATABASE_URL takes)."""
        parts = urlsplit(self.base_url)
        query = [(k, v) for k, v in parse_qsl(parts.query) if k != "schema"]
        query.append(("schema", self.pg_schema))
        return urlunsplit(parts._replace(query=urlencode(query)))

    def pg_connect(self, *, autocommit: bool = False) -> psycopg.Connection[Any]:
        """A connection whose search_path is this run's schema; closed at cleanup."""
        conn = connect(self.base_url, autocommit=autocommit)
        conn.execute(f'SET search_path TO "{self.pg_schema}"')
        if not autocommit:
            conn.commit()
        self.on_cleanup(conn.close)
        return conn

    def database_url(self, backend: str, name: str = "bench") -> str:
        """A TAMAQ_DATABASE_URL for this run: sqlite:///tmp/... or postgresql://...?schema=."""
        if backend == "sqlite":
            return f"sqlite:///{self.sqlite_path(name)}"
        if backend == "postgres":
            return self.postgres_url
        raise ValueError(f"no database URL for backend {backend!r}")

    def eventsourcing_env(self, backend: str, name: str = "bench") -> dict[str, str]:
        """Environment for an eventsourcing Application on this run's store."""
        if backend == "sqlite":
            return {
                "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                "SQLITE_DBNAME": str(self.sqlite_path(name)),
                "SQLITE_LOCK_TIMEOUT": "10",
            }
        if backend == "postgres":
            info = conninfo_to_dict(libpq_url(self.base_url))
            return {
                "PERSISTENCE_MODULE": "eventsourcing.postgres",
                "POSTGRES_DBNAME": str(info.get("dbname", "postgres")),
                "POSTGRES_HOST": str(info.get("host", "127.0.0.1")),
                "POSTGRES_PORT": str(info.get("port", "5432")),
                "POSTGRES_USER": str(info.get("user", "postgres")),
                "POSTGRES_PASSWORD": str(info.get("password", "unused")),
                "POSTGRES_SCHEMA": self.pg_schema,
                "POSTGRES_LOCK_TIMEOUT": str(LOCK_TIMEOUT_MS // 1000),
            }
        raise ValueError(f"no eventsourcing environment for backend {backend!r}")

    # -- lifecycle
    def __enter__(self) -> Context:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        errors: list[BaseException] = []
        while self._cleanups:
            try:
                self._cleanups.pop()()
            except Exception as exc:
                errors.append(exc)
        if self._schema is not None:
            with connect(self.base_url, autocommit=True) as conn:
                conn.execute(f"SET lock_timeout = {LOCK_TIMEOUT_MS}")
                conn.execute(f'DROP SCHEMA IF EXISTS "{self._schema}" CASCADE')
            self._schema = None
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None
        if errors:
            raise errors[0]
