"""Backups taken while terminals write: a pg_dump of the store's PostgreSQL schema restored
into a new database, and a SQLite online backup (Python's `Connection.backup` and the
`sqlite3` shell's `.backup`). Each copy holds exactly the log's first N events, byte for
byte; its read models rebuilt from those events give the same reports (savings, tenant
statement) as the live store replayed to N; and the hash chain verifies where there is one.
"""

from __future__ import annotations

import os
import secrets
import shutil
import sqlite3
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from api_fixtures import MONTH, api_app, meal, seed_school, weekdays
from ledger.scans import TerminalItem
from ledger.settings import StoreConfig, parse_database_url
from ledger.sqldb import SideDatabase
from ledger.store import close_ledger, open_ledger
from live_server import replay_differences, table_rows, read_model_tables, verify_chain_if_available
from litestar.testing import TestClient
from projections import all_projections, build_runner
from projections.reports import school_savings, tenant_statement
from projections.runner import Runner

WRITERS = 3
BATCHES_PER_WRITER_MAX = 2_000  # writers go on until the backup is taken
BATCH_ITEMS = 5
CHILDREN = [(f"c{n}", 1 + n % 4, None) for n in range(12)] + [
    (f"s{n}", 9, "low_income") for n in range(4)]
_items = msgspec.json.Decoder(list[TerminalItem])


class Writers:
    """Terminal threads recording scans straight into the ledger until stopped."""

    def __init__(self, ledger: Any, terminal_id: str) -> None:
        self.ledger, self.terminal_id = ledger, terminal_id
        self.recorded = 0
        self.errors: list[BaseException] = []
        self.started = threading.Event()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(w,)) for w in range(WRITERS)]

    def __enter__(self) -> Writers:
        for thread in self._threads:
            thread.start()
        assert self.started.wait(timeout=30), "no writer got going"
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)
        if self.errors:
            raise self.errors[0]

    def _run(self, writer: int) -> None:
        days = weekdays(MONTH)
        try:
            for b in range(BATCHES_PER_WRITER_MAX):
                if self._stop.is_set():
                    return
                batch = [meal(f"w{writer}-{b}-{i}", card=f"card-{CHILDREN[(b + i) % 16][0]}",
                              day=days[(b * 7 + writer) % len(days)], hour=12, minute=i)
                         for i in range(BATCH_ITEMS)]
                self.ledger.record_terminal_events(self.terminal_id,
                                                   _items.decode(msgspec.json.encode(batch)))
                self.recorded += BATCH_ITEMS
                self.started.set()
        except BaseException as error:  # handed to the test thread
            self.errors.append(error)


def notifications(ledger: Any, upto: int) -> list[tuple[int, str, str, int, bytes]]:
    rows, start = [], 1
    while start <= upto:
        page = ledger.recorder.select_notifications(start=start, limit=5_000, stop=upto)
        if not page:
            break
        rows += [(n.id, str(n.originator_id), n.topic, n.originator_version, bytes(n.state))
                 for n in page]
        start = page[-1].id + 1
    return rows


def reports_of(db: SideDatabase, school_id: str) -> tuple[Any, Any]:
    with db.read() as cur:
        return school_savings(cur, school_id, MONTH), tenant_statement(cur, school_id, MONTH)


def assert_copy_matches_live(live: Any, copy: Any, school_id: str) -> int:
    """The copy holds the live log's first N events exactly; its rebuilt read models equal
    the live log replayed to N; returns N."""
    head = int(copy.recorder.max_notification_id() or 0)
    assert head > 0
    assert notifications(copy, head) == notifications(live, head)
    assert replay_differences(copy) == [], "the copy's own read models were consistent"
    build_runner(copy).rebuild()
    replay = SideDatabase("sqlite", sqlite_path=":memory:")
    try:
        Runner(live, replay, all_projections(live), until=head).catch_up()
        for table in read_model_tables():
            assert table_rows(copy.side_db, table) == table_rows(replay, table), table
        savings, statement = reports_of(copy.side_db, school_id)
        assert (savings, statement) == reports_of(replay, school_id)
        assert statement.meals_kzt > 0 and savings.actual_kzt > 0
    finally:
        replay.close()
    head_copy = verify_chain_if_available(copy)
    if head_copy is not None:
        from ledger.persistence.chain import verify_chain

        assert verify_chain(live.recorder, sealed=[(head, head_copy)]).ok
    return head


# ------------------------------------------------------------------ PostgreSQL


def pg_env(store: StoreConfig) -> dict[str, str]:
    env = dict(os.environ, PGHOST=str(store.pg_host), PGPORT=str(store.pg_port),
               PGUSER=str(store.pg_user), PGCONNECT_TIMEOUT="5")
    if store.pg_password:
        env["PGPASSWORD"] = store.pg_password
    return env


def run(args: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{' '.join(args)}: {done.stderr}"


@pytest.fixture
def restore_database(postgres_url: str) -> Iterator[str]:
    """The name of a database that does not exist yet, dropped after the test."""
    for tool in ("pg_dump", "pg_restore", "createdb", "dropdb"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is not installed (apt-get install postgresql-client)")
    name = f"tamaq_restore_{secrets.token_hex(4)}"
    yield name
    run(["dropdb", "--if-exists", name], pg_env(parse_database_url(postgres_url)))


def test_a_pg_dump_taken_while_terminals_write_restores_to_the_same_events_and_reports(
        postgres_url: str, restore_database: str, tmp_path: Path) -> None:
    store = parse_database_url(postgres_url)
    env, dump = pg_env(store), tmp_path / "tamaq.dump"
    with api_app(postgres_url) as app, TestClient(app) as client:
        seeded = seed_school(client, children=CHILDREN, menu_days=None)
        live = app.state.services.ledger
        with Writers(live, seeded.canteen) as writers:
            run(["pg_dump", "--format=custom", f"--schema={store.pg_schema}",
                 f"--file={dump}", str(store.pg_dbname)], env)
            during = writers.recorded
        run(["createdb", restore_database], env)
        run(["pg_restore", "--exit-on-error", f"--dbname={restore_database}", str(dump)], env)
        restored = open_ledger(postgres_url.replace(f"/{store.pg_dbname}?",
                                                    f"/{restore_database}?"))
        try:
            head = assert_copy_matches_live(live, restored, seeded.school_id)
        finally:
            close_ledger(restored)
        assert 0 < head < int(live.recorder.max_notification_id()), "dumped mid-write"
        print(f"\npg_dump mid-write: {head} events in the dump, {during} scans recorded when it"
              f" ended, {writers.recorded} in all")


# ------------------------------------------------------------------ SQLite


def test_a_sqlite_online_backup_taken_while_terminals_write_is_a_consistent_copy(
        tmp_path: Path) -> None:
    path = tmp_path / "tamaq.sqlite3"
    copies = [tmp_path / "python-backup.sqlite3", tmp_path / "shell-backup.sqlite3"]
    with api_app(f"sqlite:///{path}") as app, TestClient(app) as client:
        seeded = seed_school(client, children=CHILDREN, menu_days=None)
        live = app.state.services.ledger
        with Writers(live, seeded.canteen):
            source = sqlite3.connect(path)
            try:
                with sqlite3.connect(copies[0]) as target:
                    source.backup(target)  # one step: one consistent read snapshot
                target.close()
            finally:
                source.close()
            if shutil.which("sqlite3") is not None:
                run(["sqlite3", str(path), f".backup '{copies[1]}'"], dict(os.environ))
        heads = []
        for copy_path in copies:
            if not copy_path.exists():
                continue
            copy = open_ledger(f"sqlite:///{copy_path}")
            try:
                heads.append(assert_copy_matches_live(live, copy, seeded.school_id))
            finally:
                close_ledger(copy)
        assert heads and max(heads) < int(live.recorder.max_notification_id()), "mid-write"
