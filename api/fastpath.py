"""A lean path for the online scan, `POST /api/v1/terminals/{terminal_id}/events`, in front of
Litestar's request cycle.

Why: under 32 terminals the HTTP process's event loop was ~50 % busy, nearly all of it in
Litestar's per-request work (body extraction, kwargs, signature model, response), and it
shares the GIL with the scan writer. This path takes the steps of
`TerminalController.post_events`: the same bearer check (`verified`: signature and expiry,
then revocation, `check_terminal`), the same `Batch` type, `validate_items`, the same writer;
it answers only once the writer's future is done (after the commit), with the status,
headers and bytes Litestar would send. A change to that route needs the same change here
(tests/integration/test_api_fastpath.py holds a fingerprint of the route's source).

It answers only a request it is sure of. Anything else (another path or method, an odd
header, a body over the limit, a bad or missing token, another terminal, a body that does not
decode or validate, a full writer queue) goes to Litestar unchanged, the body it already read
replayed through `receive`: errors keep their problem details, and the route stays in the
OpenAPI schema. An error from the writer (the scans were submitted: not to be submitted
again) is answered by the app's own exception handlers.

`TAMAQ_SCAN_FAST_PATH=0` leaves it out (A/B measurements, a suspected difference)."""

from __future__ import annotations

import asyncio
import logging
import os
from inspect import getmro
from typing import Any

import msgspec
from litestar import Litestar, Response
from litestar.enums import ScopeType
from litestar.exceptions import HTTPException
from litestar.types import ASGIApp, Receive, ReceiveMessage, Scope, Send

from api.auth import check_terminal, verified
from api.routes_terminals import Batch, TerminalController
from ledger.scans import validate_items

log = logging.getLogger("tamaq.api")
ENABLED_ENV = "TAMAQ_SCAN_FAST_PATH"
ROUTE = "/api/v1/terminals/{terminal_id:str}/events"
PREFIX = "/api/v1/terminals/"
SUFFIX = "/events"
JSON = b"application/json"

_decoder = msgspec.json.Decoder(Batch)
_encoder = msgspec.json.Encoder()


def enabled() -> bool:
    return os.environ.get(ENABLED_ENV, "1").strip() != "0"


def install(app: Litestar) -> bool:
    """Put the fast path in front of `app`'s exception middleware and router: inside
    `Litestar.__call__`, so the scope and any before_send hook are as for every request.
    Refused (False, Litestar answers everything) when the route is not the one mirrored here
    or anything layered on it would change a response: middleware, guards, hooks, headers,
    cookies, type codecs, debug answers."""
    handler = _route_handler(app)
    reason = _not_plain(app, handler)
    if reason is not None:
        log.warning("scan fast path not installed: %s", reason)
        return False
    app.asgi_handler = ScanFastPath(app, app.asgi_handler,  # type: ignore[assignment]
                                    handler.resolve_request_max_body_size(),
                                    handler.resolve_exception_handlers())
    return True


def _route_handler(app: Litestar) -> Any:
    for route in app.routes:
        if route.path == ROUTE:
            entry = getattr(route, "route_handler_map", {}).get("POST")
            return entry[0] if entry else None
    return None


def _not_plain(app: Litestar, handler: Any) -> str | None:
    if handler is None or (getattr(handler.fn, "__func__", None)
                            is not TerminalController.post_events.fn):
        return "the route is not TerminalController.post_events"
    if (handler.status_code != 200 or handler.media_type != "application/json"
            or handler.resolve_response_class() is not Response or handler.background
            or handler.cache or handler.etag):
        return "the route answers differently"
    layered = {
        "middleware": handler.resolve_middleware() or app.cors_config,
        "guards": handler.resolve_guards(),
        "hooks": (handler.resolve_before_request() or handler.resolve_after_response()
                  or any(layer.after_request for layer in handler.ownership_layers)
                  or app.after_exception),
        "headers or cookies": (handler.resolve_response_headers()
                               or handler.resolve_response_cookies()),
        "type codecs": handler.resolve_type_encoders() or handler.resolve_type_decoders(),
        "dependencies": handler.resolve_dependencies(),
        "debug answers": (app.debug or app.pdb_on_exception
                          or getattr(app.logging_config, "log_exceptions", None) == "always"),
        "a handler for every exception": Exception not in handler.resolve_exception_handlers(),
    }
    found = [what for what, there in layered.items() if there]
    return ", ".join(found) if found else None


class ScanFastPath:
    """The ASGI callable: scans it is sure of, everything else to `inner` (Litestar)."""

    def __init__(self, app: Litestar, inner: ASGIApp, body_bytes_max: int | None,
                 exception_handlers: dict[Any, Any]) -> None:
        self.app = app
        self.inner = inner
        self.body_bytes_max = body_bytes_max
        self.exception_handlers = exception_handlers
        self.answered = 0  # requests this path answered itself (tests tell the paths apart)

    async def __call__(self, scope: Scope, receive: Receive,
                       send: Send) -> None:
        terminal_id = _terminal_of(scope)
        authorization = _plain_headers(scope, self.body_bytes_max) if terminal_id else None
        if terminal_id is None or authorization is None:
            await self.inner(scope, receive, send)
            return
        messages, body = await _read_body(receive, self.body_bytes_max)
        future = None if body is None else self._submit(terminal_id, authorization, body)
        if future is None:
            await self.inner(scope, _replay(messages, receive), send)
            return
        self.answered += 1
        try:
            payload = _encoder.encode(await future)
        except Exception as error:  # noqa: BLE001 - submitted: answer it, never resubmit
            await self._problem(scope, _replay(messages, receive), send, error)
            return
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", JSON),
                                (b"content-length", str(len(payload)).encode())]})
        await send({"type": "http.response.body", "body": payload, "more_body": False})

    def _submit(self, terminal_id: str, authorization: str,
                body: bytes) -> asyncio.Future[Any] | None:
        """The route's own steps; None wherever it would answer anything but 200 (Litestar
        then says why, in its own words)."""
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return None
        services = self.app.state.services
        try:
            claims = verified(services.settings.token_secret, token)
            if services.is_revoked(claims.token_id):
                return None
            check_terminal(claims, terminal_id)
            items = _decoder.decode(body)
            validate_items(items)
            return services.writer.submit_awaitable(terminal_id, items)  # type: ignore[no-any-return]
        except Exception:  # noqa: BLE001 - refused, invalid, WriterBusy (nothing queued)
            return None

    async def _problem(self, scope: Scope, receive: Receive, send: Send,
                       error: Exception) -> None:
        """As Litestar's exception middleware answers an error raised in the route."""
        handler = _exception_handler(self.exception_handlers, error)
        request = self.app.request_class(scope=scope, receive=receive, send=send)  # type: ignore[arg-type]
        response = handler(request, error)
        await response.to_asgi_response(app=None, request=request)(scope, receive, send)


def _terminal_of(scope: Scope) -> str | None:
    if scope["type"] != ScopeType.HTTP:
        return None
    if scope["method"] != "POST" or scope.get("root_path"):
        return None
    path: str = scope["path"]
    if not path.startswith(PREFIX) or not path.endswith(SUFFIX):
        return None
    terminal_id = path[len(PREFIX):-len(SUFFIX)]
    return terminal_id if terminal_id and "/" not in terminal_id else None


def _plain_headers(scope: Scope, body_bytes_max: int | None) -> str | None:
    """The Authorization value of a request whose headers hold no surprise: one
    Authorization, a Content-Length within the limit, JSON or no content type, no transfer
    or content encoding. None: let Litestar judge it."""
    authorization: bytes | None = None
    length: bytes | None = None
    for name, value in scope["headers"]:
        name = name.lower()
        if name == b"authorization":
            if authorization is not None:
                return None
            authorization = value
        elif name == b"content-length":
            if length is not None:
                return None
            length = value
        elif name == b"content-type":
            if value.lower() != JSON:
                return None
        elif name in (b"transfer-encoding", b"content-encoding"):
            return None
    if authorization is None or length is None or not length.isdigit():
        return None
    if body_bytes_max is not None and int(length) > body_bytes_max:
        return None
    return authorization.decode("latin-1")


async def _read_body(receive: Receive, body_bytes_max: int | None
                     ) -> tuple[list[ReceiveMessage], bytes | None]:
    """Every message received (to replay) and the body; None for the body when the request
    ended otherwise or grew past the limit."""
    messages: list[ReceiveMessage] = []
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return messages, None
        chunk = message.get("body", b"")
        size += len(chunk)
        if body_bytes_max is not None and size > body_bytes_max:
            return messages, None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return messages, b"".join(chunks)


def _replay(messages: list[ReceiveMessage], receive: Receive) -> Receive:
    """`receive` as if nothing had been read: the messages taken, then the connection's own."""
    pending = list(messages)

    async def replayed() -> ReceiveMessage:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed


def _exception_handler(handlers: dict[Any, Any], error: Exception) -> Any:
    """Litestar's choice (litestar.middleware._internal.exceptions): a status code first for
    an HTTPException, else the nearest class in the error's MRO, else a 500 handler."""
    if isinstance(error, HTTPException) and error.status_code in handlers:
        return handlers[error.status_code]
    default = None if isinstance(error, HTTPException) else handlers.get(500)
    return next((handlers[cls] for cls in getmro(type(error)) if cls in handlers), default)
