"""Given-helpers for HTTP tests: an app on a store URL, tokens per role, a school set up
through the API itself.

    with api_client("memory://") as client:
        seeded = seed_school(client)                       # region r1, school s1, 2025-10
        response = client.post(events_path(seeded.canteen), json=[meal("e1", card="card-c1")],
                               headers=seeded.terminal_headers)

Every helper goes through HTTP, so a test that uses them tests the real request path:
parsing, auth, the writer and the read models.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from litestar import Litestar
from litestar.testing import TestClient

from api.app import create_app
from api.tokens import issue_token
from ledger.settings import Settings, load_settings

SECRET = "api-test-secret-0123456789abcdef"
TOKEN_TTL_S = 3_600
LOCAL = ZoneInfo("Asia/Almaty")
API = "/api/v1"
MONTH = "2025-10"
NEXT_MONTH = "2025-11"
SCHOOL_YEAR = "2025-2026"
ENROLLED_ON = date(2025, 9, 1)
SCHOOL_DAY = date(2025, 10, 6)  # a Monday
PROBLEM_JSON = "application/problem+json"

# Distinctive personal data: a region or auditor body must never contain any of it.
PERSONAL = {
    "c1": ("Zhanelya", "Qwertybayeva", "120315500123"),
    "c2": ("Bekzhanbol", "Asdfghzhanov", "100720600456"),
    "c3": ("Nurgulsim", "Zxcvbekova", "110101400789"),
    "c4": ("Tolkynbibi", "Poiuytova", "090909300111"),
}
SENIOR_CATEGORIES = ["large_family", "low_income", "disability"]
LUNCH = {"item_id": "lunch", "name": "Lunch", "price_kzt": 700, "allergens": [],
         "free_meal": True}
BUN = {"item_id": "bun", "name": "Bun", "price_kzt": 150, "allergens": ["gluten"],
       "free_meal": False}


def make_settings(store_url: str) -> Settings:
    return load_settings({"TAMAQ_DATABASE_URL": store_url, "TAMAQ_TOKEN_SECRET": SECRET})


@contextmanager
def api_app(store_url: str, *, background: bool = False) -> Iterator[Litestar]:
    """The app on `store_url`; its ledger is closed afterwards."""
    app = create_app(make_settings(store_url), background=background)
    try:
        yield app
    finally:
        app.state.services.close()


@contextmanager
def api_client(store_url: str, *, background: bool = False) -> Iterator[TestClient[Litestar]]:
    """A TestClient (lifespan run, so background threads start when asked) on `store_url`."""
    with api_app(store_url, background=background) as app, TestClient(app) as client:
        yield client


def token(role: str, *, ttl_s: int = TOKEN_TTL_S, now: int | None = None, **scope: Any) -> str:
    return issue_token(SECRET, role, ttl_s=ttl_s, now=now, **scope)


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


def headers(role: str, **scope: Any) -> dict[str, str]:
    """Authorization headers of a fresh token for `role` with `scope`."""
    return bearer(token(role, **scope))


ADMIN = headers("admin")


def at(day: date, hour: int = 9, minute: int = 0) -> str:
    """RFC 3339 UTC instant of a local (Asia/Almaty) time."""
    return datetime.combine(day, time(hour, minute), LOCAL).astimezone(UTC).isoformat()


def weekdays(month: str = MONTH) -> list[date]:
    from ledger_fixtures import weekdays as ledger_weekdays

    return ledger_weekdays(month)


def canteen(school_id: str = "s1") -> str:
    return f"{school_id}-canteen"


def gate(school_id: str = "s1") -> str:
    return f"{school_id}-gate"


def events_path(terminal_id: str) -> str:
    return f"{API}/terminals/{terminal_id}/events"


def meal(event_id: str, *, card: str | None = None, child_id: str | None = None,
         day: date = SCHOOL_DAY, hour: int = 9, minute: int = 0,
         item_ids: Sequence[str] | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {"event_id": event_id, "kind": "meal", "at": at(day, hour, minute)}
    if card is not None:
        item["identifier"] = {"kind": "card", "token": card}
    else:
        item["child_id"] = child_id
    if item_ids is not None:
        item["item_ids"] = list(item_ids)
    return item


def gate_pass(event_id: str, *, card: str, direction: str = "in", day: date = SCHOOL_DAY,
              hour: int = 8) -> dict[str, Any]:
    return {"event_id": event_id, "kind": "gate_pass", "at": at(day, hour),
            "identifier": {"kind": "card", "token": card}, "direction": direction,
            "method": "card"}


def child_body(child_id: str, grade: int, **extra: Any) -> dict[str, Any]:
    first, last, iin = PERSONAL.get(child_id, ("Aruzhan", "Test", None))
    body: dict[str, Any] = {
        "child_id": child_id, "first_name": first, "last_name": last, "grade": grade,
        "class_name": f"{grade}A", "shift": 1, "enrolled_on": ENROLLED_ON.isoformat(),
        "consent": {"given_by": f"guardian of {child_id}", "document_ref": f"consent-{child_id}",
                    "signed_on": (ENROLLED_ON - timedelta(days=7)).isoformat()}}
    if iin is not None:
        body["iin"] = iin
    body.update(extra)
    return body


def head(client: TestClient[Litestar]) -> int:
    """The log position: a request that writes nothing leaves it unchanged."""
    response = client.get("/health")
    assert response.status_code == 200, response.text
    return int(response.json()["position"])


def ok(response: httpx.Response, *statuses: int) -> Any:
    """The JSON body of a response whose status is one of `statuses` (default 200/201)."""
    wanted = statuses or (200, 201)
    assert response.status_code in wanted, (response.status_code, response.text)
    return response.json()


def assert_problem(response: httpx.Response, status: int | None = None) -> dict[str, Any]:
    """A 4xx answered as RFC 9457 problem details with a stable `type`."""
    if status is not None:
        assert response.status_code == status, (response.status_code, response.text)
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    assert response.headers["content-type"].startswith(PROBLEM_JSON), response.headers
    body: dict[str, Any] = response.json()
    assert body["type"].startswith("https://"), body
    assert body["status"] == response.status_code and body["detail"], body
    return body


@dataclass
class Seeded:
    """What `seed_school` set up: ids, and headers for the school's own callers."""

    school_id: str
    region_id: str
    days: list[date]
    canteen: str
    gate: str
    terminal_tokens: dict[str, str] = field(default_factory=dict)
    children: list[str] = field(default_factory=list)

    @property
    def terminal_headers(self) -> dict[str, str]:
        return bearer(self.terminal_tokens[self.canteen])

    @property
    def gate_headers(self) -> dict[str, str]:
        return bearer(self.terminal_tokens[self.gate])


def seed_school(client: TestClient[Litestar], school_id: str = "s1", *, region_id: str = "r1",
                month: str = MONTH, children: Sequence[tuple[str, int, str | None]] = (
                    ("c1", 2, None), ("c2", 7, "large_family")),
                menu_days: int | None = 5, auth: dict[str, str] = ADMIN) -> Seeded:
    """Through the API: region, school (shifts 1-2), the month's weekdays as calendar,
    eligibility, a menu (free-meal lunch and a bun) on the first `menu_days` school days
    (None: all), and for each (child_id, grade, category) an enrolled child with consent, an
    activated voucher and a card `card-<child_id>`; one canteen and one gate terminal."""
    days = weekdays(month)
    ok(client.put(f"{API}/regions/{region_id}", json={"name": f"Region {region_id}"}, headers=auth))
    ok(client.put(f"{API}/schools/{school_id}", headers=auth, json={
        "name": f"School {school_id}", "region_id": region_id, "district": "Central",
        "shifts": [1, 2]}))
    school = f"{API}/schools/{school_id}"
    ok(client.put(f"{school}/calendar/{month}", headers=auth,
                  json={"school_days": [d.isoformat() for d in days]}))
    ok(client.put(f"{school}/eligibility", headers=auth, json={
        "senior_categories": SENIOR_CATEGORIES, "effective_from": ENROLLED_ON.isoformat()}))
    for day in days[:menu_days]:
        ok(client.put(f"{school}/menu/{day.isoformat()}", headers=auth,
                      json={"items": [LUNCH, BUN]}))
    seeded = Seeded(school_id, region_id, days, canteen(school_id), gate(school_id))
    for child_id, grade, category in children:
        enrol_child(client, school_id, child_id, grade, category=category, auth=auth)
        seeded.children.append(child_id)
    for terminal_id, kind in ((seeded.canteen, "canteen"), (seeded.gate, "gate")):
        body = ok(client.put(f"{API}/terminals/{terminal_id}", headers=auth,
                             json={"school_id": school_id, "kind": kind}))
        seeded.terminal_tokens[terminal_id] = body["token"]
    return seeded


def enrol_child(client: TestClient[Litestar], school_id: str, child_id: str, grade: int, *,
                category: str | None = None, voucher: bool = True, card: bool = True,
                auth: dict[str, str] = ADMIN) -> None:
    ok(client.post(f"{API}/schools/{school_id}/children", headers=auth,
                   json=child_body(child_id, grade)))
    child = f"{API}/children/{child_id}"
    if category is not None:
        ok(client.post(f"{child}/categories", headers=auth, json={
            "category": category, "effective_from": ENROLLED_ON.isoformat(),
            "document_ref": f"doc-{category}-{child_id}"}))
    if voucher:
        ok(client.post(f"{child}/vouchers", headers=auth,
                       json={"voucher_id": f"v-{child_id}", "school_year": SCHOOL_YEAR}))
        ok(client.post(f"{child}/vouchers/v-{child_id}/activation", headers=auth,
                       json={"activated_on": ENROLLED_ON.isoformat()}))
    if card:
        ok(client.post(f"{child}/identifiers", headers=auth,
                       json={"kind": "card", "token": f"card-{child_id}"}))
