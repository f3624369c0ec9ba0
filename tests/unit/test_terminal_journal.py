"""The gateway journal: order, acknowledgement, cache, and durability across SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from datetime import datetime, timezone
from pathlib import Path

from terminals.client import EventItem, EventResult, Identifier, TerminalCache
from terminals.journal import Journal, OverlayEntry


def item(n: int) -> EventItem:
    return EventItem(event_id=f"e-{n}", kind="meal", at=datetime(2026, 3, 2, 6, 0, n % 60, tzinfo=timezone.utc),
                     identifier=Identifier("card", f"{n:06d}"))


def test_pending_comes_back_in_order_and_acked_ones_leave(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.db")
    for n in range(10):
        journal.append(item(n))
    assert [i.event_id for i in journal.pending()] == [f"e-{n}" for n in range(10)]
    journal.mark_acked([EventResult("e-0", "recorded"), EventResult("e-3", "duplicate", flagged=True), "e-5"])
    assert [i.event_id for i in journal.pending(limit=3)] == ["e-1", "e-2", "e-4"]
    assert journal.pending_count() == 7
    assert journal.statuses()["e-3"] == "duplicate"


def test_a_pending_item_comes_back_equal_to_what_was_written(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.db")
    journal.append(item(1))
    assert journal.pending() == [item(1)]


def test_the_cache_is_kept_and_older_overlay_entries_are_dropped_with_a_new_one(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.db")
    journal.add_overlay(OverlayEntry(at=100.0, date="2026-03-02", key="child:a", served=True))
    journal.append(item(1), OverlayEntry(at=300.0, date="2026-03-02", key="child:b", served=False, balance_delta_kzt=-50))
    cache = TerminalCache("t-1", "s-1", "canteen", "2026-03-02", datetime.now(timezone.utc), True)
    journal.save_cache(cache, fetched_at=200.0)
    reopened = Journal(tmp_path / "j.db")
    assert reopened.load_cache() == (cache, 200.0)
    assert [e.key for e in reopened.overlay()] == ["child:b"]


WRITER = textwrap.dedent("""
    import sys
    from datetime import datetime, timezone
    from terminals.client import EventItem, Identifier
    from terminals.journal import Journal
    journal = Journal(sys.argv[1])
    for n in range(100000):
        journal.append(EventItem(event_id=f"e-{n}", kind="meal", at=datetime.now(timezone.utc),
                                 identifier=Identifier("card", str(n))))
        print(n, flush=True)
""")


def test_every_append_that_returned_survives_sigkill(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True,
                            cwd=Path(__file__).resolve().parents[2])
    assert proc.stdout is not None
    last = -1
    for line in proc.stdout:
        last = int(line)
        if last >= 200:
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    ids = [i.event_id for i in Journal(path).pending()]
    assert len(ids) >= last + 1
    assert ids == [f"e-{n}" for n in range(len(ids))]
