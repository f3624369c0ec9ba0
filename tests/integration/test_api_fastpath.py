"""The online-scan fast path (api/fastpath.py) answers exactly as the Litestar route does.

Two apps, each on a store of its own seeded the same way through the API, one with the fast
path and one without, get the same requests: status, headers and body bytes must agree,
for accepted scans and for every refusal (which the fast path hands to Litestar)."""

from __future__ import annotations

import asyncio
import hashlib
import inspect
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from api_fixtures import (
    ADMIN,
    API,
    SECRET,
    Seeded,
    api_client,
    bearer,
    events_path,
    gate_pass,
    make_settings,
    meal,
    ok,
    seed_school,
    token,
)
from litestar import Litestar
from litestar.testing import TestClient

from api.app import create_app
from api.fastpath import ENABLED_ENV, ScanFastPath
from api.routes_terminals import TerminalController
from api.tokens import verify_token
from api.writer import WriterBusy

pytestmark = pytest.mark.filterwarnings("ignore::litestar.exceptions.LitestarDeprecationWarning")


class Side:
    """One app of the pair: its client, what seed_school made, and its fast path if any."""

    def __init__(self, client: TestClient[Litestar], seeded: Seeded) -> None:
        self.client = client
        self.seeded = seeded
        handler = client.app.asgi_handler
        self.fast: ScanFastPath | None = handler if isinstance(handler, ScanFastPath) else None

    @property
    def app(self) -> Litestar:
        return self.client.app

    @property
    def answered(self) -> int:
        assert self.fast is not None
        return self.fast.answered


@pytest.fixture(params=["memory", "sqlite"])
def pair(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Side, Side]]:
    """(with the fast path, without it), each on its own empty store, seeded alike."""
    urls = (["memory://", "memory://"] if request.param == "memory" else
            [f"sqlite:///{tmp_path / name}" for name in ("fast.sqlite3", "plain.sqlite3")])
    with ExitStack() as stack:
        sides = []
        for url, fast in zip(urls, (True, False), strict=True):
            app = create_app(make_settings(url), background=False, scan_fast_path=fast)
            stack.callback(app.state.services.close)
            client = stack.enter_context(TestClient(app))
            sides.append(Side(client, seed_school(client)))
        fast_side, plain_side = sides
        assert fast_side.fast is not None and plain_side.fast is None
        yield fast_side, plain_side


def same_answer(pair: tuple[Side, Side], method: str, path: str, **kwargs: Any) -> httpx.Response:
    """Send one request to both apps; their answers must be byte-identical."""
    answers = [side.client.request(method, path, **kwargs) for side in pair]
    fast, plain = answers
    assert (fast.status_code, fast.headers.raw, fast.content) == (
        plain.status_code, plain.headers.raw, plain.content)
    return fast


def post_scans(pair: tuple[Side, Side], body: Any, *, terminal: str | None = None,
               auth: str = "canteen", headers: dict[str, str] | None = None) -> httpx.Response:
    """POST the same body to both apps as JSON, each with its own terminal token (`auth`:
    canteen, gate or none) unless `headers` are given; the answers must be byte-identical."""
    answers = []
    for side in pair:
        sent = headers if headers is not None else {
            "canteen": side.seeded.terminal_headers, "gate": side.seeded.gate_headers,
            "none": {}}[auth]
        content = body if isinstance(body, bytes) else msgspec.json.encode(body)
        answers.append(side.client.post(
            events_path(terminal or side.seeded.canteen), content=content,
            headers={"Content-Type": "application/json", **sent}))
    fast, plain = answers
    assert (fast.status_code, fast.headers.raw, fast.content) == (
        plain.status_code, plain.headers.raw, plain.content)
    return fast


def test_accepted_scans_answer_byte_identically_and_by_the_fast_path(
        pair: tuple[Side, Side]) -> None:
    fast_side, _ = pair
    same_answer(pair, "POST", f"{API}/children/c1/top-ups", headers=ADMIN, json={
        "payment_id": "p1", "amount_kzt": 1000, "paid_at": "2025-10-01T10:00:00+05:00"})
    before = fast_side.answered
    bodies = [
        [meal("e1", card="card-c1")],
        [meal("e2", card="card-c1", minute=20)],  # refused: already served
        [meal("e1", card="card-c1")],  # a retry: duplicate
        [meal("e1", card="card-c2", minute=40)],  # event_id_reused
        [meal("b3", child_id="c2"), meal("b4", card="card-c1", minute=10, item_ids=["bun"]),
         meal("b5", card="no-such-card"), meal("b3", child_id="c2")],
    ]
    for body in bodies:
        response = post_scans(pair, body)
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
    statuses = [o["status"] for o in response.json()]
    assert statuses == ["recorded", "recorded", "refused", "duplicate"]
    twice = (b'[{"event_id": "d1", "event_id": "d2", "kind": "meal", "child_id": "c2",'
             b' "at": "2025-10-07T03:00:00+00:00"}]')  # a repeated key: the last one counts
    assert post_scans(pair, twice).json()[0]["event_id"] == "d2"
    gate = post_scans(pair, [gate_pass("g1", card="card-c1")], terminal=fast_side.seeded.gate,
                      auth="gate")
    assert gate.json()[0]["status"] == "recorded"
    queried = same_answer(pair, "POST", events_path("s1-canteen") + "?retry=1", headers=ADMIN,
                          json=[meal("q1", child_id="c1", minute=50)])
    assert queried.status_code == 200  # a query string changes nothing on this route
    assert fast_side.answered - before == len(bodies) + 3, "the fast path did not answer them"


def test_refused_callers_get_litestars_problem_details(pair: tuple[Side, Side]) -> None:
    fast_side, _ = pair
    body = [meal("e1", card="card-c1")]
    before = fast_side.answered
    for headers in ({}, bearer("not-a-token"), {"Authorization": "Basic abc"},
                    {"Authorization": "Bearer "}, bearer(token("parent", child_ids=["c1"])),
                    bearer(token("terminal", terminal_id="s1-canteen", ttl_s=60, now=1_000))):
        response = post_scans(pair, body, headers=headers)
        assert response.status_code in (401, 403), response.text
        assert response.headers["content-type"] == "application/problem+json"
    other = post_scans(pair, body, auth="gate")  # the gate's token on the canteen's path
    assert other.status_code == 403 and b"another terminal" in other.content
    bad_body = post_scans(pair, b"[{", auth="none")  # the body is judged before the token
    assert bad_body.status_code == 400
    assert fast_side.answered == before, "the fast path answered a refusal itself"


def test_bodies_the_route_refuses_get_litestars_problem_details(pair: tuple[Side, Side]) -> None:
    fast_side, _ = pair
    good = meal("e1", card="card-c1")
    before = fast_side.answered
    cases: list[tuple[Any, int]] = [
        (b"[{", 400), (b"", 400), (b"{}", 400), (b"null", 400),
        ([{**good, "kind": "lunch"}], 400), ([{**good, "extra": 1}], 400),
        ([{**good, "at": "yesterday"}], 400), ([{**good, "at": 1759726800}], 200),
        ([], 422), ([{**good, "identifier": None}], 422),
        ([{**good, "event_id": f"x{i}"} for i in range(5_001)], 422),
    ]
    for body, status in cases:
        response = post_scans(pair, body)
        assert response.status_code == status, (body if len(str(body)) < 200 else "...", response.text)
    too_large = b"[" + b" " * (4 * 1024 * 1024) + b"]"
    assert post_scans(pair, too_large).status_code == 413
    # the lax coercion (a number for `at`) is Litestar's: the fast path decodes strictly
    assert fast_side.answered == before


def test_a_revoked_token_is_refused_after_it_was_used(pair: tuple[Side, Side]) -> None:
    assert post_scans(pair, [meal("e1", card="card-c1")]).status_code == 200
    for side in pair:
        token_id = verify_token(SECRET, side.seeded.terminal_tokens[side.seeded.canteen]).token_id
        ok(side.client.post(f"{API}/tokens/{token_id}/revocation", headers=ADMIN,
                            json={"reason": "terminal stolen"}))
    # the error names the token id, which differs between the two stores: compare the rest
    answers = [side.client.post(events_path(side.seeded.canteen), json=[meal("e2", card="card-c2")],
                                headers=side.seeded.terminal_headers) for side in pair]
    assert [a.status_code for a in answers] == [401, 401]
    assert answers[0].headers.raw == answers[1].headers.raw
    assert all(b"was revoked" in a.content for a in answers)


def test_the_writers_errors_and_a_full_queue_answer_as_litestar_does(
        pair: tuple[Side, Side], monkeypatch: pytest.MonkeyPatch) -> None:
    fast_side, _ = pair
    body = [meal("e1", card="card-c1")]
    before = fast_side.answered
    unknown = same_answer(pair, "POST", events_path("no-such-terminal"), json=body, headers=ADMIN)
    assert unknown.status_code == 404 and unknown.headers["content-type"] == "application/problem+json"
    encoded = same_answer(pair, "POST", f"{API}/terminals/no%20such%2Fone/events", json=body,
                          headers=ADMIN)
    assert encoded.status_code == 404 and b'"Not Found"' in encoded.content, encoded.text  # no route
    spaced = same_answer(pair, "POST", f"{API}/terminals/no%20such/events", json=body,
                         headers=ADMIN)
    assert b"'no such'" in spaced.content, spaced.text
    assert fast_side.answered == before + 2  # both submitted, so answered here, never resubmitted

    def busy(*_: Any) -> None:
        raise WriterBusy("the ledger's write queue is full; retry in a moment")

    for side in pair:
        monkeypatch.setattr(side.app.state.services.writer, "submit_awaitable", busy)
    assert post_scans(pair, body).status_code == 429
    monkeypatch.undo()

    def broken(*_: Any) -> None:
        raise RuntimeError("the disk is on fire")

    for side in pair:
        monkeypatch.setattr(side.app.state.services.ledger, "record_terminal_events", broken)
    assert post_scans(pair, body).status_code == 500


def test_odd_requests_are_left_to_litestar(pair: tuple[Side, Side]) -> None:
    fast_side, _ = pair
    body = msgspec.json.encode([meal("e1", card="card-c1")])
    before = fast_side.answered
    canteen = fast_side.seeded.canteen
    for method, path, headers in (
            ("GET", events_path(canteen), {}), ("PUT", events_path(canteen), {}),
            ("POST", events_path(canteen) + "/", {}), ("POST", f"{API}/terminals//events", {}),
            ("POST", events_path(canteen), {"Content-Type": "text/plain"}),
            ("POST", events_path(canteen), {"Content-Type": "application/json; charset=utf-8"})):
        answers = [side.client.request(method, path, content=body, headers={
            "Content-Type": "application/json", **headers, **side.seeded.terminal_headers})
            for side in pair]
        fast, plain = answers
        assert (fast.status_code, fast.headers.raw, fast.content) == (
            plain.status_code, plain.headers.raw, plain.content), (method, path, headers)
    assert fast_side.answered == before


async def _drive(app: Litestar, headers: list[tuple[bytes, bytes]],
                 chunks: list[bytes]) -> list[dict[str, Any]]:
    """Call the app as a server would, the body in `chunks`; what it sent."""
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": events_path("s1-canteen"),
             "raw_path": events_path("s1-canteen").encode(), "query_string": b"",
             "root_path": "", "headers": headers, "client": ("127.0.0.1", 1),
             "server": ("testserver", 80)}
    messages = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
                for i, c in enumerate(chunks)]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop(0)
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)  # type: ignore[arg-type]
    return sent


def _run_alone(make: Any, *args: Any) -> Any:
    """`asyncio.run(make(*args))` in a thread of its own: an earlier test in this worker (the
    browser tests) may have left an event loop running in this one."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(make(*args))).result()


def test_a_body_read_in_pieces_is_replayed_whole_to_litestar(pair: tuple[Side, Side]) -> None:
    """Chunks, a body over the limit under a Content-Length that lied, a bad token: the
    fast path read the body, so Litestar must get every byte of it again."""
    fast_side, plain_side = pair
    body = msgspec.json.encode([meal("e1", card="card-c1")])
    chunks = [body[:7], body[7:30], body[30:]]
    cases = [
        ([(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
          (b"authorization", b"Bearer nonsense")], chunks),
        ([(b"content-length", b"10"),
          (b"authorization", b"Bearer " + token("admin").encode())],
         [b"[" + b" " * (2 * 1024 * 1024), b" " * (2 * 1024 * 1024) + b"]"]),
        ([(b"transfer-encoding", b"chunked"),
          (b"authorization", b"Bearer " + token("admin").encode())], chunks),
    ]
    for headers, pieces in cases:
        fast = _run_alone(_drive, fast_side.app, headers, list(pieces))
        plain = _run_alone(_drive, plain_side.app, headers, list(pieces))
        assert fast == plain
    assert [m["status"] for m in fast if m["type"] == "http.response.start"] == [200]
    assert fast_side.answered == 0


def test_the_fast_path_serves_scans_beside_the_background_writer(store_url: str) -> None:
    with api_client(store_url, background=True) as client:
        fast = client.app.asgi_handler
        assert isinstance(fast, ScanFastPath)
        seeded = seed_school(client, children=[(f"c{i}", 3, None) for i in range(8)])

        def one(i: int) -> list[dict[str, Any]]:
            return ok(client.post(events_path(seeded.canteen), headers=seeded.terminal_headers,  # type: ignore[no-any-return]
                                  json=[meal(f"e{i}", card=f"card-c{i % 8}", minute=i)]), 200)

        with ThreadPoolExecutor(8) as pool:
            outcomes = [o for answer in pool.map(one, range(16)) for o in answer]
        assert sorted(o["status"] for o in outcomes) == ["recorded"] * 8 + ["refused"] * 8
        assert fast.answered == 16
        assert f"{API}/terminals/{{terminal_id}}/events" in client.get("/schema/openapi.json").text


def test_the_switch_leaves_the_fast_path_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENABLED_ENV, "0")
    app = create_app(make_settings("memory://"), background=False)
    try:
        assert not isinstance(app.asgi_handler, ScanFastPath)
    finally:
        app.state.services.close()
    monkeypatch.setenv(ENABLED_ENV, "1")
    app = create_app(make_settings("memory://"), background=False)
    try:
        assert isinstance(app.asgi_handler, ScanFastPath)
    finally:
        app.state.services.close()


ROUTE_FINGERPRINT = "aca17d2c916b1b0e"


def test_the_route_the_fast_path_mirrors_is_unchanged() -> None:
    """A tripwire: api/fastpath.py repeats TerminalController.post_events step by step. If
    the route changes, make the same change there, then record the new fingerprint here."""
    source = inspect.getsource(TerminalController.post_events.fn)
    assert hashlib.sha256(source.encode()).hexdigest()[:16] == ROUTE_FINGERPRINT


def test_the_fast_path_stays_out_of_an_app_that_changes_responses() -> None:
    """Headers, CORS or an after-request hook on the app would be missing from the fast
    path's answers: then Litestar answers every request."""
    from litestar.config.cors import CORSConfig
    from litestar.datastructures import ResponseHeader

    from api.errors import EXCEPTION_HANDLERS
    from api.fastpath import install

    plain: dict[str, Any] = {"route_handlers": [TerminalController],
                             "exception_handlers": EXCEPTION_HANDLERS}
    assert install(Litestar(**plain))
    for extra in ({"response_headers": [ResponseHeader(name="x-served-by", value="a")]},
                  {"cors_config": CORSConfig()}, {"after_request": lambda response: response},
                  {"debug": True}):
        app = Litestar(**plain, **extra)
        assert not install(app) and not isinstance(app.asgi_handler, ScanFastPath), extra
