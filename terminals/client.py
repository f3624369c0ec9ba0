"""HTTP client for the terminal endpoints of the server API (issue 5).

Errors::

    ServerError
    ├── ServerUnavailable   no answer in time, connection refused, 5xx: the gateway goes offline
    ├── ServerAuthError     401/403: the token is bad or revoked (needs a person, not a retry)
    └── ServerRejected      another 4xx: a problem-details answer about the request itself
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import httpx
import msgspec

TIMEOUT_S_DEFAULT = 2.0
BATCH_ITEMS_MAX = 5000


class Identifier(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    kind: Literal["palm", "card"]
    token: str


class OfflineDecision(msgspec.Struct, frozen=True):
    outcome: Literal["funded", "paid", "refused"]
    amount_kzt: int
    reason: str | None  # no default: always sent, null when there is none


class EventItem(msgspec.Struct, frozen=True, omit_defaults=True):
    event_id: str
    kind: Literal["gate_pass", "meal"]
    at: datetime
    identifier: Identifier | None = None
    child_id: str | None = None
    staff_id: str | None = None
    direction: Literal["in", "out"] | None = None
    method: Literal["palm", "card", "manual"] | None = None
    authorized_by: str | None = None
    item_ids: list[str] | None = None
    offline_decision: OfflineDecision | None = None


class EventResult(msgspec.Struct, frozen=True):
    event_id: str
    status: Literal["recorded", "duplicate", "refused"]
    reason: str | None = None
    funding: str | None = None
    amount_kzt: int | None = None
    balance_kzt: int | None = None
    first_name: str | None = None
    flagged: bool = False


class CacheIdentifier(msgspec.Struct, frozen=True):
    kind: Literal["palm", "card"]
    token: str
    child_id: str | None = None
    staff_id: str | None = None
    first_name: str | None = None
    entitled_today: bool = False
    band: str | None = None
    balance_kzt: int = 0
    overdraft_kzt: int = 0
    allergens: list[str] = []
    served_today: bool = False


class MenuItem(msgspec.Struct, frozen=True):
    item_id: str
    name: str
    price_kzt: int
    allergens: list[str] = []
    free_meal: bool = False


class TerminalCache(msgspec.Struct, frozen=True):
    terminal_id: str
    school_id: str
    kind: Literal["gate", "canteen"]
    date: str
    generated_at: datetime
    school_day: bool
    identifiers: list[CacheIdentifier] = []
    menu: list[MenuItem] = []


class ServerError(Exception):
    """Base of the client's errors."""


class ServerUnavailable(ServerError):
    """The server did not answer usefully in time; decide offline."""


class ServerAuthError(ServerError):
    """401/403: the terminal token was refused."""


class ServerRejected(ServerError):
    """A 4xx problem-details answer about the request."""

    def __init__(self, status: int, problem: dict[str, object]) -> None:
        self.status, self.problem = status, problem
        super().__init__(f"server refused the request ({status}): {problem.get('title')} {problem.get('detail')}")


_results = msgspec.json.Decoder(list[EventResult])
_cache = msgspec.json.Decoder(TerminalCache)
_encoder = msgspec.json.Encoder()


class ServerClient:
    """One HTTP connection pool to the server for one terminal; not shared across threads."""

    def __init__(self, server_url: str, terminal_id: str, token: str, timeout_s: float = TIMEOUT_S_DEFAULT,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.terminal_id = terminal_id
        self.timeout_s = timeout_s
        self._http = httpx.Client(base_url=server_url.rstrip("/"), transport=transport,
                                  headers={"Authorization": f"Bearer {token}"},
                                  timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 1.0)),
                                  limits=httpx.Limits(max_connections=2, max_keepalive_connections=1))

    def close(self) -> None:
        self._http.close()

    def post_events(self, items: list[EventItem], timeout_s: float | None = None) -> list[EventResult]:
        if not 1 <= len(items) <= BATCH_ITEMS_MAX:
            raise ValueError(f"a batch carries 1..{BATCH_ITEMS_MAX} items, not {len(items)}")
        response = self._send("POST", f"/api/v1/terminals/{self.terminal_id}/events",
                              _encoder.encode(items), timeout_s)
        try:
            results = _results.decode(response.content)
        except msgspec.ValidationError as e:
            raise ServerUnavailable(f"unreadable answer from server: {e}") from e
        if [r.event_id for r in results] != [i.event_id for i in items]:
            raise ServerUnavailable("server answered for other events than those sent")
        return results

    def get_cache(self, timeout_s: float | None = None) -> TerminalCache:
        response = self._send("GET", f"/api/v1/terminals/{self.terminal_id}/cache", None, timeout_s)
        try:
            return _cache.decode(response.content)
        except msgspec.ValidationError as e:
            raise ServerUnavailable(f"unreadable cache from server: {e}") from e

    def _send(self, method: str, path: str, body: bytes | None, timeout_s: float | None) -> httpx.Response:
        timeout = httpx.Timeout(timeout_s, connect=min(timeout_s, 1.0)) if timeout_s else None
        headers = {"Content-Type": "application/json"} if body is not None else None
        try:
            response = self._http.request(method, path, content=body, headers=headers,
                                          timeout=timeout if timeout else httpx.USE_CLIENT_DEFAULT)
        except httpx.HTTPError as e:
            raise ServerUnavailable(f"{method} {path}: {type(e).__name__}: {e}") from e
        if response.status_code >= 500:
            raise ServerUnavailable(f"{method} {path}: HTTP {response.status_code}")
        if response.status_code in (401, 403):
            raise ServerAuthError(f"{method} {path}: HTTP {response.status_code}: token refused")
        if response.status_code != 200:
            raise ServerRejected(response.status_code, _problem(response))
        return response


def _problem(response: httpx.Response) -> dict[str, object]:
    try:
        data = response.json()
    except ValueError:
        return {"title": response.reason_phrase, "detail": response.text[:200]}
    return data if isinstance(data, dict) else {"detail": str(data)[:200]}
