"""Parent notifications as Server-Sent Events, from the outbox; each sent one is marked
delivered. A stream lasts a bounded time; EventSource reconnects with Last-Event-ID."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import msgspec
from litestar.params import FromPath, FromQuery
from litestar import Controller, Request, get
from litestar.response import ServerSentEvent, ServerSentEventMessage

from api.auth import check_child, claims_of
from api.routes_setup import services
from projections.outbox import mark_delivered, pending

STREAM_S_MAX = 60.0
POLL_S = 0.5


class NotificationController(Controller):
    path = "/api/v1/children/{child_id:str}/notifications"
    tags = ["parents"]

    @get("/", sync_to_thread=False)
    def stream(self, request: Request[Any, Any, Any], child_id: FromPath[str],
               wait_s: FromQuery[float] = 25.0) -> ServerSentEvent:
        svc = services(request)
        check_child(svc, claims_of(request), child_id, "parent", "school-admin",
                    what="read notifications")
        svc.runner.wait_for(svc.head(), timeout_s=2.0)  # read-your-writes for the first page
        last = request.headers.get("last-event-id", "0")
        after = int(last) if last.isdigit() else 0
        limit_s = max(0.0, min(wait_s, STREAM_S_MAX))

        async def events() -> AsyncIterator[ServerSentEventMessage]:
            nonlocal after
            loop = asyncio.get_running_loop()
            deadline = loop.time() + limit_s
            while True:
                batch = await asyncio.to_thread(pending, svc.runner.db, child_id, after)
                for note in batch:
                    yield ServerSentEventMessage(
                        data=msgspec.json.encode(note).decode(), event=note.kind,
                        id=str(note.position))
                if batch:
                    after = batch[-1].position
                    await asyncio.to_thread(mark_delivered, svc.runner.db,
                                            [n.position for n in batch])
                    continue
                if loop.time() >= deadline:
                    return
                await asyncio.sleep(POLL_S)

        return ServerSentEvent(events())
