"""Ledger benchmarks: meal commands per second (1 and 8 threads, SQLite and PostgreSQL) and
the cost of one meal for a child with a school year of history (~600 events) vs a new child.

Each `*(ctx)` function takes a bench `Context` and returns one float, as the harness wants
(see bench/README.md); wiring them into `CASES` is the lead's. `python -m bench.ledger_bench`
runs them all once and prints the figures.

Why the cost stays flat: a child's meals do not pile up on one aggregate. Each meal is its
own TerminalEvent aggregate, the day's free meal sits on a per-day ChildDay aggregate, and
only the Wallet grows with paid meals, which is snapshotted every 100 events; so serving a
meal reads a handful of short streams whatever the child's history.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import date

from ledger.ledger import Ledger
from ledger.scans import TerminalItem
from ledger.store import close_ledger, open_ledger
from tests.ledger_fixtures import at, canteen, enrol, make_school, meal_item

THREADS = 8
YEAR_MONTHS = ("2025-09", "2025-10", "2025-11", "2025-12", "2026-01", "2026-02", "2026-03",
               "2026-04", "2026-05")
HISTORY_DAYS = 190  # x (TerminalEvent + ChildDay + Wallet.Charged) ~ 600 events a child
TOP_UP_KZT = 100_000


def _school_year_ledger(url: str) -> tuple[Ledger, list[date]]:
    """School s1 with a calendar and menus for the whole school year 2025-2026."""
    ledger = open_ledger(url)
    days: list[date] = []
    for month in YEAR_MONTHS:
        days += make_school(ledger, month=month)
    return ledger, days


def _enrol_many(ledger: Ledger, prefix: str, count: int) -> list[str]:
    """Entitled primary children with a card and money for extras."""
    ids = [f"{prefix}{i:05d}" for i in range(count)]
    for child_id in ids:
        enrol(ledger, child_id, card=f"card-{child_id}")
        ledger.top_up(child_id, f"pay-{child_id}", TOP_UP_KZT, at(date(2025, 9, 1), 7))
    return ids


def _meal(child_id: str, event_id: str, day: date) -> TerminalItem:
    """The free meal and a juice: funded part on ChildDay, paid part on the Wallet."""
    return meal_item(event_id, card=f"card-{child_id}", at=at(day, 12),
                     item_ids=("lunch", "juice"))


# -- throughput ---------------------------------------------------------------------------


def meal_commands_per_s(url: str, threads: int, commands: int,
                        status: Callable[[str], None] = lambda _: None) -> float:
    """Online meal commands (one item per call, one save each) per second, from `threads`
    threads sharing one Ledger, each thread serving its own children."""
    ledger, days = _school_year_ledger(url)
    try:
        children_per_thread = max(1, commands // (threads * len(days)) + 1)
        status(f"enrolling {threads * children_per_thread} children")
        groups = [_enrol_many(ledger, f"t{t}c", children_per_thread) for t in range(threads)]
        per_thread = commands // threads
        plans = [[(child, days[i // len(group)]) for i, child in
                  zip(range(per_thread), _cycle(group))] for group in groups]
        status(f"{per_thread * threads:,} meal commands, {threads} thread(s)")

        def serve(t: int) -> None:
            for n, (child_id, day) in enumerate(plans[t]):
                [outcome] = ledger.record_terminal_events(
                    canteen(), [_meal(child_id, f"t{t}-{n}", day)])
                if outcome.status != "recorded":
                    raise RuntimeError(f"meal refused: {outcome}")

        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=threads) as pool:
            list(pool.map(serve, range(threads)))
        return per_thread * threads / (time.perf_counter() - started)
    finally:
        close_ledger(ledger)


def _cycle(group: Sequence[str]):  # type: ignore[no-untyped-def]
    while True:
        yield from group


# -- cost against history -----------------------------------------------------------------


def meal_ms(url: str, children: int, history_days: int,
            status: Callable[[str], None] = lambda _: None) -> float:
    """Median ms of one online meal command, read cold (a freshly opened Ledger, empty
    cache), for children with `history_days` days of meals behind them (0 = new child)."""
    ledger, days = _school_year_ledger(url)
    try:
        ids = _enrol_many(ledger, "h", children)
        if history_days:
            status(f"{children} children x {history_days} days of history")
            history = [(canteen(), _meal(c, f"hist-{c}-{d}", days[d]))
                       for d in range(history_days) for c in ids]
            for start in range(0, len(history), 2_000):
                ledger.record_scans(history[start:start + 2_000])
    finally:
        close_ledger(ledger)
    measure_day = days[history_days] if history_days < len(days) else days[-1]
    fresh = open_ledger(url)
    try:
        fresh.record_terminal_events(canteen(), [_meal(ids[0], "warm-up", measure_day)])
        timings = []
        for child_id in ids[1:]:
            started = time.perf_counter()
            fresh.record_terminal_events(canteen(), [_meal(child_id, f"m-{child_id}",
                                                           measure_day)])
            timings.append((time.perf_counter() - started) * 1_000)
        return statistics.median(timings)
    finally:
        close_ledger(fresh)


def history_events_per_child(url: str, history_days: int = HISTORY_DAYS) -> int:
    """How many events one child's history writes (to check the ~600 claim)."""
    ledger, days = _school_year_ledger(url)
    try:
        _enrol_many(ledger, "x", 1)
        before = int(ledger.recorder.max_notification_id() or 0)
        ledger.record_scans([(canteen(), _meal("x00000", f"e{d}", days[d]))
                             for d in range(history_days)])
        return int(ledger.recorder.max_notification_id() or 0) - before
    finally:
        close_ledger(ledger)


# -- harness entry points: (ctx) -> float -------------------------------------------------


def _rate_case(backend: str, threads: int):  # type: ignore[no-untyped-def]
    def case(ctx) -> float:  # type: ignore[no-untyped-def]
        commands = ctx.pick(full=4_000, quick=400)
        return meal_commands_per_s(ctx.database_url(backend), threads, commands, ctx.status)
    case.__name__ = f"{backend}_meal_commands_{threads}_threads"
    return case


def _cost_case(backend: str, history_days: int):  # type: ignore[no-untyped-def]
    def case(ctx) -> float:  # type: ignore[no-untyped-def]
        children = ctx.pick(full=60, quick=15)
        return meal_ms(ctx.database_url(backend), children, history_days, ctx.status)
    case.__name__ = f"{backend}_meal_ms_{'history' if history_days else 'new_child'}"
    return case


STORE_SAVE_EVENTS = 1_000  # an offline sync's chunk: 500 meals of two events each


def pg_store_1000_per_save(ctx) -> float:  # type: ignore[no-untyped-def]
    """The ledger's store alone: the shared event rows saved by its chained recorder (the
    table lock, notification ids, the hash chain, one commit a save), 1,000 events a save as
    an offline sync's chunks are, with no rules, aggregates, HTTP or read models. What the
    store's own SQL leaves an offline sync at most (docs/PERFORMANCE.md, session 8)."""
    from eventsourcing.persistence import StoredEvent

    ledger = open_ledger(ctx.database_url("postgres"))
    try:
        events = [StoredEvent(*row) for row in ctx.rows]
        insert = ledger.recorder.insert_events
        ctx.status(f"{len(events):,} events, {STORE_SAVE_EVENTS:,} a save")
        started = time.perf_counter()
        for start in range(0, len(events), STORE_SAVE_EVENTS):
            insert(events[start:start + STORE_SAVE_EVENTS])
        elapsed = time.perf_counter() - started
        if ledger.recorder.max_notification_id() != len(events):
            raise RuntimeError("the store did not end with one notification per event saved")
        return len(events) / elapsed
    finally:
        close_ledger(ledger)


def pg_store_1000_per_copy(ctx) -> float:  # type: ignore[no-untyped-def]
    """`pg_store_1000_per_save` with each save's rows sent by COPY BINARY instead of the
    recorder's INSERT ... unnest: the table lock, the ids reserved from the events table's
    sequence with the chain head read in the same statement, the events and their links
    COPYed, one commit a save. Not the product's path: the floor a COPY-based store would
    give an offline sync (docs/PERFORMANCE.md, session 13). The chain is verified after."""
    from eventsourcing.persistence import StoredEvent
    from psycopg.rows import tuple_row
    from psycopg.sql import SQL, Identifier, Literal

    from ledger.persistence.links import GENESIS, link_rows
    from ledger.persistence.verify import verify_chain

    ledger = open_ledger(ctx.database_url("postgres"))
    try:
        recorder = ledger.recorder
        schema = recorder.datastore.schema
        events_table = Identifier(schema, recorder.events_table_name)
        chain_table = Identifier(schema, recorder.chain_table_name)
        lock = SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(events_table)
        sequence = SQL("pg_get_serial_sequence({}, 'notification_id')").format(
            Literal(events_table.as_string(None)))
        reserve = SQL("SELECT setval({seq}, nextval({seq}) + %(n)s - 1), "
                      "(SELECT notification_id FROM {chain} ORDER BY notification_id DESC LIMIT 1), "
                      "(SELECT link FROM {chain} ORDER BY notification_id DESC LIMIT 1)"
                      ).format(seq=sequence, chain=chain_table)
        copy_events = SQL("COPY {} (originator_id, originator_version, topic, state, "
                          "notification_id) FROM STDIN (FORMAT BINARY)").format(events_table)
        copy_links = SQL("COPY {} (notification_id, link) FROM STDIN (FORMAT BINARY)"
                         ).format(chain_table)
        events = [StoredEvent(*row) for row in ctx.rows]
        ctx.status(f"{len(events):,} events, {STORE_SAVE_EVENTS:,} a COPY save")
        with recorder.datastore.get_connection() as conn:
            started = time.perf_counter()
            for start in range(0, len(events), STORE_SAVE_EVENTS):
                save = events[start:start + STORE_SAVE_EVENTS]
                with conn.transaction(), conn.cursor(row_factory=tuple_row) as cur:
                    cur.execute(lock)
                    row = cur.execute(reserve, {"n": len(save)}).fetchone()
                    assert row is not None
                    last, head_id, head_link = row
                    ids = list(range(last - len(save) + 1, last + 1))
                    ids, links = link_rows(head_id or 0, bytes(head_link or GENESIS), ids, save)
                    with cur.copy(copy_events) as copy:
                        copy.set_types(["uuid", "int8", "text", "bytea", "int8"])
                        for event, notification_id in zip(save, ids, strict=True):
                            copy.write_row((event.originator_id, event.originator_version,
                                            event.topic, event.state, notification_id))
                    with cur.copy(copy_links) as copy:
                        copy.set_types(["int8", "bytea"])
                        for notification_id, link in zip(ids, links, strict=True):
                            copy.write_row((notification_id, link))
            elapsed = time.perf_counter() - started
        if recorder.max_notification_id() != len(events):
            raise RuntimeError("the store did not end with one notification per event saved")
        ctx.status("verifying the chain")
        result = verify_chain(recorder)
        if not result.ok:
            raise RuntimeError(f"the COPY saves broke the chain: {result}")
        return len(events) / elapsed
    finally:
        close_ledger(ledger)


sqlite_meal_commands_1_thread = _rate_case("sqlite", 1)
sqlite_meal_commands_8_threads = _rate_case("sqlite", THREADS)
pg_meal_commands_1_thread = _rate_case("postgres", 1)
pg_meal_commands_8_threads = _rate_case("postgres", THREADS)
sqlite_meal_ms_new_child = _cost_case("sqlite", 0)
sqlite_meal_ms_600_events = _cost_case("sqlite", HISTORY_DAYS)
pg_meal_ms_new_child = _cost_case("postgres", 0)
pg_meal_ms_600_events = _cost_case("postgres", HISTORY_DAYS)

FIGURES = {
    "sqlite meal commands/s, 1 thread": sqlite_meal_commands_1_thread,
    "sqlite meal commands/s, 8 threads": sqlite_meal_commands_8_threads,
    "pg meal commands/s, 1 thread": pg_meal_commands_1_thread,
    "pg meal commands/s, 8 threads": pg_meal_commands_8_threads,
    "sqlite ms/meal, new child": sqlite_meal_ms_new_child,
    "sqlite ms/meal, ~600 events of history": sqlite_meal_ms_600_events,
    "pg ms/meal, new child": pg_meal_ms_new_child,
    "pg ms/meal, ~600 events of history": pg_meal_ms_600_events,
}


def main() -> None:
    import sys

    from bench.context import FULL, QUICK, Context

    quick = "--quick" in sys.argv
    for label, case in FIGURES.items():
        with Context(sizes=QUICK if quick else FULL, quick=quick) as ctx:
            print(f"{label:42s} {case(ctx):10.2f}", flush=True)
    with Context(sizes=QUICK, quick=True) as ctx:
        events = history_events_per_child(ctx.database_url("sqlite"))
        print(f"{'events written by one child history':42s} {events:10d}")


if __name__ == "__main__":
    main()


# -- the harness's cases (python -m bench) ------------------------------------------------
from bench.harness import Case  # noqa: E402

ORDER = 40
CASES = [
    Case("sqlite.ledger.meal_commands_1_thread", "Ledger: meal commands", "commands/s",
         sqlite_meal_commands_1_thread, "sqlite.lib.one_save_per_event", None, "sqlite"),
    Case("sqlite.ledger.meal_commands_8_threads", "Ledger: meal commands", "commands/s",
         sqlite_meal_commands_8_threads, "sqlite.lib.one_save_per_event", None, "sqlite"),
    Case("pg.ledger.meal_commands_1_thread", "Ledger: meal commands", "commands/s",
         pg_meal_commands_1_thread, "pg.lib.one_save_per_event", None, "postgres"),
    Case("pg.ledger.meal_commands_8_threads", "Ledger: meal commands", "commands/s",
         pg_meal_commands_8_threads, "pg.lib.one_save_per_event", None, "postgres"),
    Case("pg.ledger.store_1000_per_save", "Ledger: the store's own floor", "events/s",
         pg_store_1000_per_save, "pg.raw.copy_binary", None, "postgres"),
    Case("pg.ledger.store_1000_per_copy", "Ledger: the store's own floor", "events/s",
         pg_store_1000_per_copy, "pg.raw.copy_binary", None, "postgres"),
    Case("sqlite.ledger.meal_ms_new_child", "Ledger: cost of a meal vs history", "ms",
         sqlite_meal_ms_new_child, None, None, "sqlite"),
    Case("sqlite.ledger.meal_ms_600_events", "Ledger: cost of a meal vs history", "ms",
         sqlite_meal_ms_600_events, "sqlite.ledger.meal_ms_new_child",
         "about the same as a new child", "sqlite"),
    Case("pg.ledger.meal_ms_new_child", "Ledger: cost of a meal vs history", "ms",
         pg_meal_ms_new_child, None, None, "postgres"),
    Case("pg.ledger.meal_ms_600_events", "Ledger: cost of a meal vs history", "ms",
         pg_meal_ms_600_events, "pg.ledger.meal_ms_new_child", "about the same as a new child",
         "postgres"),
]
