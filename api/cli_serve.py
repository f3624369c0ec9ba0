"""`tamaq serve`: check the store, then run the Litestar app under uvicorn."""

from __future__ import annotations

import argparse
import socket
import sys

from ledger.settings import Settings, check_store_reachable, describe_store, load_settings

ANNOUNCE_TOKEN_TTL_S = 30 * 86_400
GIL_SWITCH_S = 0.0005
KEEP_ALIVE_S = 75


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
    serve.set_defaults(handler=run_serve)


def port_number(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port from 1 to 65535")
    return int(text)


def run_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from api.app import create_app

    settings = load_settings()
    host = args.host or settings.host
    port = args.port or settings.port
    check_store_reachable(settings.store())
    check_port_free(host, port)
    # The writer thread waits on the database ~10 times a batch; with the default 5 ms GIL
    # switch interval each wait can cost 5 ms while the event loop holds the GIL (a convoy).
    sys.setswitchinterval(GIL_SWITCH_S)
    app = create_app(settings)
    if args.announce:
        announce(settings, host, port)
    if args.demo_if_empty:
        load_demo_in_background(app)
    # terminals keep their connection open between scans: don't close it under them
    uvicorn.run(app, host=host, port=port, log_level=settings.log_level.lower(),
                timeout_keep_alive=KEEP_ALIVE_S)
    return 0


def load_demo_in_background(app: object) -> None:
    """`make run`: a fresh store gets the demo region while the API already answers."""
    import logging
    import threading

    from api.demo import run_demo
    from api.demo_plan import default_month

    services = app.state.services  # type: ignore[attr-defined]
    if services.head() > 0:
        return
    log = logging.getLogger("tamaq.demo")

    def load() -> None:
        month = default_month(services.settings.time_zone)
        print(f"loading the demo region for {month} in the background...", flush=True)
        result = run_demo(services.ledger, seed=1, extra_schools=2, month=month)
        print(f"demo loaded: {result.schools} schools, {result.pupils} pupils, "
              f"{result.events:,} events in {result.seconds:.0f} s".replace(",", " "), flush=True)

    def guarded() -> None:
        try:
            load()
        except Exception:  # the server keeps serving; the log says what went wrong
            log.exception("demo load failed")

    threading.Thread(target=guarded, name="tamaq-demo", daemon=True).start()


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
