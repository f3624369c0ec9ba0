"""The HTTP client: request shape and the mapping of answers to named errors."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import httpx
import pytest

from terminals.client import (EventItem, Identifier, OfflineDecision, ServerAuthError, ServerClient, ServerRejected,
                              ServerUnavailable)

ITEM = EventItem(event_id="e-1", kind="meal", at=datetime(2026, 3, 2, 6, 30, tzinfo=timezone.utc),
                 identifier=Identifier("card", "111"),
                 offline_decision=OfflineDecision(outcome="funded", amount_kzt=0, reason=None))


def client_answering(handler: object) -> ServerClient:
    return ServerClient("http://server", "t-1", "tok", transport=httpx.MockTransport(handler))  # type: ignore[arg-type]


def test_events_are_posted_as_the_contract_says() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=[{"event_id": "e-1", "status": "recorded", "reason": None, "funding": "funded",
                                          "amount_kzt": 585, "balance_kzt": 0, "first_name": "A", "flagged": False}])

    (result,) = client_answering(handler).post_events([ITEM])
    assert result.funding == "funded" and result.amount_kzt == 585
    request = seen[0]
    assert request.url.path == "/api/v1/terminals/t-1/events"
    assert request.headers["Authorization"] == "Bearer tok"
    assert json.loads(request.content) == [{
        "event_id": "e-1", "kind": "meal", "at": "2026-03-02T06:30:00Z",
        "identifier": {"kind": "card", "token": "111"},
        "offline_decision": {"outcome": "funded", "amount_kzt": 0, "reason": None}}]


@pytest.mark.parametrize("status, error", [(401, ServerAuthError), (403, ServerAuthError), (500, ServerUnavailable),
                                           (503, ServerUnavailable), (422, ServerRejected)])
def test_http_errors_map_to_named_errors(status: int, error: type[Exception]) -> None:
    problem = {"type": "urn:tamaq:bad", "title": "Bad", "status": status, "detail": "item 0: at is not UTC"}
    client = client_answering(lambda r: httpx.Response(status, json=problem,
                                                       headers={"Content-Type": "application/problem+json"}))
    with pytest.raises(error) as raised:
        client.post_events([ITEM])
    if isinstance(raised.value, ServerRejected):
        assert raised.value.problem["detail"] == "item 0: at is not UTC"


def test_timeouts_and_answers_for_other_events_mean_unavailable() -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    with pytest.raises(ServerUnavailable):
        client_answering(slow).post_events([ITEM])
    wrong = [{"event_id": "other", "status": "recorded"}]
    with pytest.raises(ServerUnavailable):
        client_answering(lambda r: httpx.Response(200, json=wrong)).post_events([ITEM])


def test_batches_are_limited() -> None:
    with pytest.raises(ValueError):
        client_answering(lambda r: httpx.Response(200, json=[])).post_events([])
