"""Query routes over HTTP on every backend: each report from real scans, read-your-writes
through the projection thread, as-of savings, the notification stream, and the OpenAPI."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

import pytest

from api.pages import is_page_route
from api_fixtures import (
    ADMIN,
    API,
    MONTH,
    SCHOOL_DAY,
    api_app,
    api_client,
    events_path,
    gate_pass,
    headers,
    meal,
    ok,
    seed_school,
)

pytestmark = pytest.mark.filterwarnings("ignore::litestar.exceptions.LitestarDeprecationWarning")
PRIMARY_KZT, SENIOR_KZT = 585, 710


def test_every_report_is_derived_from_the_scans_just_recorded(store_url: str) -> None:
    with api_client(store_url, background=True) as client:
        seeded = seed_school(client)
        day = SCHOOL_DAY.isoformat()
        ok(client.post(events_path(seeded.gate), headers=seeded.gate_headers,
                       json=[gate_pass("g1", card="card-c1")]))
        ok(client.post(events_path(seeded.canteen), headers=seeded.terminal_headers,
                       json=[meal("e1", card="card-c1"), meal("e2", card="card-c2")]))
        # read-your-writes: the projection thread has caught up before each answer
        cost = ok(client.get(f"{API}/schools/s1/daily-cost?date={day}", headers=ADMIN))
        assert cost["funded_kzt"] == PRIMARY_KZT + SENIOR_KZT
        assert {(x["band"], x["funded_meals"]) for x in cost["lines"]} == {
            ("primary", 1), ("senior", 1)}
        savings = ok(client.get(f"{API}/schools/s1/savings?month={MONTH}", headers=ADMIN))
        days = len(seeded.days)
        assert savings["planned_kzt"] == days * (PRIMARY_KZT + SENIOR_KZT)
        assert savings["actual_kzt"] == PRIMARY_KZT + SENIOR_KZT
        assert savings["saving_kzt"] == savings["planned_kzt"] - savings["actual_kzt"]
        region = ok(client.get(f"{API}/regions/r1/savings?month={MONTH}", headers=ADMIN))
        assert [s["school_id"] for s in region["schools"]] == ["s1"]
        assert region["saving_kzt"] == savings["saving_kzt"]
        statement = ok(client.get(f"{API}/schools/s1/tenant-statement?month={MONTH}",
                                  headers=ADMIN))
        assert statement["total_kzt"] == PRIMARY_KZT + SENIOR_KZT and not statement["closed"]
        listed = ok(client.get(f"{API}/schools/s1/entitlements?date={day}", headers=ADMIN))
        assert all(c["entitled"] for c in listed["children"])
        present = ok(client.get(f"{API}/schools/s1/attendance?date={day}", headers=ADMIN))
        assert present["pupils_present"] == 1
        assert [p["person_id"] for p in present["people"]] == ["c1"]
        meals = ok(client.get(f"{API}/children/c1/meals?month={MONTH}", headers=ADMIN))
        assert [(m["event_id"], m["funded_kzt"]) for m in meals] == [("e1", PRIMARY_KZT)]
        passes = ok(client.get(f"{API}/children/c1/passes?month={MONTH}", headers=ADMIN))
        assert [p["direction"] for p in passes] == ["in"]
        anomalies = ok(client.get(f"{API}/schools/s1/anomalies?month={MONTH}", headers=ADMIN))
        assert any(a["kind"] == "meal_without_entry" and a["subject"] == "c2" for a in anomalies)
        balance = ok(client.get(f"{API}/children/c1/balance", headers=ADMIN))
        assert balance["balance_kzt"] == 0


def test_savings_as_of_an_earlier_instant_give_the_earlier_figure(store_url: str) -> None:
    with api_client(store_url) as client:
        seeded = seed_school(client)
        ok(client.post(events_path(seeded.canteen), headers=seeded.terminal_headers,
                       json=[meal("e1", card="card-c1")]))
        time.sleep(0.05)
        between = datetime.now(UTC).isoformat()
        time.sleep(0.05)
        ok(client.post(events_path(seeded.canteen), headers=seeded.terminal_headers,
                       json=[meal("e2", card="card-c2")]))
        now = ok(client.get(f"{API}/schools/s1/savings", headers=ADMIN,
                            params={"month": MONTH}))
        then = ok(client.get(f"{API}/schools/s1/savings", headers=ADMIN,
                             params={"month": MONTH, "as_of": between}))
        assert now["actual_kzt"] == PRIMARY_KZT + SENIOR_KZT and now["as_of"] is None
        assert then["actual_kzt"] == PRIMARY_KZT and then["as_of"] is not None
        region = ok(client.get(f"{API}/regions/r1/savings", headers=ADMIN,
                               params={"month": MONTH, "as_of": between}))
        assert region["actual_kzt"] == PRIMARY_KZT


def test_the_menu_ratings_and_allergens_serve_parents(store_url: str) -> None:
    with api_client(store_url) as client:
        seeded = seed_school(client)
        parent = headers("parent", child_id="c1")
        menu = ok(client.get(f"{API}/schools/s1/menu/{seeded.days[0]}", headers=parent))
        assert {i["item_id"]: i["price_kzt"] for i in menu["items"]} == {"lunch": 700, "bun": 150}
        rating = {"rating_id": "rt1", "child_id": "c1", "date": seeded.days[0].isoformat(),
                  "score": 5, "comment": "tasty"}
        assert client.post(f"{API}/schools/s1/ratings", json=rating,
                           headers=parent).status_code == 201
        assert client.post(f"{API}/schools/s1/ratings", json=rating,
                           headers=parent).status_code == 200
        allergens = {"allergens": ["gluten"], "set_by": "mother"}
        assert client.put(f"{API}/children/c1/allergen-restrictions", json=allergens,
                          headers=parent).status_code == 201
        [refused] = ok(client.post(events_path(seeded.canteen), headers=seeded.terminal_headers,
                                   json=[meal("e1", card="card-c1", item_ids=["bun"])]))
        assert refused["status"] == "refused" and "allergen" in refused["reason"]


def test_the_notification_stream_carries_the_childs_meals_as_server_sent_events(
        store_url: str) -> None:
    with api_client(store_url) as client:
        seeded = seed_school(client)
        ok(client.post(events_path(seeded.canteen), headers=seeded.terminal_headers,
                       json=[meal("e1", card="card-c1"), meal("e2", card="card-c1", minute=9),
                             meal("e3", card="card-c2")]))
        parent = headers("parent", child_id="c1")
        # the stream polls the outbox without waiting for the projections (reported to the
        # lead); a read first makes them catch up
        assert len(ok(client.get(f"{API}/children/c1/meals?month={MONTH}", headers=parent))) == 1
        stream = client.get(f"{API}/children/c1/notifications?wait_s=0", headers=parent)
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        kinds = re.findall(r"^event: (\S+)", stream.text, flags=re.M)
        assert kinds == ["meal_served", "meal_refused"]
        assert "c2" not in stream.text
        ids = re.findall(r"^id: (\d+)", stream.text, flags=re.M)
        later = client.get(f"{API}/children/c1/notifications?wait_s=0",
                           headers={**parent, "Last-Event-ID": ids[-1]})
        assert "event:" not in later.text


def test_the_openapi_document_lists_every_route_the_app_serves() -> None:
    with api_app("memory://") as app:
        from litestar.testing import TestClient

        with TestClient(app) as client:
            document = ok(client.get("/schema/openapi.json"))
        documented = {(path, method.upper()) for path, item in document["paths"].items()
                      for method in item}
        served = {(re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path), method)
                  for route in app.routes if not route.path.startswith("/schema")
                  and not is_page_route(route.path)  # web pages: not the API contract
                  for method in route.methods if method not in ("OPTIONS", "HEAD")}
        assert len(served) >= 40
        assert served - documented == set()
        assert all(p.startswith(("/api/v1/", "/health")) for p, _ in documented)


def test_the_readme_table_lists_every_route_the_app_serves() -> None:
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## API at a glance", 1)[1].split("\n## ", 1)[0]
    listed = {(m, p.split("?")[0]) for m, p in re.findall(r"^\| (GET|PUT|POST) \| `([^`]+)`",
                                                           section, flags=re.M)}
    with api_app("memory://") as app:
        served = {(method, re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path).removeprefix(API))
                  for route in app.routes if not route.path.startswith("/schema")
                  and not is_page_route(route.path)
                  for method in route.methods if method not in ("OPTIONS", "HEAD")}
    normalise = {"{month}": "{YYYY-MM}", "{day}": "{date}"}
    for old, new in normalise.items():
        served = {(m, p.replace(old, new)) for m, p in served}
    assert served - listed == set()
