"""`tamaq projections rebuild [NAME ...]` and `tamaq projections status`.

Rebuild empties the named read models (all by default) and replays the event log from the
first event into them, with a progress bar; the rows equal what the live runner built.
Status prints each read model's tracking position against the head of the log."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ledger.settings import load_settings


def register(subparsers: argparse._SubParsersAction) -> None:
    from projections import NAMES

    parser = subparsers.add_parser(
        "projections", help="read models: rebuild, status",
        description="Manage the read models kept beside the events.")
    actions = parser.add_subparsers(dest="projections_command", metavar="ACTION", required=True)
    rebuild = actions.add_parser(
        "rebuild", help="replay the log into read models",
        description=f"Empty the named read models (default: all of {', '.join(NAMES)}) and "
                    "replay every event into them.")
    rebuild.add_argument("names", nargs="*", metavar="NAME", help="read models to rebuild")
    rebuild.set_defaults(handler=run_rebuild)
    status = actions.add_parser("status", help="tracking positions against the log head",
                                description="Show how far each read model has read the log.")
    status.set_defaults(handler=run_status)


def chosen_names(names: list[str]) -> list[str] | None:
    from api.cli import CliError
    from projections import NAMES

    unknown = sorted(set(names) - set(NAMES))
    if unknown:
        raise CliError(f"unknown read model {', '.join(unknown)}; choose from {', '.join(NAMES)}")
    return sorted(set(names)) or None


@contextmanager
def opened_ledger() -> Iterator[Any]:
    from api.cli import CliError
    from ledger.store import close_ledger, open_ledger

    settings = load_settings()
    if settings.store().kind == "memory":
        raise CliError("TAMAQ_DATABASE_URL is memory://, which keeps nothing between runs; "
                       "point it at sqlite:/// or postgresql:// to manage read models")
    try:
        ledger = open_ledger(settings.database_url, time_zone=settings.time_zone)
    except Exception as error:  # a store that cannot be opened is the user's to fix
        raise CliError(f"cannot open the store: {' '.join(str(error).split())}") from None
    try:
        yield ledger
    finally:
        close_ledger(ledger)


def run_rebuild(args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from projections import build_runner

    names = chosen_names(list(args.names))
    with opened_ledger() as ledger:
        runner = build_runner(ledger)
        label = ", ".join(names) if names else "all read models"
        columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("events"), TimeElapsedColumn())
        with Progress(*columns, transient=False) as progress:
            task = progress.add_task(f"rebuild {label}", total=runner.head() or 1)

            def advance(done: int, total: int) -> None:
                progress.update(task, completed=done, total=max(total, 1))

            count = runner.rebuild(names, advance)
        print(f"rebuilt {label}: {count} events replayed, position {runner.position()}")
    return 0


def run_status(args: argparse.Namespace) -> int:
    from projections import build_runner

    with opened_ledger() as ledger:
        runner = build_runner(ledger)
        head = runner.head()
        positions = runner.positions()
        width = max(len(name) for name in positions)
        print(f"{'read model':<{width}}  position  behind")
        for name, position in sorted(positions.items()):
            print(f"{name:<{width}}  {position:>8}  {head - position:>6}")
        print(f"{'log head':<{width}}  {head:>8}")
    return 0
