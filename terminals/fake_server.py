"""A small in-process stand-in for the server's terminal endpoints, for tests and benchmarks.

It speaks the contract of issue 5 with simple rules: identifiers map to children with a
balance; a meal without items is funded once per child per school day for entitled children
(a second one decided offline is recorded unfunded and flagged, decided online it is refused
``already_served``); items are paid from the balance; gate passes need a known identifier;
a repeated event id answers ``duplicate`` with the first answer. State lives in
`FakeLedger`, so a `FakeServer` can be stopped and started again on the same port.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from zoneinfo import ZoneInfo

SCHOOL_TZ = ZoneInfo("Asia/Almaty")
BODY_BYTES_MAX = 8 << 20
FUNDED_RATE_KZT = 585


@dataclass
class FakeChild:
    child_id: str
    first_name: str
    entitled: bool = True
    balance_kzt: int = 0
    overdraft_kzt: int = 0
    allergens: list[str] = field(default_factory=list)


@dataclass
class FakeLedger:
    school_id: str = "s-1"
    tokens: dict[tuple[str, str], str] = field(default_factory=dict)  # (kind, token) -> child_id
    children: dict[str, FakeChild] = field(default_factory=dict)
    menu: list[dict[str, object]] = field(default_factory=list)
    token: str = "secret"
    results: dict[str, dict[str, object]] = field(default_factory=dict)  # event_id -> first answer
    recorded: list[dict[str, object]] = field(default_factory=list)  # items recorded, in order
    funded_on: set[tuple[str, str]] = field(default_factory=set)  # (child_id, date)
    requests: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add_child(self, child: FakeChild, *tokens: tuple[str, str]) -> None:
        self.children[child.child_id] = child
        for kind_token in tokens:
            self.tokens[kind_token] = child.child_id

    def apply(self, item: dict[str, object]) -> dict[str, object]:
        event_id = str(item["event_id"])
        if event_id in self.results:
            return {**self.results[event_id], "status": "duplicate"}
        result = self._decide(item)
        self.results[event_id] = result
        if result["status"] == "recorded":
            self.recorded.append(item)
        return result

    def _decide(self, item: dict[str, object]) -> dict[str, object]:
        ident = item.get("identifier") or {}
        assert isinstance(ident, dict)
        child_id = self.tokens.get((str(ident.get("kind")), str(ident.get("token"))))
        if child_id is None:
            return _result(item, "refused", "unknown_identifier")
        child = self.children[child_id]
        if item["kind"] == "gate_pass":
            return _result(item, "recorded", None, first_name=child.first_name)
        decided = item.get("offline_decision")
        offline = isinstance(decided, dict)
        if isinstance(decided, dict) and decided.get("outcome") == "refused":
            return _result(item, "refused", str(decided.get("reason")))
        date = datetime.fromisoformat(str(item["at"]).replace("Z", "+00:00")).astimezone(SCHOOL_TZ).date().isoformat()
        items = item.get("item_ids")
        if not items and child.entitled:
            if (child_id, date) in self.funded_on:
                if offline:
                    return _result(item, "recorded", None, "unfunded", 0, child, flagged=True)
                return _result(item, "refused", "already_served")
            self.funded_on.add((child_id, date))
            return _result(item, "recorded", None, "funded", FUNDED_RATE_KZT, child)
        prices = {str(m["item_id"]): int(m["price_kzt"]) for m in self.menu}  # type: ignore[call-overload]
        wanted = list(items) if isinstance(items, list) else [str(m["item_id"]) for m in self.menu if m.get("free_meal")]
        if not wanted or any(i not in prices for i in wanted):
            return _result(item, "refused", "no_free_meal_item" if not wanted else "unknown_item")
        total = sum(prices[i] for i in wanted)
        short = child.balance_kzt - total < -child.overdraft_kzt
        if short and not offline:
            return _result(item, "refused", "insufficient_balance")
        child.balance_kzt -= total
        return _result(item, "recorded", None, "paid", total, child, flagged=short)

    def cache(self, terminal_id: str, kind: str) -> dict[str, object]:
        now = datetime.now(timezone.utc)
        date = now.astimezone(SCHOOL_TZ).date().isoformat()
        idents = []
        for (id_kind, token), child_id in self.tokens.items():
            c = self.children[child_id]
            idents.append({"kind": id_kind, "token": token, "child_id": child_id, "staff_id": None,
                           "first_name": c.first_name, "entitled_today": c.entitled, "band": "primary",
                           "balance_kzt": c.balance_kzt, "overdraft_kzt": c.overdraft_kzt,
                           "allergens": c.allergens, "served_today": (child_id, date) in self.funded_on})
        return {"terminal_id": terminal_id, "school_id": self.school_id, "kind": kind, "date": date,
                "generated_at": now.isoformat().replace("+00:00", "Z"), "school_day": True,
                "identifiers": idents, "menu": self.menu}


def _result(item: dict[str, object], status: str, reason: str | None, funding: str | None = None,
            amount_kzt: int | None = None, child: FakeChild | None = None, flagged: bool = False,
            first_name: str | None = None) -> dict[str, object]:
    return {"event_id": item["event_id"], "status": status, "reason": reason, "funding": funding,
            "amount_kzt": amount_kzt, "balance_kzt": child.balance_kzt if child else None,
            "first_name": first_name or (child.first_name if child else None), "flagged": flagged}


def _handler(server: FakeServer) -> type[BaseHTTPRequestHandler]:
    ledger = server.ledger

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def setup(self) -> None:
            super().setup()
            with server.conn_lock:
                server.connections.add(self.connection)

        def finish(self) -> None:
            with server.conn_lock:
                server.connections.discard(self.connection)
            super().finish()

        def log_message(self, format: str, *args: object) -> None:  # quiet
            pass

        def _send(self, status: int, body: object, content_type: str = "application/json") -> None:
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def _problem(self, status: int, title: str) -> None:
            self._send(status, {"type": f"about:{title}", "title": title, "status": status, "detail": title},
                       "application/problem+json")

        def _route(self) -> str | None:
            if server.delay_s:
                time.sleep(server.delay_s)
            with ledger.lock:
                ledger.requests += 1
            if self.headers.get("Authorization") != f"Bearer {ledger.token}":
                self._problem(401, "bad-token")
                return None
            parts = self.path.split("/")  # ['', 'api', 'v1', 'terminals', id, what]
            if len(parts) != 6 or parts[1:4] != ["api", "v1", "terminals"]:
                self._problem(404, "not-found")
                return None
            return parts[4] + "/" + parts[5]

        def do_GET(self) -> None:
            route = self._route()
            if route is not None:
                terminal_id, what = route.split("/")
                with ledger.lock:
                    body = ledger.cache(terminal_id, server.terminal_kinds.get(terminal_id, "canteen"))
                self._send(200, body) if what == "cache" else self._problem(404, "not-found")

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            if length > BODY_BYTES_MAX:
                self._problem(413, "too-large")
                return
            raw = self.rfile.read(length)
            route = self._route()
            if route is None:
                return
            items = json.loads(raw)
            if not isinstance(items, list) or not 1 <= len(items) <= 5000:
                self._problem(422, "bad-batch")
                return
            with ledger.lock:
                results = [ledger.apply(item) for item in items]
            self._send(200, results)

    return Handler


class FakeServer:
    """Serve `ledger` on 127.0.0.1:`port` (0 = any) in a thread; `stop()` then `start()` again."""

    def __init__(self, ledger: FakeLedger, port: int = 0) -> None:
        self.ledger, self.port = ledger, port
        self.delay_s = 0.0
        self.terminal_kinds: dict[str, str] = {}
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.connections: set[socket.socket] = set()
        self.conn_lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeServer:
        ThreadingHTTPServer.allow_reuse_address = True
        self._httpd = ThreadingHTTPServer(("127.0.0.1", self.port), _handler(self))
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        with self.conn_lock:  # keep-alive connections would otherwise go on being served
            for conn in list(self.connections):
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        if self._thread is not None:
            self._thread.join(timeout=5)


def demo_ledger(children: int = 50, token: str = "secret") -> FakeLedger:
    """A school of `children` children with cards 100000..; odd ones pay, even ones are entitled."""
    ledger = FakeLedger(token=token, menu=[
        {"item_id": "lunch", "name": "Ас", "price_kzt": 650, "allergens": [], "free_meal": True},
        {"item_id": "bun", "name": "Тоқаш", "price_kzt": 150, "allergens": ["gluten"], "free_meal": False}])
    for n in range(children):
        ledger.add_child(FakeChild(f"c-{n}", f"Child{n}", entitled=n % 2 == 0, balance_kzt=5000),
                         ("card", str(100000 + n)))
    return ledger


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="fake terminal API server for demos")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--children", type=int, default=50)
    parser.add_argument("--token", default="secret")
    args = parser.parse_args()
    fake = FakeServer(demo_ledger(args.children, args.token), args.port).start()
    print(f"fake server on {fake.url}, cards 100000..{100000 + args.children - 1}", flush=True)
    threading.Event().wait()
