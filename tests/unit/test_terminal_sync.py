"""Journal sync: in order, acknowledged, and one bad item does not block the others."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import httpx

from terminals.client import EventItem, Identifier, ServerClient
from terminals.gateway import Gateway, GatewayConfig
from terminals.journal import Journal
from terminals.transport import MemoryTransport


def gateway_with(handler: object, journal: Journal) -> Gateway:
    client = ServerClient("http://server", "t-1", "tok", transport=httpx.MockTransport(handler))  # type: ignore[arg-type]
    return Gateway(GatewayConfig("t-1", sync_batch_max=3), MemoryTransport.pair()[0], client, client, journal)


def item(n: int) -> EventItem:
    return EventItem(event_id=f"e-{n}", kind="meal", at=datetime.now(timezone.utc), identifier=Identifier("card", "1"))


def test_batches_go_in_order_and_a_rejected_item_is_set_aside(tmp_path: Path) -> None:
    batches: list[list[str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":  # the cache refresh after the journal is empty
            return httpx.Response(503)
        ids = [i["event_id"] for i in json.loads(request.content)]
        batches.append(ids)
        if "e-1" in ids:
            return httpx.Response(422, json={"type": "t", "title": "bad item", "status": 422, "detail": "e-1"})
        return httpx.Response(200, json=[{"event_id": i, "status": "recorded"} for i in ids])

    journal = Journal(tmp_path / "j.db")
    for n in range(5):
        journal.append(item(n))
    gateway = gateway_with(handler, journal)
    while gateway.syncer.step():
        pass
    assert batches == [["e-0", "e-1", "e-2"], ["e-0"], ["e-1"], ["e-2"], ["e-3", "e-4"]]
    assert journal.statuses() == {"e-0": "recorded", "e-1": "refused", "e-2": "recorded", "e-3": "recorded",
                                  "e-4": "recorded"}


def test_a_failed_sync_takes_the_gateway_offline_and_keeps_the_journal(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.db")
    journal.append(item(0))
    gateway = gateway_with(lambda r: httpx.Response(503), journal)
    assert gateway.syncer.step() is False
    assert not gateway.online.is_set() and journal.pending_count() == 1
