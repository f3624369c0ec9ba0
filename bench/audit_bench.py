"""Full replay with hash-chain verification, against the raw SELECT + decode baseline; and
the resident memory of a replay (pages are streamed, so it stays flat as the log grows)."""

from __future__ import annotations

import resource
import time
from datetime import UTC, date, datetime

from bench.context import Context
from bench.harness import Case

ORDER = 80


def _write(url: str, events_target: int) -> int:
    from ledger.child import Consent
    from ledger.scans import IdentifierRef, TerminalItem
    from ledger.school import MenuItem
    from ledger.store import close_ledger, open_ledger

    ledger = open_ledger(url)
    ledger.register_region("r1", "R")
    ledger.register_school("s1", name="S", region_id="r1", district="d")
    ledger.register_terminal("t1", "s1", "canteen")
    day = date(2025, 10, 1)
    ledger.set_calendar("s1", "2025-10", [day])
    ledger.set_menu("s1", day, [MenuItem("l", "Lunch", 700, (), True)])
    children = 500
    with ledger.batch():
        for i in range(children):
            ledger.enrol_child("s1", f"c{i}", first_name="A", last_name="B", iin=None, grade=2,
                               class_name="2A", shift=1,
                               consent=Consent("g", "d", date(2025, 9, 1)))
            ledger.add_identifier("card", f"k{i}", child_id=f"c{i}")
    at = datetime(2025, 10, 1, 6, tzinfo=UTC)
    n = 0
    while (ledger.recorder.max_notification_id() or 0) < events_target:
        ledger.record_scans([("t1", TerminalItem(event_id=f"e{n + j}", kind="meal", at=at,
                                                 identifier=IdentifierRef("card", f"k{j % children}")))
                             for j in range(2_000)])
        n += 2_000
    head = int(ledger.recorder.max_notification_id() or 0)
    close_ledger(ledger)
    return head


def _verify(backend: str):  # type: ignore[no-untyped-def]
    def case(ctx: Context) -> float:
        from ledger.audit import verify
        from ledger.mapper import decode_stored
        from ledger.store import close_ledger, open_ledger

        url = ctx.database_url(backend)
        ctx.status("writing events")
        head = _write(url, ctx.pick(full=100_000, quick=10_000))
        ledger = open_ledger(url)
        ctx.on_cleanup(lambda: close_ledger(ledger))
        ctx.status("replaying and verifying")
        started = time.perf_counter()
        result = verify(ledger)
        start = 1
        while True:  # the replay: decode every event with its class
            notes = ledger.recorder.select_notifications(start=start, limit=10_000)
            if not notes:
                break
            for note in notes:
                decode_stored(note.topic, note.state)
            start = notes[-1].id + 1
        elapsed = time.perf_counter() - started
        assert result.ok and result.position == head
        return head / elapsed
    return case


def _replay_rss(ctx: Context) -> float:
    """Peak resident memory (MB) of this process after replaying the log through every read
    model into a scratch store: bounded by the page size, not the log length."""
    from ledger.store import close_ledger, open_ledger
    from projections.pointintime import Scratch

    url = ctx.database_url("postgres")
    head = _write(url, ctx.pick(full=100_000, quick=10_000))
    ledger = open_ledger(url)
    ctx.on_cleanup(lambda: close_ledger(ledger))
    Scratch(ledger, names=None).at(head)
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


CASES = [
    Case("pg.audit.replay_verify", "Audit: replay with hash-chain verification", "events/s",
         _verify("postgres"), "pg.raw.select_decode", ">= 0.5 x raw SELECT + decode", "postgres"),
    Case("sqlite.audit.replay_verify", "Audit: replay with hash-chain verification", "events/s",
         _verify("sqlite"), "sqlite.raw.select_decode", None, "sqlite"),
    Case("pg.audit.replay_rss_mb", "Audit: replay with hash-chain verification", "MB",
         _replay_rss, None, "< 500 MB at 10 million events (bounded by page size)", "postgres"),
]
