"""Shared fixtures: one store URL per backend.

`store_url` runs a test once per backend (memory, sqlite, postgres). PostgreSQL tests
get a fresh schema each, dropped afterwards; they skip with one line when
TAMAQ_TEST_DATABASE_URL is unset, and fail instead of skipping when
TAMAQ_REQUIRE_POSTGRES=1.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn
from urllib.parse import urlsplit, urlunsplit

import pytest

from ledger.settings import SettingsError, StoreConfig, parse_database_url

E2E_DIR = Path(__file__).resolve().parent / "e2e"
TEST_DATABASE_URL = "TAMAQ_TEST_DATABASE_URL"
REQUIRE_POSTGRES = "TAMAQ_REQUIRE_POSTGRES"
SKIP_REASON = (
    "PostgreSQL tests skipped: set "
    "TAMAQ_TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test to run them"
)
CONNECT_TIMEOUT_S = 5

_created_schemas: set[str] = set()
_unreachable_reason: list[str] = []  # remembered so an absent server costs one timeout, not one per test


def _require_postgres() -> bool:
    return os.environ.get(REQUIRE_POSTGRES, "") == "1"


def _skip_or_fail(reason: str, skip_reason: str) -> NoReturn:
    if _require_postgres():
        pytest.fail(f"{REQUIRE_POSTGRES}=1 but {reason}", pytrace=False)
    pytest.skip(skip_reason)


def _base_store() -> tuple[str, StoreConfig]:
    base_url = os.environ.get(TEST_DATABASE_URL, "").strip()
    if not base_url:
        _skip_or_fail(f"{TEST_DATABASE_URL} is unset", SKIP_REASON)
    try:
        store = parse_database_url(base_url)
    except SettingsError as error:
        pytest.fail(f"{TEST_DATABASE_URL}: {error}", pytrace=False)
    if store.kind != "postgres":
        pytest.fail(f"{TEST_DATABASE_URL} must be a postgresql:// URL", pytrace=False)
    return base_url, store


def _unreachable_skip(reason: str) -> str:
    return f"PostgreSQL tests skipped: {reason}"


def _connect(store: StoreConfig):  # type: ignore[no-untyped-def]
    import psycopg

    return psycopg.connect(
        host=store.pg_host,
        port=store.pg_port,
        user=store.pg_user,
        password=store.pg_password or "",
        dbname=store.pg_dbname,
        connect_timeout=CONNECT_TIMEOUT_S,
        autocommit=True,
    )


def _with_schema(base_url: str, schema: str) -> str:
    parts = urlsplit(base_url)
    return urlunsplit(parts._replace(query=f"schema={schema}"))


def _drop_schemas(store: StoreConfig, schemas: set[str]) -> None:
    from psycopg import sql

    with _connect(store) as connection:
        for schema in sorted(schemas):
            connection.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
            _created_schemas.discard(schema)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A postgresql:// URL with ?schema=t_<hex>, a fresh schema dropped after the test."""
    import psycopg
    from psycopg import sql

    base_url, store = _base_store()
    if _unreachable_reason:
        _skip_or_fail(_unreachable_reason[0], _unreachable_skip(_unreachable_reason[0]))
    schema = f"t_{secrets.token_hex(6)}"
    try:
        with _connect(store) as connection:
            connection.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    except psycopg.Error as error:
        reason = f"cannot reach {TEST_DATABASE_URL}: " + " ".join(str(error).split())
        _unreachable_reason.append(reason)
        _skip_or_fail(reason, _unreachable_skip(reason))
    _created_schemas.add(schema)
    yield _with_schema(base_url, schema)
    _drop_schemas(store, {schema})


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A sqlite:/// URL to a file in this test's tmp_path (absolute, so four slashes)."""
    return f"sqlite:///{tmp_path / 'tamaq.sqlite3'}"


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest) -> str:
    """The same test once per storage backend."""
    if request.param == "memory":
        return "memory://"
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    url: str = request.getfixturevalue(fixture)
    return url


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that touches PostgreSQL, so `-m "not postgres"` leaves them out; run
    the browser tests last (their Playwright loop would be running under the tests after
    them on the same worker: tests/e2e/pages_world.py)."""
    items.sort(key=lambda item: item.path.is_relative_to(E2E_DIR))  # stable: order kept
    for item in items:
        callspec = getattr(item, "callspec", None)
        via_store_url = callspec is not None and callspec.params.get("store_url") == "postgres"
        if via_store_url or "postgres_url" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.postgres)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Safety net: drop any schema this session created and did not drop (e.g. after Ctrl-C)."""
    if not _created_schemas:
        return
    try:
        _drop_schemas(parse_database_url(os.environ[TEST_DATABASE_URL]), set(_created_schemas))
    except Exception as error:  # noqa: BLE001 - best effort at exit; report and move on
        print(f"\nconftest: could not drop schemas {sorted(_created_schemas)}: {error}")
