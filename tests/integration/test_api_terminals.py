"""Terminal routes over HTTP on every backend: online scans, batches, duplicates, the
offline cache, and the batching writer with its projection thread."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from api_fixtures import (
    ADMIN,
    API,
    SCHOOL_DAY,
    Seeded,
    api_client,
    assert_problem,
    enrol_child,
    events_path,
    gate_pass,
    head,
    meal,
    ok,
    seed_school,
)

pytestmark = pytest.mark.filterwarnings("ignore::litestar.exceptions.LitestarDeprecationWarning")


@pytest.fixture
def seeded_client(store_url: str) -> Iterator[tuple[TestClient[Litestar], Seeded]]:
    with api_client(store_url) as client:
        yield client, seed_school(client)


def scan(client: TestClient[Litestar], seeded: Seeded, *items: dict) -> list[dict]:  # type: ignore[type-arg]
    return ok(client.post(events_path(seeded.canteen), json=list(items),  # type: ignore[no-any-return]
                          headers=seeded.terminal_headers), 200)


def test_an_online_scan_is_funded_the_second_is_refused_and_a_retry_is_a_duplicate(
        seeded_client: tuple[TestClient[Litestar], Seeded]) -> None:
    client, seeded = seeded_client
    [first] = scan(client, seeded, meal("e1", card="card-c1"))
    assert (first["status"], first["funding"], first["amount_kzt"]) == ("recorded", "funded", 585)
    [second] = scan(client, seeded, meal("e2", card="card-c1", minute=20))
    assert (second["status"], second["reason"]) == ("refused", "already_served")
    position = head(client)
    [retry] = scan(client, seeded, meal("e1", card="card-c1"))
    assert retry["status"] == "duplicate" and retry["funding"] == "funded"
    [other_scan] = scan(client, seeded, meal("e1", card="card-c2", minute=40))
    assert (other_scan["status"], other_scan["reason"]) == ("refused", "event_id_reused")
    assert head(client) == position, "a used event id wrote something"
    cost = ok(client.get(f"{API}/schools/s1/daily-cost?date={SCHOOL_DAY}", headers=ADMIN))
    assert cost["funded_kzt"] == 585 and cost["refusals"] == {"already_served": 1}


def test_a_batch_is_applied_in_order_and_answers_item_by_item(
        seeded_client: tuple[TestClient[Litestar], Seeded]) -> None:
    client, seeded = seeded_client
    ok(client.post(f"{API}/children/c1/top-ups", headers=ADMIN, json={
        "payment_id": "p1", "amount_kzt": 1000, "paid_at": "2025-10-01T10:00:00+05:00"}))
    items = [meal("b1", card="card-c1"), meal("b2", card="card-c1", minute=5),
             meal("b3", child_id="c2"), meal("b4", card="card-c1", minute=10, item_ids=["bun"]),
             meal("b1", card="card-c1"), meal("b5", card="no-such-card")]
    outcomes = scan(client, seeded, *items)
    assert [o["event_id"] for o in outcomes] == ["b1", "b2", "b3", "b4", "b1", "b5"]
    assert [o["status"] for o in outcomes] == [
        "recorded", "refused", "recorded", "recorded", "duplicate", "refused"]
    assert outcomes[1]["reason"] == "already_served"
    assert (outcomes[2]["funding"], outcomes[2]["amount_kzt"]) == ("funded", 710)
    assert (outcomes[3]["funding"], outcomes[3]["amount_kzt"]) == ("paid", 150)
    assert outcomes[3]["balance_kzt"] == 850
    assert outcomes[5]["reason"] == "unknown_identifier"
    balance = ok(client.get(f"{API}/children/c1/balance", headers=ADMIN))
    assert balance["balance_kzt"] == 850
    passes = ok(client.post(events_path(seeded.gate), headers=seeded.gate_headers,
                            json=[gate_pass("g1", card="card-c1"),
                                  gate_pass("g2", card="card-c1", direction="out", hour=14)]))
    assert [p["status"] for p in passes] == ["recorded", "recorded"]
    rows = ok(client.get(f"{API}/children/c1/passes?month=2025-10", headers=ADMIN))
    assert [r["direction"] for r in rows] == ["in", "out"]


def test_a_terminal_scanning_a_child_of_another_school_is_refused_wrong_school(
        seeded_client: tuple[TestClient[Litestar], Seeded]) -> None:
    client, seeded = seeded_client
    other = seed_school(client, "s2", region_id="r2", children=[("c3", 3, None)])
    [by_card] = scan(client, seeded, meal("w1", card="card-c3"))
    [by_id] = scan(client, seeded, meal("w2", child_id="c3"))
    assert (by_card["reason"], by_id["reason"]) == ("wrong_school", "wrong_school")
    position = head(client)
    problem = assert_problem(client.post(events_path(other.canteen), headers=seeded.terminal_headers,
                                         json=[meal("w3", card="card-c3")]), 403)
    assert "another terminal" in problem["detail"]
    assert head(client) == position
    cost = ok(client.get(f"{API}/schools/s2/daily-cost?date={SCHOOL_DAY}", headers=ADMIN))
    assert cost["funded_kzt"] == 0


def test_the_offline_cache_lists_only_the_own_schools_identifiers(
        seeded_client: tuple[TestClient[Litestar], Seeded]) -> None:
    client, seeded = seeded_client
    seed_school(client, "s2", region_id="r2", children=[("c3", 3, None)])
    enrol_child(client, "s1", "c4", 1, voucher=False)
    cache = ok(client.get(f"{API}/terminals/{seeded.canteen}/cache",
                          headers=seeded.terminal_headers))
    assert (cache["terminal_id"], cache["school_id"], cache["kind"]) == (
        seeded.canteen, "s1", "canteen")
    assert sorted(i["token"] for i in cache["identifiers"]) == ["card-c1", "card-c2", "card-c4"]
    assert cache["position"] == head(client)


def test_the_background_writer_batches_concurrent_scans_and_reads_see_them(
        store_url: str) -> None:
    with api_client(store_url, background=True) as client:
        seeded = seed_school(client)
        writer = client.app.state.services.writer

        def one(i: int) -> dict:  # type: ignore[type-arg]
            [outcome] = scan(client, seeded, meal(f"x{i}", card="card-c1", minute=i))
            return outcome  # type: ignore[no-any-return]

        with ThreadPoolExecutor(max_workers=8) as pool:
            outcomes = list(pool.map(one, range(8)))
        assert sorted(o["status"] for o in outcomes) == ["recorded"] + ["refused"] * 7
        assert writer.requests == 8 and 1 <= writer.batches <= 8
        cost = ok(client.get(f"{API}/schools/s1/daily-cost?date={SCHOOL_DAY}", headers=ADMIN))
        assert cost["funded_kzt"] == 585 and cost["refusals"] == {"already_served": 7}
