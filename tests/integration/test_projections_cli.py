"""`tamaq projections rebuild|status` against a SQLite store."""

from __future__ import annotations

import argparse

import pytest
from projection_fixtures import dump_tables, head, make_runner, small_history

from api.cli import CliError, OneLineParser
from ledger.store import close_ledger, open_ledger
from projections.cli import register


def run(*argv: str) -> int:
    parser = OneLineParser(prog="tamaq")
    register(parser.add_subparsers(dest="command", required=True))
    args: argparse.Namespace = parser.parse_args(list(argv))
    return int(args.handler(args))


@pytest.fixture
def store(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("TAMAQ_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("TAMAQ_TOKEN_SECRET", "x" * 64)
    ledger = open_ledger(sqlite_url)
    try:
        small_history(ledger)
        make_runner(ledger).catch_up()
    finally:
        close_ledger(ledger)
    return sqlite_url


def test_rebuild_replays_every_event_and_leaves_the_tables_as_they_were(
        store: str, capsys: pytest.CaptureFixture[str]) -> None:
    ledger = open_ledger(store)
    try:
        before, events = dump_tables(ledger.side_db), head(ledger)
    finally:
        close_ledger(ledger)
    assert run("projections", "rebuild") == 0
    assert f"{events} events replayed" in capsys.readouterr().out
    ledger = open_ledger(store)
    try:
        assert dump_tables(ledger.side_db) == before
    finally:
        close_ledger(ledger)


def test_rebuild_of_named_read_models_and_status(store: str,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert run("projections", "rebuild", "meals", "lists") == 0
    assert "rebuilt lists, meals" in capsys.readouterr().out
    assert run("projections", "status") == 0
    rows = {line.split()[0]: line.split()[1:] for line in capsys.readouterr().out.splitlines()[1:]}
    for name in ("attendance", "balances", "directory", "lists", "meals", "months"):
        assert rows[name] == [rows["log"][-1], "0"]


def test_an_unknown_read_model_is_a_one_line_error(store: str) -> None:
    with pytest.raises(CliError, match="unknown read model nope; choose from directory"):
        run("projections", "rebuild", "nope")


def test_a_memory_store_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAMAQ_DATABASE_URL", "memory://")
    with pytest.raises(CliError, match="keeps nothing between runs"):
        run("projections", "status")
