"""`tamaq export`: the accountants' and regions' files from the command line."""

from __future__ import annotations

import argparse
import hashlib
import io
import sys
from pathlib import Path

from api.cli import CliError

SCHOOL_KINDS = ("tenant-statement", "meal-register", "free-meals", "attendance")


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    export = subparsers.add_parser(
        "export", help="write a report file (xlsx or csv)",
        description="Write a school's monthly report (tenant statement, meal register, free "
                    "meals p.9, attendance p.12) or a region's savings, from the read models. "
                    "The file names the log position and chain head it was computed from.")
    export.add_argument("kind", choices=(*SCHOOL_KINDS, "regional-savings"))
    scope = export.add_mutually_exclusive_group(required=True)
    scope.add_argument("--school", metavar="ID")
    scope.add_argument("--region", metavar="ID")
    export.add_argument("--month", required=True, metavar="YYYY-MM")
    export.add_argument("--to", metavar="YYYY-MM", help="last month (regional savings only)")
    export.add_argument("--lang", choices=("kk", "ru"), default="kk")
    export.add_argument("--format", choices=("xlsx", "csv"), default="xlsx")
    export.add_argument("--out", metavar="FILE", help="default: the report's own file name")
    export.add_argument("--position", type=int, metavar="N",
                        help="rebuild the report as of log position N (the position a filed "
                             "or earlier file names): an auditor gets the same bytes again")
    export.set_defaults(handler=run_export)


def run_export(args: argparse.Namespace) -> int:
    from api.routes_exports import _months
    from api.services import Services
    from exports import sources
    from projections.pointintime import Scratch
    from exports.files import filename, write_report
    from ledger.errors import LedgerError
    from ledger.settings import check_store_reachable, load_settings

    if (args.kind == "regional-savings") != (args.region is not None):
        raise CliError("regional-savings takes --region; the school reports take --school")
    settings = load_settings()
    check_store_reachable(settings.store())
    services = Services(settings)
    try:
        services.runner.catch_up()
        if args.position is not None and not 0 <= args.position <= services.head():
            raise CliError(f"--position must be 0 to {services.head()}, the log's head")
        db = (Scratch(services.ledger, names=None).at(args.position)
              if args.position is not None else services.runner.db)
        with db.read() as cur:
            source = sources.Source(cur, services.ledger, services.chain_head_at)
            if args.region:
                data = sources.regional_savings(source, args.region, _months(args.month, args.to))
            else:
                data = sources.BUILDERS[args.kind](source, args.school, args.month)
        buffer = io.BytesIO()
        write_report(data, buffer, fmt=args.format, lang=args.lang)
    except LedgerError as error:
        raise CliError(error.message) from None
    finally:
        services.close()
    out = Path(args.out or filename(data, fmt=args.format, lang=args.lang))
    out.write_bytes(buffer.getvalue())
    print(f"{out}  sha256 {hashlib.sha256(buffer.getvalue()).hexdigest()}  "
          f"position {data.position}  chain head {data.chain_head or '-'}", file=sys.stdout)
    return 0
