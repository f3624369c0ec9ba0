"""Auditors: verify the hash chain, and read the stored events with their links (JSON lines)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import msgspec
from litestar.params import FromQuery
from litestar import Controller, Request, get
from litestar.response import Stream

from api.auth import claims_of, need_role
from api.routes_setup import services
from ledger.audit import verify
from ledger.errors import InvalidInput
from ledger.persistence.chain import iter_events_with_links
from ledger.persistence.verify import VerifyResult

EVENTS_LIMIT_MAX = 100_000
AUDITORS = ("auditor",)


class AuditEvent(msgspec.Struct, frozen=True):
    position: int
    originator_id: str
    originator_version: int
    topic: str
    state: str  # the stored bytes as text (msgspec JSON)
    link: str


class Verification(msgspec.Struct, frozen=True):
    ok: bool
    summary: str
    result: VerifyResult


class AuditController(Controller):
    path = "/api/v1/audit"
    tags = ["audit"]

    @get("/verify", sync_to_thread=True)
    def verify(self, request: Request[Any, Any, Any], position: FromQuery[int | None] = None,
               head: FromQuery[str | None] = None) -> Verification:
        """Recompute the chain; optionally also against a (position, head) you kept."""
        need_role(claims_of(request), *AUDITORS, what="verify the chain")
        kept = []
        if position is not None or head is not None:
            if position is None or head is None or len(head) != 64:
                raise InvalidInput("head", "give both position and head (64 hex digits)")
            kept.append((position, head))
        result = verify(services(request).ledger, kept=kept)
        return Verification(result.ok, result.summary(), result)

    @get("/events", sync_to_thread=False)
    def events(self, request: Request[Any, Any, Any], after: FromQuery[int] = 0,
               limit: FromQuery[int] = 1_000) -> Stream:
        """Stored events after a position, one JSON object a line, with their chain links."""
        need_role(claims_of(request), *AUDITORS, what="read the event log")
        if after < 0:
            raise InvalidInput("after", "must be 0 or more")
        if not 1 <= limit <= EVENTS_LIMIT_MAX:
            raise InvalidInput("limit", f"must be 1 to {EVENTS_LIMIT_MAX}")
        recorder = services(request).ledger.recorder
        encoder = msgspec.json.Encoder()

        def lines() -> Iterator[bytes]:
            for pos, oid, version, topic, state, link in iter_events_with_links(
                    recorder, after=after, limit=limit):
                yield encoder.encode(AuditEvent(pos, str(oid), version, topic,
                                                bytes(state).decode("utf-8", "replace"),
                                                bytes(link).hex())) + b"\n"

        return Stream(lines(), media_type="application/x-ndjson")
