"""`tamaq replay` (read models as of an instant, into a scratch store) and `tamaq verify`
(recompute the hash chain). Both show a progress bar and print their result in plain text."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import msgspec

from api.cli import CliError


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    replay = subparsers.add_parser(
        "replay", help="rebuild every read model as of an instant (scratch store)",
        description="Replay the event log up to the last event recorded at or before "
                    "INSTANT into a scratch in-memory store, then print the headline figures "
                    "(savings per region and month) and the log position they stand on.")
    replay.add_argument("--until", required=True, metavar="INSTANT",
                        help="RFC 3339 instant with a time zone, e.g. 2025-11-05T18:00:00+05:00")
    replay.add_argument("--out", metavar="FILE", help="also write the figures as JSON to FILE")
    replay.set_defaults(handler=run_replay)


def parse_instant(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise CliError(f"--until: {text!r} is not an RFC 3339 instant") from None
    if value.tzinfo is None:
        raise CliError("--until: give a time zone, e.g. 2025-11-05T18:00:00+05:00")
    return value


class Headline(msgspec.Struct, frozen=True):
    region_id: str
    month: str
    schools: int
    planned_kzt: int
    actual_kzt: int
    saving_kzt: int


class ReplayResult(msgspec.Struct, frozen=True):
    until: str
    position: int
    events: int
    chain_head: str | None
    figures: list[Headline]


def headline_figures(db: Any) -> list[Headline]:
    from projections.reports import region_savings

    with db.read() as cur:
        regions = [r[0] for r in cur.fetchall("SELECT region_id FROM pm_region ORDER BY region_id")]
        months = [m[0] for m in cur.fetchall("SELECT DISTINCT month FROM pm_plan UNION "
                                             "SELECT DISTINCT month FROM pm_daily_cost ORDER BY 1")]
        figures = []
        for region_id in regions:
            for month in months:
                s = region_savings(cur, region_id, month)
                if s.planned_kzt or s.actual_kzt:
                    figures.append(Headline(region_id, month, len(s.schools), s.planned_kzt,
                                            s.actual_kzt, s.saving_kzt))
    return figures


def run_replay(args: argparse.Namespace) -> int:
    from rich.progress import Progress

    from ledger.store import configured_ledger
    from projections.pointintime import Scratch, position_at

    until = parse_instant(args.until)
    with configured_ledger() as (_, ledger):
        position = position_at(ledger, until)
        with Progress(transient=True) as bar:
            task = bar.add_task("replaying", total=max(position, 1))
            db = Scratch(ledger, names=None).at(position, lambda done, total: bar.update(
                task, completed=done, total=max(total, 1)))
        result = ReplayResult(until.isoformat(), position, position,
                              chain_head_at(ledger, position), headline_figures(db))
    print(f"as of {result.until}: log position {result.position}"
          + (f", chain head {result.chain_head}" if result.chain_head else ""))
    for f in result.figures:
        print(f"  {f.region_id} {f.month}: {f.schools} school(s), planned {tenge(f.planned_kzt)},"
              f" actual {tenge(f.actual_kzt)}, saving {tenge(f.saving_kzt)}")
    if not result.figures:
        print("  (no figures: nothing was recorded by then)")
    if args.out:
        Path(args.out).write_bytes(msgspec.json.format(msgspec.json.encode(result)) + b"\n")
        print(f"figures written to {args.out}", file=sys.stderr)
    return 0


def tenge(amount_kzt: int) -> str:
    return f"{amount_kzt:,} ₸".replace(",", " ")


def chain_head_at(ledger: Any, position: int) -> str | None:
    """The chain link at a position, when the store keeps a hash chain."""
    try:
        from ledger.persistence.chain import iter_events_with_links
    except ImportError:
        return None
    if position <= 0:
        return None
    try:
        rows = list(iter_events_with_links(ledger.recorder, after=position - 1, limit=1))
    except Exception:  # a store without a chain table (plain eventsourcing persistence)
        return None
    return rows[0][-1].hex() if rows else None


def register_verify(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    verify = subparsers.add_parser(
        "verify", help="recompute the hash chain over the event log",
        description="Recompute every event's chain link from the first event and check it "
                    "against the stored links, the seals recorded in the log and any head you "
                    "kept. Prints 'intact up to position N, head H' (exit 0) or the first "
                    "broken position and event (exit 1).")
    verify.add_argument("--head", action="append", default=[], metavar="POSITION:HEAD",
                        help="a (position, head) you kept from an earlier verify; repeatable")
    verify.set_defaults(handler=run_verify)
    seal = subparsers.add_parser(
        "seal", help="seal today's chain head as an event (run daily)",
        description="Record the current chain head as today's seal (idempotent per day), "
                    "signed with TAMAQ_SEAL_KEY_FILE when set.")
    seal.set_defaults(handler=run_seal)


def _kept(values: list[str]) -> list[tuple[int, str]]:
    kept = []
    for value in values:
        position, _, head = value.partition(":")
        if not position.isdigit() or len(head) != 64:
            raise CliError(f"--head {value!r}: give POSITION:HEAD, HEAD as 64 hex digits")
        kept.append((int(position), head))
    return kept


def run_verify(args: argparse.Namespace) -> int:
    from rich.progress import Progress

    from ledger.audit import verify
    from ledger.store import configured_ledger

    kept = _kept(args.head)
    with configured_ledger() as (_, ledger), Progress(transient=True) as bar:
        task = bar.add_task("verifying", total=None)
        result = verify(ledger, kept=kept, progress=lambda done, total: bar.update(
            task, completed=done, total=max(total, 1)))
    print(result.summary())
    return 0 if result.ok else 1


def run_seal(args: argparse.Namespace) -> int:
    from ledger.audit import seal_today
    from ledger.dates import local_day, utc_now
    from ledger.store import configured_ledger

    with configured_ledger() as (settings, ledger):
        seal = seal_today(ledger, local_day(utc_now(), settings.time_zone), settings.seal_key_file)
    s = seal.sealed
    print(f"sealed {s.day}: position {s.position}, head {s.head}"
          + (", signed" if s.signature else ""))
    return 0
