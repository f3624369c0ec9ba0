"""The `tamaq` command, run as a user would: a separate process."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from api.cli import build_parser
from api.tokens import verify_token

SECRET = "cli-test-secret-0123456789abcdef"
PASSWORD = "Pg-pa55word"
HEALTH_WAIT_S = 30


def tamaq(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "api.cli", *args],
        env=env, cwd=cwd, capture_output=True, text=True, timeout=60, check=False,
    )


def clean_env(**settings: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("TAMAQ_")}
    return {**env, **settings}


def command_paths(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield prefix
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from command_paths(child, (*prefix, name))


@pytest.mark.parametrize("path", list(command_paths(build_parser())), ids=lambda p: " ".join(p) or "tamaq")
def test_every_command_has_help(path: tuple[str, ...]) -> None:
    result = tamaq(*path, "--help", env=clean_env())
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: tamaq {' '.join(path)}".rstrip())


def test_token_issue_prints_only_a_token_that_verifies(tmp_path: Path) -> None:
    env = clean_env(TAMAQ_DATABASE_URL=f"sqlite:///{tmp_path / 'x.sqlite3'}", TAMAQ_TOKEN_SECRET=SECRET)
    result = tamaq("token", "issue", "--role", "accountant", "--school", "sch-7", "--ttl", "12h", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("\n") == 1
    claims = verify_token(SECRET, result.stdout.strip())
    assert (claims.role, claims.school_id) == ("accountant", "sch-7")
    assert claims.expires_at - claims.issued_at == 12 * 3600


def test_token_issue_without_a_secret_uses_the_stored_one(tmp_path: Path) -> None:
    env = clean_env(TAMAQ_DATABASE_URL=f"sqlite:///{tmp_path / 'x.sqlite3'}")
    result = tamaq("token", "issue", "--role", "admin", env=env)
    stored = (tmp_path / "token-secret").read_text().strip()
    assert verify_token(stored, result.stdout.strip()).role == "admin"


def assert_one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("tamaq: error: ")
    assert "Traceback" not in result.stderr and PASSWORD not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_token_issue_for_a_role_missing_its_scope_fails_in_one_line() -> None:
    result = tamaq("token", "issue", "--role", "parent", env=clean_env(TAMAQ_DATABASE_URL="memory://"))
    assert_one_line_error(result, "parent", "--child")


@pytest.mark.parametrize("args", [("token", "issue"), ("token", "issue", "--role", "king"), ("serve", "--port", "0"), ()])
def test_usage_errors_are_one_line(args: tuple[str, ...]) -> None:
    assert_one_line_error(tamaq(*args, env=clean_env(TAMAQ_DATABASE_URL="memory://")))


@pytest.mark.parametrize("command", [("serve",), ("token", "issue", "--role", "admin")])
def test_a_bad_database_url_fails_in_one_line(command: tuple[str, ...]) -> None:
    env = clean_env(TAMAQ_DATABASE_URL=f"mongodb://u:{PASSWORD}@h/db")
    assert_one_line_error(tamaq(*command, env=env), "TAMAQ_DATABASE_URL")


def test_an_unreachable_postgres_fails_in_one_line() -> None:
    env = clean_env(TAMAQ_DATABASE_URL=f"postgresql://postgres:{PASSWORD}@127.0.0.1:1/test", TAMAQ_TOKEN_SECRET=SECRET)
    assert_one_line_error(tamaq("serve", env=env), "TAMAQ_DATABASE_URL: cannot connect to postgresql://postgres@127.0.0.1:1/test")


def free_port() -> int:
    from live_server import free_port as worker_port  # per-xdist-worker port ranges

    return worker_port()


def wait_for_health(url: str, server: subprocess.Popen[str]) -> httpx.Response:
    deadline = time.monotonic() + HEALTH_WAIT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"server exited early with {server.returncode}")
        try:
            return httpx.get(url, timeout=1)
        except httpx.TransportError:
            time.sleep(0.2)
    pytest.fail(f"no answer from {url} within {HEALTH_WAIT_S} s")


def serve_and_get_health(tmp_path: Path, database_url: str) -> tuple[httpx.Response, str]:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "serve", "--port", str(port), "--announce"],
        env=clean_env(TAMAQ_DATABASE_URL=database_url), cwd=tmp_path,
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        response = wait_for_health(f"http://127.0.0.1:{port}/health", server)
    finally:
        server.terminate()
        stdout, _ = server.communicate(timeout=15)
    return response, stdout


def test_serve_on_sqlite_answers_health_and_announces_url_and_admin_token(tmp_path: Path) -> None:
    response, stdout = serve_and_get_health(tmp_path, "sqlite:///./var/tamaq.sqlite3")
    assert response.status_code == 200
    assert {k: response.json()[k] for k in ("status", "storage")} == {"status": "ok", "storage": "sqlite"}
    lines = stdout.splitlines()
    assert lines[0].startswith("Tamaq Ledger: http://127.0.0.1:") and "(storage: sqlite ./var/tamaq.sqlite3)" in lines[0]
    token = lines[1].removeprefix("admin token: ")
    assert verify_token((tmp_path / "var" / "token-secret").read_text().strip(), token).role == "admin"


def test_serve_on_postgres_answers_health(tmp_path: Path, postgres_url: str) -> None:
    response, _ = serve_and_get_health(tmp_path, postgres_url)
    assert response.status_code == 200
    assert {k: response.json()[k] for k in ("status", "storage")} == {"status": "ok", "storage": "postgres"}
