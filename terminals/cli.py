"""`tamaq terminal run` and `tamaq terminal simulate`.

`register(subparsers)` adds the ``terminal`` command to the tamaq CLI; ``python -m
terminals.cli terminal ...`` runs the same commands without it.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path

from terminals.client import ServerClient
from terminals.gateway import Gateway, GatewayConfig
from terminals.journal import Journal
from terminals.simulator import PtyDevice, RushConfig, play_rush
from terminals.transport import SerialTransport, Transport


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    terminal = subparsers.add_parser("terminal", help="canteen and gate terminals (serial gateway)")
    sub = terminal.add_subparsers(dest="terminal_command", required=True)
    run = sub.add_parser("run", help="run the gateway between a serial device and the server")
    run.add_argument("--port", required=True, help="device path or pyserial URL (loop://, socket://h:p)")
    run.add_argument("--terminal-id", required=True)
    run.add_argument("--server", required=True, help="server base URL, e.g. http://127.0.0.1:8000")
    run.add_argument("--token", required=True, help="the terminal's bearer token")
    run.add_argument("--journal", default=None, help="SQLite journal path (default: tamaq-<id>.journal)")
    run.add_argument("--reader", choices=["framed", "lines"], default="framed")
    run.add_argument("--kind", choices=["gate", "canteen"], default=None, help="default: from the server cache")
    run.add_argument("--direction", choices=["in", "out"], default="in", help="line readers at gates")
    run.add_argument("--offline-after-ms", type=int, default=300)
    run.add_argument("--baudrate", type=int, default=115200)
    run.set_defaults(func=_run, handler=_run)  # handler: the `tamaq` CLI's name

    sim = sub.add_parser("simulate", help="play a lunch rush as a framed device")
    sim.add_argument("--port", default="pty", help="'pty' (make a pty pair) or a pyserial URL/path")
    sim.add_argument("--tokens", required=True, help="comma-separated card tokens, or @FILE with one a line")
    sim.add_argument("--scans", type=int, default=200)
    sim.add_argument("--rate", type=int, default=600, help="scans a minute")
    sim.add_argument("--repeat-ratio", type=float, default=0.05)
    sim.add_argument("--unknown-ratio", type=float, default=0.05)
    sim.add_argument("--garbage-ratio", type=float, default=0.05)
    sim.add_argument("--direction", choices=["in", "out"], default=None, help="play a gate")
    sim.add_argument("--items", default="", help="comma-separated item ids for every canteen scan")
    sim.add_argument("--seed", type=int, default=1)
    sim.add_argument("--start-delay-s", type=float, default=3.0, help="time to start an external gateway")
    sim.add_argument("--server", default=None, help="with --terminal-id and --token: run a gateway in-process")
    sim.add_argument("--terminal-id", default=None)
    sim.add_argument("--token", default=None)
    sim.add_argument("--journal", default=None)
    sim.set_defaults(func=_simulate, handler=_simulate)


def _setup_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)


def start_gateway(port: str, terminal_id: str, server: str, token: str, journal_path: str,
                  **config: object) -> tuple[Gateway, threading.Event, threading.Thread]:
    """Open the port, journal and clients, and run a gateway in a thread."""
    transport = SerialTransport(port, baudrate=int(config.pop("baudrate", 115200)))  # type: ignore[call-overload]
    gateway_config = GatewayConfig(terminal_id=terminal_id, **config)  # type: ignore[arg-type]
    clients = [ServerClient(server, terminal_id, token, timeout_s=2.0) for _ in range(2)]
    gateway = Gateway(gateway_config, transport, clients[0], clients[1], Journal(journal_path))
    stop = threading.Event()
    thread = threading.Thread(target=gateway.run, args=(stop,), name="tamaq-gateway", daemon=True)
    thread.start()
    return gateway, stop, thread


def _run(args: argparse.Namespace) -> int:
    _setup_logging()
    journal = args.journal or f"tamaq-{args.terminal_id}.journal"
    gateway, stop, thread = start_gateway(
        args.port, args.terminal_id, args.server, args.token, journal, reader=args.reader, kind=args.kind,
        direction=args.direction, offline_after_ms=args.offline_after_ms, baudrate=args.baudrate)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    while thread.is_alive():
        thread.join(timeout=0.5)
    logging.getLogger("tamaq.terminals").info("stopped; counters %s", dict(gateway.counters))
    return 0


def _tokens(spec: str) -> tuple[str, ...]:
    if spec.startswith("@"):
        lines = Path(spec[1:]).read_text(encoding="ascii").splitlines()
        return tuple(t.strip() for t in lines if t.strip())
    return tuple(t.strip() for t in spec.split(",") if t.strip())


def _simulate(args: argparse.Namespace) -> int:
    _setup_logging()
    device: Transport
    gateway_port = args.port
    if args.port == "pty":
        pty = PtyDevice()
        device, gateway_port = pty, pty.slave_path
        print(f"device on pty; gateway side: {pty.slave_path}", flush=True)
    else:
        device = SerialTransport(args.port)
    stop: threading.Event | None = None
    if args.server:
        if not (args.terminal_id and args.token):
            print("--server needs --terminal-id and --token", file=sys.stderr)
            return 2
        journal = args.journal or f"tamaq-sim-{args.terminal_id}.journal"
        _, stop, _ = start_gateway(gateway_port, args.terminal_id, args.server, args.token, journal)
    threading.Event().wait(args.start_delay_s)
    config = RushConfig(tokens=_tokens(args.tokens), scans=args.scans, scans_per_min=args.rate,
                        repeat_ratio=args.repeat_ratio, unknown_ratio=args.unknown_ratio,
                        garbage_ratio=args.garbage_ratio, direction=args.direction,
                        item_ids=tuple(i for i in args.items.split(",") if i), seed=args.seed)
    summary = play_rush(device, config)
    for line in summary.lines():
        print(line)
    if stop is not None:
        stop.set()
    device.close()
    return 0 if summary.timeouts == 0 else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tamaq")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
