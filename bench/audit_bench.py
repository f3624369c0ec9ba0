"""Full replay with hash-chain verification, against the raw SELECT + decode baseline; and
the resident memory of a replay (pages are streamed, so it stays flat as the log grows).

The verification cases read a log made by `_generate`: real events (written once through
the ledger, then cloned under fresh aggregate ids, encoded by the ledger's mapper and
chained with `extend_chain`, exactly as the recorder chains a save) copied in with COPY,
because writing millions of events through the ledger would take hours.
`TAMAQ_BENCH_EVENTS=10000000` makes the full memory case replay ten million events.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

from bench.context import Context
from bench.harness import Case

ORDER = 80
EVENTS_ENV = "TAMAQ_BENCH_EVENTS"
EVENTS_MAX = 20_000_000
RSS_EVENTS_FULL = 1_000_000  # about a minute to generate and replay
GENERATE_BATCH = 50_000
CHILD_TIMEOUT_S = 3_000


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


def _clones(templates: list[Any], count: int, seed: int) -> Iterator[Any]:
    """`count` domain events cycling through `templates`, each under a fresh aggregate id."""
    import msgspec

    base = uuid.UUID(int=seed << 64).int
    for i in range(count):
        template = templates[i % len(templates)]
        yield msgspec.structs.replace(template, originator_id=uuid.UUID(int=base + i))


def _generate(ctx: Context, url: str, events_target: int) -> int:
    """A log of about `events_target` events (see the module doc); returns its last position."""
    from ledger.audit import SEAL_TOPIC
    from ledger.persistence.chain import chain_head, extend_chain
    from ledger.store import close_ledger, open_ledger

    _write(url, 2_000)
    ledger = open_ledger(url)
    try:
        recorder: Any = ledger.recorder
        mapper = ledger.mapper
        position, head = chain_head(recorder)
        templates = [mapper.to_domain_event(n) for n in recorder.select_notifications(1, position)
                     if n.topic != SEAL_TOPIC]  # a cloned seal would be checked as a seal
        events_table, chain_table = recorder.events_table_name, recorder.chain_table_name
    finally:
        close_ledger(ledger)
    conn = ctx.pg_connect()
    remaining = events_target - position
    while remaining > 0:
        size = min(remaining, GENERATE_BATCH)
        stored = [mapper.to_stored_event(e) for e in _clones(templates, size, position)]
        links = extend_chain(head, stored)
        ids = range(position + 1, position + 1 + size)
        with conn.transaction(), conn.cursor() as cur:
            with cur.copy(f"COPY {events_table} (notification_id, originator_id, originator_version,"
                          " topic, state) FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(["int8", "uuid", "int8", "text", "bytea"])
                for nid, s in zip(ids, stored, strict=True):
                    copy.write_row((nid, s.originator_id, s.originator_version, s.topic, s.state))
            with cur.copy(f"COPY {chain_table} (notification_id, link) FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(["int8", "bytea"])
                for row in zip(ids, links, strict=True):
                    copy.write_row(row)
        position, head, remaining = position + size, links[-1], remaining - size
        ctx.status(f"generated {position:,} of {events_target:,} events")
    conn.execute(f"SELECT setval(pg_get_serial_sequence('{events_table}', 'notification_id'), %s)",
                 (position,))
    conn.commit()
    return position


def _verify(backend: str):  # type: ignore[no-untyped-def]
    def case(ctx: Context) -> float:
        from ledger.audit import verify
        from ledger.store import close_ledger, open_ledger

        url = ctx.database_url(backend)
        ctx.status("writing events")
        size = ctx.pick(full=100_000, quick=10_000)
        head = _generate(ctx, url, size) if backend == "postgres" else _write(url, size)
        ledger = open_ledger(url)
        ctx.on_cleanup(lambda: close_ledger(ledger))
        ctx.status("replaying and verifying")
        started = time.perf_counter()
        result = verify(ledger)  # one pass: every link recomputed, every event decoded
        elapsed = time.perf_counter() - started
        assert result.ok and result.position == head, result.summary()
        return head / elapsed
    return case


def _rss_events(ctx: Context) -> int:
    asked = os.environ.get(EVENTS_ENV)
    if ctx.quick or not asked:
        return ctx.pick(full=RSS_EVENTS_FULL, quick=100_000)
    if not asked.isdigit() or not 0 < int(asked) <= EVENTS_MAX:
        raise ValueError(f"{EVENTS_ENV}={asked!r}: give a count of events, 1..{EVENTS_MAX}")
    return int(asked)


def _replay_verify_rss(ctx: Context) -> float:
    """Peak resident memory (MB) of a child process that verifies the chain and replays
    (decodes and hands on) every event of a log of `_rss_events` events."""
    url = ctx.database_url("postgres")
    head = _generate(ctx, url, _rss_events(ctx))
    ctx.status(f"replaying {head:,} events in a child process")
    done = subprocess.run([sys.executable, "-m", "bench.audit_bench", url], check=True,
                          capture_output=True, text=True, timeout=CHILD_TIMEOUT_S)
    report = json.loads(done.stdout)
    assert report["ok"] and report["events"] == head, report
    print(f"  replay+verify of {head:,} events in {report['seconds']:.0f} s "
          f"({head / report['seconds']:,.0f} events/s), peak RSS {report['vm_hwm_kb'] / 1024:.0f} MB",
          file=sys.stderr)
    return float(report["vm_hwm_kb"]) / 1024


def _peak_rss_kb() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")


def _child(url: str) -> None:
    """Replay + verify the log at `url` as `tamaq verify` does; print what it took."""
    from ledger.audit import replay
    from ledger.store import close_ledger, open_ledger

    replayed = 0

    def handle(events: list[tuple[int, Any]]) -> None:
        nonlocal replayed
        replayed += len(events)

    ledger = open_ledger(url)
    started = time.perf_counter()
    result = replay(ledger, handle)
    seconds = time.perf_counter() - started
    close_ledger(ledger)
    print(json.dumps({"ok": result.ok, "events": replayed, "seconds": seconds,
                      "vm_hwm_kb": _peak_rss_kb()}))


def _replay_rss(ctx: Context) -> float:
    """Peak resident memory (MB) of this process after replaying the log through every read
    model into a scratch store."""
    import resource

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
         _verify("postgres"), "pg.raw.select_decode", ">= 0.5 x raw SELECT + decode", "postgres",
         paired=True),
    Case("sqlite.audit.replay_verify", "Audit: replay with hash-chain verification", "events/s",
         _verify("sqlite"), "sqlite.raw.select_decode", None, "sqlite"),
    Case("pg.audit.replay_verify_rss_mb", "Audit: replay with hash-chain verification", "MB",
         _replay_verify_rss, None, "< 500 MB at 10 million events (bounded by page size)",
         "postgres", timeout_s=3_600),
    Case("pg.audit.replay_rss_mb", "Audit: replay of every read model (scratch store)", "MB",
         _replay_rss, None, None, "postgres"),
]

if __name__ == "__main__":
    _child(sys.argv[1])
