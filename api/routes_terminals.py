"""Terminals: the batch of scans (an online scan is a batch of one) and the offline cache."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar.params import FromPath, JSONBody
from litestar import Controller, Request, Response, get, post

from api.auth import check_terminal, claims_of
from api.routes_setup import services
from api.writer import WriterBusy
from ledger import limits
from ledger.base import stable_id
from ledger.child import Child
from ledger.dates import local_day, utc_now
from ledger.errors import NotFound
from ledger.scans import ItemOutcome, TerminalItem, validate_items
from ledger.school import Menu, School, Terminal
from projections.lists import day_bit, on_day

Batch = Annotated[list[TerminalItem], msgspec.Meta(min_length=1, max_length=limits.BATCH_ITEMS_MAX)]


class CachedIdentifier(msgspec.Struct, frozen=True):
    kind: str
    token: str
    child_id: str | None
    staff_id: str | None
    first_name: str | None
    entitled_today: bool
    band: str | None
    balance_kzt: int
    overdraft_kzt: int
    allergens: list[str]
    served_today: bool


class TerminalCache(msgspec.Struct, frozen=True):
    terminal_id: str
    school_id: str
    kind: str
    date: str
    generated_at: str
    school_day: bool
    identifiers: list[CachedIdentifier]
    menu: list[dict[str, Any]]
    position: int


class TerminalController(Controller):
    path = "/api/v1/terminals/{terminal_id:str}"
    tags = ["terminals"]

    @post("/events", status_code=200)
    async def post_events(self, request: Request[Any, Any, Any], terminal_id: FromPath[str],
                          data: JSONBody[Batch]) -> list[ItemOutcome]:
        check_terminal(claims_of(request), terminal_id)
        validate_items(data)
        try:
            future = services(request).writer.submit_awaitable(terminal_id, data)
        except WriterBusy as error:
            from litestar.exceptions import HTTPException

            raise HTTPException(status_code=429, detail=str(error)) from None
        return await future

    @get("/cache", sync_to_thread=True)
    def get_cache(self, request: Request[Any, Any, Any], terminal_id: FromPath[str]) -> TerminalCache:
        check_terminal(claims_of(request), terminal_id)
        return build_cache(services(request), terminal_id)


def build_cache(svc: Any, terminal_id: FromPath[str]) -> TerminalCache:
    ledger = svc.ledger
    terminal = ledger.load(Terminal, stable_id("terminal", terminal_id))
    if terminal is None:
        raise NotFound("terminal", terminal_id)
    school_id = terminal.school_id
    today = local_day(utc_now(), svc.settings.time_zone).isoformat()
    with svc.read() as cur:
        school = ledger.load(School, stable_id("school", school_id))  # not the writer's cache
        if school is None:
            raise NotFound("school", school_id)
        rows = cur.fetchall(
            "SELECT i.kind, i.token, i.child_id, i.staff_id, c.grade, c.allergens,"
            " d.entitled, d.band, coalesce(b.balance_kzt, 0),"
            " (SELECT count(*) FROM pm_meal m WHERE m.child_id = i.child_id AND m.day = ?"
            "  AND m.funding = 'funded' AND m.voided_position IS NULL)"
            " FROM pm_identifier i LEFT JOIN pm_child c ON c.child_id = i.child_id"
            f" LEFT JOIN pm_child_month d ON d.child_id = i.child_id AND {on_day('d', '?')}"
            " LEFT JOIN pm_balance b ON b.child_id = i.child_id"
            " LEFT JOIN pm_staff s ON s.staff_id = i.staff_id"
            " WHERE i.active = 1 AND (c.school_id = ? OR s.school_id = ?)"
            " ORDER BY i.kind, i.token", (today, today[:7], day_bit(today), school_id, school_id))
        position = svc.head()
    identifiers = []
    for kind, token, child_id, staff_id, _grade, allergens, entitled, band, balance, served in rows:
        first_name = None
        if child_id is not None:
            child = ledger.load(Child, stable_id("child", child_id))
            if child is None or child.withdrawn_on is not None:
                continue
            first_name = ledger.personal_data(child).first_name
        identifiers.append(CachedIdentifier(
            kind, token, child_id, staff_id, first_name, bool(entitled), band, int(balance),
            school.overdraft_limit_kzt, [a for a in (allergens or "").split(",") if a],
            bool(served)))
    menu = ledger.load(Menu, stable_id("menu", school_id, today))
    items = [msgspec.structs.asdict(i) for i in menu.items.values()] if menu else []
    return TerminalCache(terminal_id, school_id, terminal.kind, today, utc_now().isoformat(),
                         school.is_school_day(local_day(utc_now(), svc.settings.time_zone)),
                         identifiers, items, position)


_ = Response
