"""An auditor reproduces a report byte for byte from the position it names, after the
ledger has moved on."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from ledger_fixtures import SCHOOL_DAY, at, canteen, enrol, make_school, scan

from ledger.store import close_ledger, open_ledger


def _tamaq(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "api.cli", *args], env=env, text=True,
                          capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_statement_rebuilt_at_its_position_is_byte_identical(sqlite_url: str, tmp_path: Path) -> None:
    import os

    ledger = open_ledger(sqlite_url)
    make_school(ledger)
    for i in range(3):
        enrol(ledger, f"c{i}", card=f"k{i}")
        scan(ledger, canteen(), f"m{i}", card=f"k{i}", at=at(SCHOOL_DAY))
    close_ledger(ledger)
    env = dict(os.environ, TAMAQ_DATABASE_URL=sqlite_url, TAMAQ_TOKEN_SECRET="r" * 32)
    first = tmp_path / "then.xlsx"
    line = _tamaq(env, "export", "tenant-statement", "--school", "s1", "--month", "2025-10",
                  "--out", str(first))
    position = int(line.split("position ")[1].split()[0])
    ledger = open_ledger(sqlite_url)  # the ledger moves on: a late meal changes the statement
    enrol(ledger, "late", card="k-late")
    scan(ledger, canteen(), "m-late", card="k-late", at=at(SCHOOL_DAY))
    close_ledger(ledger)
    now = tmp_path / "now.xlsx"
    _tamaq(env, "export", "tenant-statement", "--school", "s1", "--month", "2025-10",
           "--out", str(now))
    again = tmp_path / "again.xlsx"
    _tamaq(env, "export", "tenant-statement", "--school", "s1", "--month", "2025-10",
           "--position", str(position), "--out", str(again))
    assert now.read_bytes() != first.read_bytes()
    assert again.read_bytes() == first.read_bytes()
