"""The benchmark's load generator against a tiny local HTTP server: it counts answers,
tells errors from successes and reads bodies by their Content-Length."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bench.loadgen import _content_length, run_load


class Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        status = 200 if self.path == "/ok" else 404
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def port() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(("path", "failing"), [("/ok", False), ("/missing", True)])
def test_requests_are_answered_counted_and_errors_told_apart(port: int, path: str,
                                                              failing: bool) -> None:
    result = run_load("127.0.0.1", port, 2, 0.3, lambda n: (path, b'{"n": %d}' % n, {}))
    assert result.requests > 0
    assert result.errors == (result.requests if failing else 0)
    assert len(result.latencies_ms) == result.requests
    assert result.percentile(50) <= result.percentile(99)


def test_content_length_is_read_from_any_header_position() -> None:
    head = b"HTTP/1.1 200 OK\r\nServer: x\r\nContent-Length: 42\r\ndate: now\r\n\r\n"
    assert _content_length(head) == 42
    assert _content_length(b"HTTP/1.1 204 No Content\r\n\r\n") == 0
