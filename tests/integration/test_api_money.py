"""Money routes over HTTP on every backend: top-ups, refunds, voids, the month close with a
late meal, tenant payments, and token revocation."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from api_fixtures import (
    ADMIN,
    API,
    MONTH,
    NEXT_MONTH,
    SCHOOL_DAY,
    SECRET,
    Seeded,
    api_client,
    assert_problem,
    bearer,
    events_path,
    head,
    headers,
    meal,
    ok,
    seed_school,
    token,
)
from api.tokens import verify_token

pytestmark = pytest.mark.filterwarnings("ignore::litestar.exceptions.LitestarDeprecationWarning")
PAYMENTS = headers("payments")
ACCOUNTANT = headers("accountant", school_id="s1")
TOP_UP = {"payment_id": "p1", "amount_kzt": 1000, "paid_at": "2025-10-01T10:00:00+05:00"}


@pytest.fixture
def seeded_client(store_url: str) -> Iterator[tuple[TestClient[Litestar], Seeded]]:
    with api_client(store_url) as client:
        yield client, seed_school(client)


def test_a_top_up_credits_once_a_repeat_answers_200_and_another_amount_is_409(
        seeded_client: tuple[TestClient[Litestar], Seeded]) -> None:
    client, _ = seeded_client
    first = client.post(f"{API}/children/c1/top-ups", json=TOP_UP, headers=PAYMENTS)
    assert first.status_code == 201 and first.json()["balance_kzt"] == 1000
    position = head(client)
    repeat = client.post(f"{API}/children/c1/top-ups", json=TOP_UP, headers=PAYMENTS)
    assert repeat.status_code == 200 and repeat.json() == first.json()
    assert head(client) == position
    conflict = client.post(f"{API}/children/c1/top-ups", json={**TOP_UP, "amount_kzt": 2000},
                           headers=PAYMENTS)
    assert assert_problem(conflict, 409)["type"].endswith("idempotency-conflict")
    assert head(client) == position
    balance = ok(client.get(f"{API}/children/c1/balance", headers=ADMIN))
    assert balance["balance_kzt"] == 1000 and len(balance["movements"]) == 1


def test_a_refund_pays_back_from_the_balance_and_never_below_zero(
        seeded_client: tuple[TestClient[Litestar], Seeded]) -> None:
    client, _ = seeded_client
    ok(client.post(f"{API}/children/c1/top-ups", json=TOP_UP, headers=PAYMENTS))
    refund = {"refund_id": "rf1", "amount_kzt": 300, "reason": "family moved"}
    first = client.post(f"{API}/children/c1/refunds", json=refund, headers=ACCOUNTANT)
    assert first.status_code == 201 and first.json()["balance_kzt"] == 700
    repeat = client.post(f"{API}/children/c1/refunds", json=refund, headers=ACCOUNTANT)
    assert repeat.status_code == 200 and repeat.json()["balance_kzt"] == 700
    too_much = client.post(f"{API}/children/c1/refunds", headers=ACCOUNTANT,
                           json={"refund_id": "rf2", "amount_kzt": 701, "reason": "all"})
    assert_problem(too_much, 409)
    assert ok(client.get(f"{API}/children/c1/balance", headers=ADMIN))["balance_kzt"] == 700


def test_voiding_a_meal_frees_the_days_free_meal_and_repeats_as_200(
        seeded_client: tuple[TestClient[Litestar], Seeded]) -> None:
    client, seeded = seeded_client
    ok(client.post(events_path(seeded.canteen), json=[meal("e1", card="card-c1")],
                   headers=seeded.terminal_headers))
    void = f"{API}/terminals/{seeded.canteen}/events/e1/void"
    assert client.post(void, json={"reason": "scanned twice"}, headers=ACCOUNTANT).status_code == 201
    position = head(client)
    assert client.post(void, json={"reason": "scanned twice"}, headers=ACCOUNTANT).status_code == 200
    assert head(client) == position
    cost = ok(client.get(f"{API}/schools/s1/daily-cost?date={SCHOOL_DAY}", headers=ADMIN))
    assert cost["funded_kzt"] == 0
    [again] = ok(client.post(events_path(seeded.canteen), json=[meal("e2", card="card-c1")],
                             headers=seeded.terminal_headers))
    assert again["funding"] == "funded"
    assert_problem(client.post(f"{API}/terminals/{seeded.canteen}/events/nope/void",
                               json={"reason": "x"}, headers=ACCOUNTANT), 404)


def test_a_meal_recorded_after_the_close_lands_on_the_next_months_statement(
        seeded_client: tuple[TestClient[Litestar], Seeded]) -> None:
    client, seeded = seeded_client
    scan = {"headers": seeded.terminal_headers}
    ok(client.post(events_path(seeded.canteen), json=[meal("e1", card="card-c1")], **scan))
    closed = ok(client.post(f"{API}/schools/s1/months/{MONTH}/close", headers=ACCOUNTANT))
    assert closed["closed"] is True and closed["total_kzt"] == 585
    again = ok(client.post(f"{API}/schools/s1/months/{MONTH}/close", headers=ACCOUNTANT))
    assert again == closed
    late_day = seeded.days[1]
    [late] = ok(client.post(events_path(seeded.canteen), **scan,
                            json=[meal("late", child_id="c2", day=late_day)]))
    assert late["funding"] == "funded" and late["amount_kzt"] == 710
    frozen = ok(client.get(f"{API}/schools/s1/tenant-statement?month={MONTH}", headers=ADMIN))
    assert frozen["total_kzt"] == 585 and frozen["adjustments"] == []
    nxt = ok(client.get(f"{API}/schools/s1/tenant-statement?month={NEXT_MONTH}", headers=ADMIN))
    assert [a["amount_kzt"] for a in nxt["adjustments"]] == [710]
    assert nxt["adjustments"][0]["day"] == late_day.isoformat()
    assert nxt["adjustments_kzt"] == 710 and nxt["closed"] is False


def test_a_tenant_payment_needs_a_closed_month_and_reduces_what_is_outstanding(
        seeded_client: tuple[TestClient[Litestar], Seeded]) -> None:
    client, seeded = seeded_client
    ok(client.post(events_path(seeded.canteen), headers=seeded.terminal_headers,
                   json=[meal("e1", card="card-c1"), meal("e2", child_id="c2")]))
    payment = {"payment_id": "tp1", "month": MONTH, "amount_kzt": 1000,
               "paid_at": "2025-11-03T10:00:00+05:00"}
    url = f"{API}/schools/s1/tenant-payments"
    assert "not closed" in assert_problem(client.post(url, json=payment, headers=ACCOUNTANT),
                                          409)["detail"]
    ok(client.post(f"{API}/schools/s1/months/{MONTH}/close", headers=ACCOUNTANT))
    assert client.post(url, json=payment, headers=ACCOUNTANT).status_code == 201
    position = head(client)
    assert client.post(url, json=payment, headers=ACCOUNTANT).status_code == 200
    assert head(client) == position
    assert_problem(client.post(url, json={**payment, "amount_kzt": 999}, headers=ACCOUNTANT),
                   409)
    statement = ok(client.get(f"{API}/schools/s1/tenant-statement?month={MONTH}",
                              headers=ACCOUNTANT))
    assert statement["total_kzt"] == 585 + 710
    assert statement["paid_kzt"] == 1000 and statement["outstanding_kzt"] == 585 + 710 - 1000


def test_a_revoked_token_is_refused_with_401_from_then_on(
        seeded_client: tuple[TestClient[Litestar], Seeded]) -> None:
    client, _ = seeded_client
    value = token("accountant", school_id="s1")
    mine = bearer(value)
    assert ok(client.get(f"{API}/schools/s1/tenant-statement?month={MONTH}", headers=mine))
    token_id = verify_token(SECRET, value).token_id
    revoke = f"{API}/tokens/{token_id}/revocation"
    assert_problem(client.post(revoke, json={"reason": "laptop stolen"}, headers=mine), 403)
    assert client.post(revoke, json={"reason": "laptop stolen"}, headers=ADMIN).status_code == 201
    assert client.post(revoke, json={"reason": "laptop stolen"}, headers=ADMIN).status_code == 200
    refused = assert_problem(client.get(f"{API}/schools/s1/tenant-statement?month={MONTH}",
                                        headers=mine), 401)
    assert token_id in refused["detail"]
    assert ok(client.get(f"{API}/schools/s1/tenant-statement?month={MONTH}", headers=ACCOUNTANT))
