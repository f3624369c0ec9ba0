"""Verifying a long chain in two halves at once, on PostgreSQL.

This process checks and decodes the first half of the log while a forked child process
checks and decodes the second: every link is stored, so a half needs only the stored link
before it. The halves join when the first ends on the very link the second started from.
Anything short of both halves vouching for every row (a finding, an event that does not
decode, a child that fails or takes too long) gives None, and the caller verifies the whole
log in one pass as before, so every finding is still the one-pass verifier's.

Why: one pass is bound by one process's CPU (hash and decode, ~2.5 us an event under one
GIL) while the machine has a second core; the database serves both halves.
`TAMAQ_VERIFY_PROCESSES=1` keeps verification in one process.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from contextlib import suppress
from types import SimpleNamespace
from typing import Any

import msgspec
from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg.sql import SQL, Identifier

from ledger.mapper import decode_stored
from ledger.persistence.chain import VerifyResult
from ledger.persistence.links import GENESIS
from ledger.persistence.pages import EventRow, _PostgresPages
from ledger.persistence.verify import _pages, _Scan, verify_chain

PROCESSES_ENV = "TAMAQ_VERIFY_PROCESSES"
SPLIT_EVENTS_MIN = 50_000  # below this a process costs more than it saves
CHILD_WAIT_S_MIN = 60.0
CHILD_WAIT_S_PER_EVENT = 50e-6  # ten times what a half takes on the 2-core machine
Progress = Callable[[int, int], None]
RowsVerified = Callable[[Sequence[EventRow]], None]


class Half(msgspec.Struct, frozen=True):
    """What the child found in the second half."""

    ok: bool
    why: str = ""
    start: int = 0  # the stored link it started from
    start_link: bytes = b""
    position: int = 0  # the last link it recomputed
    link: bytes = b""
    checked: int = 0
    seals: list[tuple[int, str]] = []  # (position, head) of the seal events it read


def enabled() -> bool:
    return os.environ.get(PROCESSES_ENV, "2").strip() != "1" and (os.cpu_count() or 1) >= 2


def verify_split(recorder: Any, kept: Sequence[tuple[int, str]], on_rows: RowsVerified,
                 progress: Progress | None, seal_topic: str
                 ) -> tuple[VerifyResult, list[tuple[int, str]]] | None:
    """The chain verified in two halves, and the seals still to hold against stored links
    (those the auditor kept past the first half, and those read in the second); None when
    it cannot be split or the halves did not both vouch for every row."""
    if not (enabled() and _chained_postgres(recorder)):
        return None
    end = max(recorder.chain_bounds())
    if end < SPLIT_EVENTS_MIN:
        return None
    mid = end // 2
    context = multiprocessing.get_context("fork")  # the modules are loaded: starts at once
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=_second_half, name="tamaq-verify-half", daemon=True,
                            args=(_connection_kwargs(recorder), _tables(recorder), mid, end,
                                  seal_topic, sender))
    child.start()
    sender.close()
    try:
        first = verify_chain(recorder, sealed=[(n, h) for n, h in kept if n <= mid],
                             on_rows=on_rows, stop=mid,
                             progress=None if progress is None else lambda done, _: progress(
                                 done, end))
        wait_s = max(CHILD_WAIT_S_MIN, (end - mid) * CHILD_WAIT_S_PER_EVENT)
        if not first.ok or not receiver.poll(wait_s):
            return None
        half = msgspec.msgpack.decode(receiver.recv_bytes(), type=Half)
    except (EOFError, OSError, msgspec.DecodeError):
        return None
    finally:
        receiver.close()
        if child.is_alive():
            child.kill()
        child.join()
    if not half.ok or (half.start, half.start_link.hex()) != (first.position, first.head):
        return None
    if progress is not None:
        progress(end, end)
    result = VerifyResult(ok=True, position=half.position, head=half.link.hex(),
                          checked=first.checked + half.checked)
    return result, [*((n, h) for n, h in kept if n > mid), *half.seals]


def _chained_postgres(recorder: Any) -> bool:
    return isinstance(recorder, PostgresApplicationRecorder) and hasattr(
        recorder, "chain_table_name")


def _connection_kwargs(recorder: Any) -> dict[str, Any]:
    pool = recorder.datastore.pool
    kwargs = {k: v for k, v in pool.kwargs.items() if k not in ("row_factory", "autocommit")}
    return {"conninfo": pool.conninfo, **kwargs}


def _tables(recorder: Any) -> tuple[str, str, str, bool]:
    datastore = recorder.datastore
    return (datastore.schema, recorder.events_table_name, recorder.chain_table_name,
            datastore.originator_id_type == "uuid")


def _second_half(connect: dict[str, Any], tables: tuple[str, str, str, bool], mid: int,
                 end: int, seal_topic: str, sender: Any) -> None:
    """The child: check and decode the events after `mid`; send a Half, whatever happens."""
    try:
        half = _check_half(connect, tables, mid, end, seal_topic)
    except BaseException as error:  # noqa: BLE001 - reported; the parent verifies in one pass
        half = Half(ok=False, why=f"{type(error).__name__}: {error}")
    with suppress(OSError):
        sender.send_bytes(msgspec.msgpack.encode(half))
    sender.close()


def _check_half(connect: dict[str, Any], tables: tuple[str, str, str, bool], mid: int,
                end: int, seal_topic: str) -> Half:
    from psycopg_pool import ConnectionPool

    schema, events_table, chain_table, raw_uuid = tables
    with ConnectionPool(connect.pop("conninfo"), kwargs={**connect, "autocommit": True},
                        min_size=2, max_size=2, open=True) as pool:
        with pool.connection() as conn:
            row = conn.execute(SQL(
                "SELECT notification_id, link FROM {} WHERE notification_id <= %s"
                " ORDER BY notification_id DESC LIMIT 1").format(Identifier(schema, chain_table)),
                (mid,)).fetchone()
        start, start_link = (int(row[0]), bytes(row[1])) if row is not None else (0, GENESIS)
        datastore = SimpleNamespace(schema=schema, get_connection=pool.connection,
                                    originator_id_type="uuid" if raw_uuid else "text")
        reader = _PostgresPages(SimpleNamespace(  # type: ignore[arg-type]
            datastore=datastore, events_table_name=events_table, chain_table_name=chain_table))
        scan = _Scan(None, reader, end, start_link, start, [],  # type: ignore[arg-type]
                     trusted=(start, start_link))
        seals: list[tuple[int, str]] = []
        for events, links, page_end in _pages(reader, mid, end):
            checked = scan.checked
            scan.fast(events, links)
            if scan.checked - checked != len(events) or len(events) != len(links):
                return Half(ok=False, why=f"a row up to {page_end} not vouched for")
            for event_row in events:
                event = decode_stored(event_row[3], event_row[4])
                if event_row[3] == seal_topic and event.position > 0:
                    seals.append((event.position, event.head))
    return Half(ok=True, start=start, start_link=start_link, position=scan.position,
                link=scan.prev, checked=scan.checked, seals=seals)
