"""The house style asks for mypy-clean ledger/, projections/ and terminals/: keep it so."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_mypy_finds_no_type_errors_in_the_core_packages() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "ledger", "projections", "terminals",
         "--ignore-missing-imports", "--no-error-summary", "--cache-dir", "/tmp/tamaq-mypy"],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-1000:]
