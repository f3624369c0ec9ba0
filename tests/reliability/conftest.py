"""Reliability suite: the long variants (`@pytest.mark.slow`) run only with TAMAQ_LONG=1
(`make test-long`); otherwise each is skipped with one line saying how to run it."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

LONG = "TAMAQ_LONG"
SKIP_LONG = f"long variant: set {LONG}=1 (make test-long) to run it"
HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip this folder's slow tests before any fixture (a server, a schema) is set up."""
    long = os.environ.get(LONG) == "1"
    for item in items:
        if HERE not in item.path.resolve().parents:
            continue
        if "module_postgres_url" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.postgres)
        if not long and item.get_closest_marker("slow") is not None:
            item.add_marker(pytest.mark.skip(reason=SKIP_LONG))


@pytest.fixture(scope="module")
def module_postgres_url() -> Iterator[str]:
    """Like tests/conftest.py's `postgres_url`, but one fresh schema for a whole module, so a
    module can share one live server (a cold start costs seconds)."""
    import psycopg
    from psycopg import sql

    base = os.environ.get("TAMAQ_TEST_DATABASE_URL", "").strip()
    required = os.environ.get("TAMAQ_REQUIRE_POSTGRES", "") == "1"
    if not base:
        if required:
            pytest.fail("TAMAQ_REQUIRE_POSTGRES=1 but TAMAQ_TEST_DATABASE_URL is unset",
                        pytrace=False)
        pytest.skip("PostgreSQL tests skipped: set "
                    "TAMAQ_TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test to run them")
    schema = f"t_{secrets.token_hex(6)}"
    parts = urlsplit(base)
    conninfo = urlunsplit(parts._replace(query=""))
    try:
        with psycopg.connect(conninfo, autocommit=True, connect_timeout=5) as db:
            db.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    except psycopg.Error as error:
        reason = f"cannot reach TAMAQ_TEST_DATABASE_URL: {' '.join(str(error).split())}"
        if required:
            pytest.fail(reason, pytrace=False)
        pytest.skip(f"PostgreSQL tests skipped: {reason}")
    yield urlunsplit(parts._replace(query=f"schema={schema}"))
    with psycopg.connect(conninfo, autocommit=True, connect_timeout=5) as db:
        db.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
