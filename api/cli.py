"""`tamaq`: one entry point, one subcommand per module.

To add a command, write a module with ``register(subparsers)`` that adds a parser and
sets ``handler`` (a function ``(args) -> int``) as a default, then add one line to
COMMANDS. Handlers raise CliError (or SettingsError) for anything the user can fix:
main() prints it as one line, ``tamaq: error: ...``, and returns exit code 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

from ledger.settings import SettingsError, load_settings

# "module:function" of each command's register(subparsers); one line per command.
COMMANDS: tuple[str, ...] = (
    "api.cli_serve:register",
    "api.cli:register_token",
    "projections.cli:register",
    "terminals.cli:register",
    "api.cli_audit:register",
    "api.cli_audit:register_verify",
    "api.cli_export:register",
    "api.cli_demo:register",
)
EXIT_USAGE = 2


class CliError(Exception):
    """A mistake the user can fix; printed as one line, exit code 2."""


class OneLineParser(argparse.ArgumentParser):
    """argparse, but usage errors are one line on stderr and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"tamaq: error: {message} (see: {self.prog} --help)\n")


def build_parser() -> OneLineParser:
    parser = OneLineParser(prog="tamaq", description="Tamaq Ledger: school-meal finance ledger.")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for entry in COMMANDS:
        module_name, _, function_name = entry.partition(":")
        register: Callable[[argparse._SubParsersAction], None] = getattr(
            importlib.import_module(module_name), function_name
        )
        register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result: int = args.handler(args)
        return result
    except (CliError, SettingsError) as error:
        message = " ".join(str(error).split())
        print(f"tamaq: error: {message}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


# ---------------------------------------------------------------- tamaq token


def register_token(subparsers: argparse._SubParsersAction) -> None:
    from api.tokens import ROLES

    token = subparsers.add_parser("token", help="bearer tokens", description="Manage bearer tokens.")
    actions = token.add_subparsers(dest="token_command", metavar="ACTION", required=True)
    issue = actions.add_parser(
        "issue",
        help="print a new signed token",
        description="Print a new signed bearer token, alone on stdout, signed with TAMAQ_TOKEN_SECRET.",
    )
    issue.add_argument("--role", required=True, choices=ROLES)
    issue.add_argument("--school", metavar="ID", help="school scope (school-admin, accountant, terminal)")
    issue.add_argument("--region", metavar="ID", help="region scope (region; optional for auditor)")
    issue.add_argument("--child", metavar="ID", action="append", help="child scope (parent); repeat for several")
    issue.add_argument("--terminal", metavar="ID", help="terminal scope (terminal)")
    issue.add_argument("--ttl", default="30d", help="lifetime: 30d, 12h, 15m or seconds (default 30d, max 400d)")
    issue.set_defaults(handler=run_token_issue)


def run_token_issue(args: argparse.Namespace) -> int:
    from api.tokens import TokenError, TtlError, issue_token, parse_ttl

    settings = load_settings()
    try:
        token = issue_token(
            settings.token_secret,
            args.role,
            school_id=args.school,
            region_id=args.region,
            child_ids=args.child or (),
            terminal_id=args.terminal,
            ttl_s=parse_ttl(args.ttl),
        )
    except (TokenError, TtlError) as error:
        raise CliError(str(error)) from None
    print(token)
    return 0


if __name__ == "__main__":
    # Run the api.cli module (not this __main__ copy) so there is one CliError class.
    from api.cli import main as _main

    sys.exit(_main())
