"""`tamaq demo`: load a realistic demo region into the store TAMAQ_DATABASE_URL names."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from api.demo import DemoResult, load_demo
from api.demo_plan import EXTRA_SCHOOLS_MAX, REGION_ID, default_month, plan_demo
from ledger.errors import IdempotencyConflict, InvalidInput, LedgerError
from ledger.settings import check_store_reachable, describe_store, load_settings
from ledger.store import close_ledger, open_ledger
from projections.views import SchoolSavings

SEED_MAX = 2**31 - 1
STAGES = {"schools": "Setting up schools", "pupils": "Enrolling pupils",
          "days": "Playing the month's school days", "read models": "Updating read models"}


def register(subparsers: argparse._SubParsersAction) -> None:
    demo = subparsers.add_parser(
        "demo", help="load a demo region (schools, pupils, one month of scans)",
        description=("Create a demo region through the ledger's use cases: one school like the "
                     "report in DOMAIN.md (611 pupils) and N more, then one month of gate passes, "
                     "meals, top-ups, a rate change and a late voucher activation. The same seed "
                     "gives the same figures."))
    demo.add_argument("--schools", type=bounded(0, EXTRA_SCHOOLS_MAX), default=2, metavar="N",
                      help=f"schools besides the report's one, 0-{EXTRA_SCHOOLS_MAX} (default 2)")
    demo.add_argument("--month", metavar="YYYY-MM",
                      help="the month to play (default: the previous month in TAMAQ_TIME_ZONE)")
    demo.add_argument("--seed", type=bounded(0, SEED_MAX), default=1,
                      help="random seed; ids embed it (default 1)")
    demo.add_argument("--if-empty", action="store_true",
                      help="do nothing when the store already holds events (for `make run`)")
    demo.set_defaults(handler=run_demo_command)


def bounded(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        if not text.isdigit() or not low <= int(text) <= high:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number from {low} to {high}")
        return int(text)

    return parse


def run_demo_command(args: argparse.Namespace) -> int:
    from api.cli import CliError

    settings = load_settings()
    check_store_reachable(settings.store())
    month = args.month or default_month(settings.time_zone)
    try:
        plan = plan_demo(args.seed, args.schools, month, settings.time_zone)
    except (ValueError, InvalidInput) as error:
        raise CliError(f"--month: {error}") from None
    ledger = open_ledger(settings.database_url, time_zone=settings.time_zone)
    where = describe_store(settings.store())
    try:
        head = int(ledger.recorder.max_notification_id() or 0)
        if args.if_empty and head:
            print(f"tamaq demo: {where} already holds {head:,} events; "
                  "nothing loaded (--if-empty).")
            return 0
        with progress_bar() as report:
            result = load_demo(ledger, plan, report)
            started = time.perf_counter()
            from projections import build_runner
            from projections.reports import school_savings

            runner = build_runner(ledger)
            runner.catch_up(lambda done, total: report("read models", done, total))
            with runner.db.read() as cur:
                savings = school_savings(cur, result.seed_school_id, plan.month)
        print(summary(result, savings, where, time.perf_counter() - started))
        return 0
    except IdempotencyConflict as error:
        raise CliError(f"this store already holds a different demo for seed {args.seed} "
                       f"({error}); use another --seed or an empty store") from None
    except LedgerError as error:
        raise CliError(f"the ledger refused the demo: {error}") from None
    finally:
        close_ledger(ledger)


@contextmanager
def progress_bar() -> Iterator[Callable[[str, int, int], None]]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description:<34}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())
    with Progress(*columns, transient=False) as bar:
        tasks: dict[str, object] = {}

        def report(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(STAGES.get(stage, stage), total=total)
            bar.update(tasks[stage], completed=done, total=total)  # type: ignore[arg-type]

        yield report


def summary(result: DemoResult, savings: SchoolSavings, where: str, read_models_s: float) -> str:
    bands = {b.band: b for b in savings.bands}
    primary = bands.get("primary")
    participation = ""
    if primary is not None and primary.list_child_days:
        share = 100 * primary.funded_meals / primary.list_child_days
        participation = (f" Primary: {primary.funded_meals:,} funded meals of "
                         f"{primary.list_child_days:,} child-days on the list ({share:.1f} %).")
    return (
        f"Demo seed {result.seed} loaded into {where} in {result.seconds:.1f} s (read models "
        f"{read_models_s:.1f} s more): region "
        f"{REGION_ID}, {result.schools} schools, {result.pupils:,} pupils, {result.staff} staff, "
        f"{result.items:,} terminal items, {result.events:,} events. School "
        f"{result.seed_school_id}, {result.month} ({savings.school_days} school days): planned "
        f"by list {savings.planned_kzt:,} tenge, actually funded {savings.actual_kzt:,}, saving "
        f"{savings.saving_kzt:,} ({savings.saving_percent:.1f} %).{participation}")
