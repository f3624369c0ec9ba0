"""`tamaq serve`: check the store, then run the Litestar app under uvicorn: by default with
the read models in a process of their own, optionally with several HTTP worker processes
(api/workers.py draws the processes)."""

from __future__ import annotations

import argparse
import os
import socket
import sys

from ledger.settings import Settings, check_store_reachable, describe_store, load_settings

ANNOUNCE_TOKEN_TTL_S = 30 * 86_400
GIL_SWITCH_S = 0.0005
KEEP_ALIVE_S = 75
WORKERS_MAX = 64
# uvicorn builds each access-log line's arguments (client address, quoted path) before the
# logger drops it: below INFO there is nothing to log
ACCESS_LOG_LEVELS = ("DEBUG", "INFO")
# One HTTP process on both stores: SQLite takes one writer at a time, and on the 2-core
# machine two PostgreSQL workers answered fewer scans than one (2026-11, 32 clients: ~530 vs
# ~750 req/s): they share the cores with PostgreSQL and split the writer's batches in two.
WORKERS_DEFAULT = 1


def register(subparsers: argparse._SubParsersAction) -> None:
    serve = subparsers.add_parser(
        "serve",
        help="run the HTTP API",
        description="Check the store named by TAMAQ_DATABASE_URL, then serve the HTTP API until Ctrl-C.",
    )
    serve.add_argument("--host", help="address to listen on (default: TAMAQ_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=port_number, help="port to listen on (default: TAMAQ_PORT or 8000)")
    serve.add_argument("--announce", action="store_true", help="print the URL and a fresh admin token first")
    serve.add_argument("--demo-if-empty", action="store_true",
                       help="load the demo region in the background when the store is empty "
                            "(the API answers at once; figures fill in as the demo loads)")
    serve.add_argument("--workers", type=worker_count,
                       help="HTTP worker processes, each with its own scan writer "
                            f"(default: {WORKERS_DEFAULT}; more than 1 needs "
                            "--read-models=process)")
    serve.add_argument("--read-models", choices=("thread", "process"),
                       help="keep the read models current in a thread of the HTTP process, or "
                            "in a process of their own (default: process; the memory store: "
                            "thread)")
    serve.set_defaults(handler=run_serve)


def worker_count(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= WORKERS_MAX:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of workers from 1 to {WORKERS_MAX}")
    return int(text)


def port_number(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port from 1 to 65535")
    return int(text)


def run_serve(args: argparse.Namespace) -> int:
    settings = load_settings()
    host = args.host or settings.host
    port = args.port or settings.port
    store = settings.store()
    check_store_reachable(store)
    check_port_free(host, port)
    read_models, workers = topology(args, store.kind)
    # The writer thread waits on the database ~10 times a batch; with the default 5 ms GIL
    # switch interval each wait can cost 5 ms while the event loop holds the GIL (a convoy).
    sys.setswitchinterval(GIL_SWITCH_S)
    if args.announce:
        announce(settings, host, port)
    if read_models == "thread":
        serve_one(settings, host, port, read_models, demo_if_empty=args.demo_if_empty)
        return 0
    from api.workers import ReadModelProcess

    with ReadModelProcess(demo_if_empty=args.demo_if_empty):
        if workers == 1:
            serve_one(settings, host, port, read_models, demo_if_empty=False)
        else:
            import uvicorn

            from ledger.application import LEASE_ENV

            # Workers would hand the writer's lease to and fro at every batch (measured:
            # 819 against 1,438 req/s with 2 workers): they share the table lock instead,
            # unless TAMAQ_WRITER_LEASE says otherwise.
            os.environ.setdefault(LEASE_ENV, "0")
            uvicorn.run("api.workers:worker_app", factory=True, host=host, port=port,
                        workers=workers, log_level=settings.log_level.lower(),
                        access_log=settings.log_level in ACCESS_LOG_LEVELS,
                        timeout_keep_alive=KEEP_ALIVE_S)
    return 0


def topology(args: argparse.Namespace, store_kind: str) -> tuple[str, int]:
    """Where the read models run and how many HTTP processes serve; one line if impossible."""
    from api.cli import CliError

    read_models = args.read_models or ("thread" if store_kind == "memory" else "process")
    workers = args.workers or WORKERS_DEFAULT
    if store_kind == "memory" and (read_models != "thread" or workers != 1):
        raise CliError("the memory store lives in one process: use --read-models=thread "
                       "and --workers 1, or a SQLite or PostgreSQL TAMAQ_DATABASE_URL")
    if workers > 1 and read_models == "thread":
        raise CliError("--workers above 1 needs --read-models=process "
                       "(one process keeps the read models for all workers)")
    return read_models, workers


def serve_one(settings: Settings, host: str, port: int, read_models: str, *,
              demo_if_empty: bool) -> None:
    """HTTP in this process (one worker)."""
    import uvicorn

    from api.app import create_app
    from api.services import Services
    from api.workers import NO_DDL, load_demo_in_background, tune_gc
    from ledger.store import open_ledger

    ledger = open_ledger(settings.database_url, time_zone=settings.time_zone,
                         extra_env=NO_DDL if read_models == "process" else None)
    app = create_app(settings, services=Services(settings, ledger,
                                                 read_models=read_models))  # type: ignore[arg-type]
    if demo_if_empty:
        load_demo_in_background(ledger, settings.time_zone)
    tune_gc()
    # terminals keep their connection open between scans: don't close it under them
    uvicorn.run(app, host=host, port=port, log_level=settings.log_level.lower(),
                access_log=settings.log_level in ACCESS_LOG_LEVELS, timeout_keep_alive=KEEP_ALIVE_S)


def check_port_free(host: str, port: int) -> None:
    """Fail with one line now rather than let uvicorn log a bind error and exit 1."""
    from api.cli import CliError

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        with socket.socket(infos[0][0], socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(infos[0][4])
    except OSError as error:
        raise CliError(
            f"cannot listen on {host}:{port} ({error.strerror or error}); "
            "stop the other server or pass --port / set TAMAQ_PORT"
        ) from None


def announce(settings: Settings, host: str, port: int) -> None:
    from api.tokens import issue_token

    token = issue_token(settings.token_secret, "admin", ttl_s=ANNOUNCE_TOKEN_TTL_S)
    print(f"Tamaq Ledger: http://{host}:{port}  (storage: {describe_store(settings.store())})")
    print(f"admin token: {token}", flush=True)
