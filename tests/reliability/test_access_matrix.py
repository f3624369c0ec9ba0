"""Every role x every endpoint -> the expected 2xx / 401 / 403 / 404 (api/auth.py's docstring
and the API issue's Access section), on one seeded app; region and auditor answers carry no
names or IIN; bad, expired and revoked tokens are refused."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from api_fixtures import (
    ADMIN,
    API,
    MONTH,
    PERSONAL,
    SCHOOL_DAY,
    SECRET,
    api_client,
    assert_problem,
    bearer,
    child_body,
    enrol_child,
    events_path,
    gate_pass,
    headers,
    meal,
    ok,
    seed_school,
    token,
)
from api.pages import is_page_route
from api.tokens import issue_token, verify_token

pytestmark = pytest.mark.filterwarnings("ignore::litestar.exceptions.LitestarDeprecationWarning")

ROLES: dict[str, dict[str, Any]] = {
    "admin": {"role": "admin"},
    "sa1": {"role": "school-admin", "school_id": "s1"},
    "sa2": {"role": "school-admin", "school_id": "s2"},
    "t1": {"role": "terminal", "terminal_id": "s1-canteen"},
    "t2": {"role": "terminal", "terminal_id": "s2-canteen"},
    "acc1": {"role": "accountant", "school_id": "s1"},
    "pay": {"role": "payments"},
    "audR1": {"role": "auditor", "region_id": "r1"},
    "audAll": {"role": "auditor"},
    "reg1": {"role": "region", "region_id": "r1"},
    "reg2": {"role": "region", "region_id": "r2"},
    "par1": {"role": "parent", "child_id": "c1"},
}
DAY = SCHOOL_DAY.isoformat()
PLACEMENT = {"school_id": "s1", "grade": 4, "class_name": "4B", "effective_from": "2025-10-20",
             "reason": "class_change"}
CATEGORY = {"category": "low_income", "effective_from": "2025-09-01", "document_ref": "d1"}
TOP_UP = {"payment_id": "pm1", "amount_kzt": 500, "paid_at": "2025-10-01T10:00:00+05:00"}
TENANT_PAYMENT = {"payment_id": "tp1", "month": MONTH, "amount_kzt": 100,
                  "paid_at": "2025-11-03T10:00:00+05:00"}
RATING = {"rating_id": "rt1", "child_id": "c1", "date": DAY, "score": 4}
# the ledger counts who refunds as part of the request: one refund id per caller
REFUND = {"refund_id": "{role}", "amount_kzt": 1, "reason": "duplicate payment"}
SCHOOL = {"name": "School s1", "region_id": "r1", "district": "Central", "shifts": [1, 2]}

# Expected answer per role, in ROLES order: 2 = 2xx, 3 = 403, 4 = 404, 1 = 401.
# (method, path, body, expected)                                       adm sa1 sa2 t1 t2 acc pay aR1 aAl r1 r2 par
ENDPOINTS: list[tuple[str, str, Any, str]] = [
    ("GET", "/health", None,                                              "2 2 2 2 2 2 2 2 2 2 2 2"),
    ("PUT", "/regions/r1", {"name": "Region r1"},                          "2 3 3 3 3 3 3 3 3 3 3 3"),
    ("PUT", "/schools/s1", SCHOOL,                                         "2 2 3 3 3 3 3 3 3 3 3 3"),
    ("POST", "/schools/s1/rates",
     {"band": "primary", "amount_kzt": 585, "effective_from": "2025-09-01"}, "2 2 3 3 3 3 3 3 3 3 3 3"),
    ("PUT", "/schools/s1/calendar/2025-11", {"school_days": ["2025-11-03"]}, "2 2 3 3 3 3 3 3 3 3 3 3"),
    ("PUT", "/schools/s1/eligibility",
     {"senior_categories": ["large_family"], "effective_from": "2025-09-01"}, "2 2 3 3 3 3 3 3 3 3 3 3"),
    ("PUT", "/schools/s1/menu/2025-10-20", {"items": []},                   "2 2 3 3 3 3 3 3 3 3 3 3"),
    ("GET", f"/schools/s1/menu/{DAY}", None,                               "2 2 3 2 3 2 3 2 2 3 3 2"),
    ("POST", "/schools/s1/children", child_body("c4", 1),                  "2 2 3 3 3 3 3 3 3 3 3 3"),
    ("POST", "/schools/s1/staff", {"staff_id": "st1", "role": "teacher"},  "2 2 3 3 3 3 3 3 3 3 3 3"),
    ("POST", "/schools/s1/staff/st1/identifiers", {"kind": "card", "token": "card-st1"},
                                                                           "2 2 3 3 3 3 3 3 3 3 3 3"),
    ("PUT", "/terminals/s1-till", {"school_id": "s1", "kind": "canteen"},  "2 2 3 3 3 3 3 3 3 3 3 3"),
    ("POST", "/children/c1/categories", CATEGORY,                          "2 2 3 3 3 3 3 3 3 3 3 3"),
    ("POST", "/children/c1/home-schooling", {"effective_from": "2025-12-01"},
                                                                           "2 2 3 3 3 3 3 3 3 3 3 3"),
    ("POST", "/children/c1/identifiers", {"kind": "card", "token": "card-c1"},
                                                                           "2 2 3 3 3 3 3 3 3 3 3 3"),
    ("POST", "/children/ci/identifiers/card/card-ci/revocation", {"reason": "lost"},
                                                                           "2 2 3 3 3 3 3 3 3 3 3 3"),
    ("POST", "/children/c1/vouchers", {"voucher_id": "v-c1", "school_year": "2025-2026"},
                                                                           "2 2 3 3 3 3 3 3 3 3 3 3"),
    ("POST", "/children/c1/vouchers/v-c1/activation", {"activated_on": "2025-09-01"},
                                                                           "2 2 3 3 3 3 3 3 3 3 3 3"),
    ("POST", "/children/cv/vouchers/v-cv/revocation",
     {"revoked_on": "2025-10-27", "reason": "moved"},                      "2 2 3 3 3 3 3 3 3 3 3 3"),
    ("PUT", "/children/c1/allergen-restrictions", {"allergens": [], "set_by": "mother"},
                                                                           "2 2 3 3 3 3 3 3 3 3 3 2"),
    ("POST", "/children/cp/placement", PLACEMENT,                          "2 2 3 3 3 3 3 3 3 3 3 3"),
    ("POST", "/children/cl/leaving", {"left_on": "2025-10-30", "reason": "moved"},
                                                                           "2 2 3 3 3 3 3 3 3 3 3 3"),
    ("POST", "/children/cw/consent-withdrawal",
     {"withdrawn_on": "2025-10-31", "by": "mother", "document_ref": "w1"}, "2 2 3 3 3 3 3 3 3 3 3 3"),
    ("POST", "/terminals/s1-canteen/events", [meal("m1", card="card-c1")], "2 3 3 2 3 3 3 3 3 3 3 3"),
    ("GET", "/terminals/s1-canteen/cache", None,                           "2 3 3 2 3 3 3 3 3 3 3 3"),
    ("POST", "/children/c1/top-ups", TOP_UP,                               "2 3 3 3 3 3 2 3 3 3 3 3"),
    ("POST", "/children/c1/refunds", REFUND,
                                                                           "2 3 3 3 3 2 3 3 3 3 3 3"),
    ("POST", "/terminals/s1-canteen/events/e1/void", {"reason": "twice"},  "2 2 3 3 3 2 3 3 3 3 3 3"),
    ("POST", f"/schools/s1/months/{MONTH}/close", None,                    "2 3 3 3 3 2 3 3 3 3 3 3"),
    ("POST", "/schools/s1/tenant-payments", TENANT_PAYMENT,                "2 3 3 3 3 2 3 3 3 3 3 3"),
    ("POST", "/tokens/00000000deadbeef/revocation", {"reason": "lost"},    "2 3 3 3 3 3 3 3 3 3 3 3"),
    ("GET", "/children/c1/balance", None,                                  "2 2 3 3 3 2 3 3 3 3 3 2"),
    ("GET", f"/children/c1/meals?month={MONTH}", None,                     "2 2 3 3 3 2 3 3 3 3 3 2"),
    ("GET", f"/children/c1/passes?month={MONTH}", None,                    "2 2 3 3 3 2 3 3 3 3 3 2"),
    ("GET", "/children/c1/notifications?wait_s=0", None,                   "2 2 3 3 3 3 3 3 3 3 3 2"),
    ("GET", f"/schools/s1/entitlements?date={DAY}", None,                  "2 2 3 3 3 2 3 3 3 3 3 3"),
    ("GET", f"/schools/s1/daily-cost?date={DAY}", None,                    "2 2 3 3 3 2 3 2 2 2 3 3"),
    ("GET", f"/schools/s1/savings?month={MONTH}", None,                    "2 2 3 3 3 2 3 2 2 2 3 3"),
    ("GET", f"/regions/r1/savings?month={MONTH}", None,                    "2 3 3 3 3 3 3 2 2 2 3 3"),
    ("GET", f"/schools/s1/tenant-statement?month={MONTH}", None,           "2 2 3 3 3 2 3 2 2 3 3 3"),
    ("GET", f"/schools/s1/anomalies?month={MONTH}", None,                  "2 2 3 3 3 2 3 2 2 3 3 3"),
    ("GET", f"/schools/s1/attendance?date={DAY}", None,                    "2 2 3 3 3 2 3 2 2 3 3 3"),
    ("POST", "/schools/s1/ratings", RATING,                                "2 3 3 3 3 3 3 3 3 3 3 2"),
    ("GET", "/audit/verify", None,                                         "2 3 3 3 3 3 3 2 2 3 3 3"),
    ("GET", "/audit/events?limit=100000", None,                            "2 3 3 3 3 3 3 2 2 3 3 3"),
    ("GET", f"/schools/s1/exports/tenant-statement?month={MONTH}&format=csv", None,
                                                                           "2 2 3 3 3 2 3 2 2 3 3 3"),
    ("GET", f"/schools/s1/exports/free-meals?month={MONTH}&format=csv", None,
                                                                           "2 2 3 3 3 2 3 2 2 3 3 3"),
    ("GET", f"/schools/s1/exports/attendance?month={MONTH}&format=csv", None,
                                                                           "2 2 3 3 3 2 3 2 2 3 3 3"),
    ("GET", f"/schools/s1/exports/meal-register?month={MONTH}&format=csv", None,
                                                                           "2 2 3 3 3 2 3 3 3 3 3 3"),
    ("GET", f"/regions/r1/exports/savings?month={MONTH}&format=csv", None, "2 3 3 3 3 3 3 2 2 2 3 3"),
    ("POST", f"/schools/s1/reports/free-meals/{MONTH}/filing", None,       "2 2 3 3 3 2 3 3 3 3 3 3"),
    ("GET", f"/regions/r1/filings?month={MONTH}", None,                    "2 3 3 3 3 3 3 2 2 2 3 3"),
]
# An unknown school, child or terminal: 404 for whoever could act on it were it known.
NOT_FOUND: list[tuple[str, str, Any, str]] = [
    ("GET", f"/schools/zz/daily-cost?date={DAY}", None, "admin audAll"),
    ("GET", f"/schools/zz/menu/{DAY}", None, "admin audAll"),
    ("GET", f"/schools/zz/tenant-statement?month={MONTH}", None, "admin audAll"),
    ("POST", f"/schools/zz/months/{MONTH}/close", None, "admin"),
    ("GET", "/children/zz/balance", None, "admin"),
    ("POST", "/children/zz/top-ups", TOP_UP, "admin pay"),
    ("GET", "/terminals/zz/cache", None, "admin"),
    ("POST", "/terminals/zz/events", [meal("m1", card="card-c1")], "admin"),
]
CODE = {"2": "2xx", "3": 403, "4": 404, "1": 401}
REGION_OR_AUDITOR = ("audR1", "audAll", "reg1", "reg2")


def status_class(status: int) -> int | str:
    return "2xx" if 200 <= status < 300 else status


def send(client: TestClient[Litestar], method: str, path: str, body: Any,
         auth: dict[str, str], role: str = "anyone") -> Any:
    if body is REFUND:
        body = {**REFUND, "refund_id": f"rf-{role}"}
    return client.request(method, API + path if path != "/health" else path, json=body,
                          headers=auth)


def seed(client: TestClient[Litestar]) -> None:
    seeded = seed_school(client)
    seed_school(client, "s2", region_id="r2", children=[("c3", 3, None)])
    for child_id in ("ci", "cv", "cp", "cl", "cw"):
        enrol_child(client, "s1", child_id, 3)
    enrol_child(client, "s1", "c4", 1, voucher=False, card=False)
    ok(client.post(f"{API}/children/c1/top-ups", headers=headers("payments"), json={
        **TOP_UP, "payment_id": "seed"}))
    ok(client.post(events_path(seeded.gate), headers=seeded.gate_headers,
                   json=[gate_pass("g1", card="card-c1"), gate_pass("g2", card="card-c2")]))
    ok(client.post(events_path(seeded.canteen), headers=seeded.terminal_headers,
                   json=[meal("e1", card="card-c1"), meal("e2", card="card-c2"),
                         meal("e3", card="card-c3")]))
    ok(client.post(f"{API}/schools/s1/months/{MONTH}/close", headers=ADMIN))
    ok(client.post(f"{API}/schools/s1/ratings", headers=headers("parent", child_id="c1"),
                   json=RATING))


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient[Litestar]]:
    with api_client("memory://") as client:
        seed(client)
        yield client


@pytest.fixture(scope="module")
def answers(client: TestClient[Litestar]) -> dict[tuple[str, str, str], Any]:
    """(role, method, path) -> response, for the whole matrix."""
    tokens = {name: bearer(token(**scope)) for name, scope in ROLES.items()}
    return {(role, method, path): send(client, method, path, body, tokens[role], role)
            for role in ROLES for method, path, body, _ in ENDPOINTS}


def test_every_role_gets_the_expected_answer_on_every_endpoint(
        answers: dict[tuple[str, str, str], Any]) -> None:
    assert len(ENDPOINTS) >= 52 and len(ROLES) == 12
    wrong = []
    for method, path, _, expected in ENDPOINTS:
        for role, code in zip(ROLES, expected.split(), strict=True):
            response = answers[(role, method, path)]
            if status_class(response.status_code) != CODE[code]:
                wrong.append(f"{role:6} {method:4} {path}: expected {CODE[code]}, got "
                             f"{response.status_code} {response.text[:160]}")
    assert not wrong, "\n".join(wrong)


def test_every_refusal_is_a_problem_document(answers: dict[tuple[str, str, str], Any]) -> None:
    refusals = [r for r in answers.values() if r.status_code >= 400]
    assert len(refusals) > 300
    for response in refusals:
        assert_problem(response, 403)


def test_every_route_the_app_serves_is_in_the_matrix(client: TestClient[Litestar]) -> None:
    served = {(method, re.sub(r"\{\w+:\w+\}", "*", route.path))
              for route in client.app.routes if not route.path.startswith("/schema")
              and not is_page_route(route.path)  # web pages call these endpoints themselves
              for method in route.methods if method not in ("OPTIONS", "HEAD")}
    covered = set()
    for method, path, _, _ in ENDPOINTS:
        full = (API + path if path != "/health" else path).split("?")[0]
        for served_method, pattern in served:
            regex = "^" + re.escape(pattern).replace(r"\*", "[^/]+") + "$"
            if served_method == method and re.match(regex, full):
                covered.add((served_method, pattern))
    assert served - covered == set()


def test_region_and_auditor_answers_never_contain_a_name_or_an_iin(
        client: TestClient[Litestar], answers: dict[tuple[str, str, str], Any]) -> None:
    secrets = [value for person in PERSONAL.values() for value in person]
    cache = ok(client.get(f"{API}/terminals/s1-canteen/cache", headers=ADMIN))
    assert PERSONAL["c1"][0] in str(cache), "the names are stored, so their absence means something"
    register = answers[("admin", "GET", f"/schools/s1/exports/meal-register?month={MONTH}&format=csv")]
    assert PERSONAL["c1"][1] in register.text, "and an export that may name pupils does name them"
    bodies = [(role, path, answers[(role, method, path)].text)
              for role in REGION_OR_AUDITOR for method, path, _, _ in ENDPOINTS]
    extra = [("audAll", f"{path}?month={MONTH}", client.get(
        API + f"{path}?month={MONTH}", headers=headers("auditor")).text)
        for path in ("/regions/r2/savings", "/schools/s2/savings", "/schools/s2/anomalies")]
    assert sum(1 for *_, text in bodies if '"position"' in text) >= 15
    for role, path, text in bodies + extra:
        leaked = [s for s in secrets if s.lower() in text.lower()]
        assert not leaked, f"{role} {path} leaks {leaked}"


@pytest.mark.parametrize("kind", ["missing", "not bearer", "malformed", "bad signature",
                                  "expired", "revoked"])
def test_a_missing_malformed_expired_or_revoked_token_gets_401_everywhere(
        client: TestClient[Litestar], kind: str) -> None:
    auth = bad_auth(client, kind)
    for method, path, body, _ in ENDPOINTS:
        response = send(client, method, path, body, auth)
        if path == "/health":
            assert response.status_code == 200
            continue
        problem = assert_problem(response, 401)
        assert problem["type"].endswith("unauthenticated")
        assert response.headers["www-authenticate"] == "Bearer"


def bad_auth(client: TestClient[Litestar], kind: str) -> dict[str, str]:
    if kind == "missing":
        return {}
    if kind == "not bearer":
        return {"Authorization": "Basic YWRtaW46YWRtaW4="}
    if kind == "malformed":
        return bearer("tq1.not-a-token")
    if kind == "bad signature":
        return bearer(issue_token("another-secret-0123456789", "admin", ttl_s=60))
    if kind == "expired":
        return bearer(token("admin", ttl_s=60, now=1_700_000_000))
    value = token("admin")
    token_id = verify_token(SECRET, value).token_id
    ok(client.post(f"{API}/tokens/{token_id}/revocation", json={"reason": "leaked"},
                   headers=ADMIN))
    return bearer(value)


@pytest.mark.parametrize("method,path,body,roles", NOT_FOUND)
def test_an_unknown_school_child_or_terminal_is_404(
        client: TestClient[Litestar], method: str, path: str, body: Any, roles: str) -> None:
    for role in roles.split():
        problem = assert_problem(send(client, method, path, body, bearer(token(**ROLES[role]))),
                                 404)
        assert "zz" in problem["detail"]


def test_a_terminal_of_one_school_cannot_write_for_another(client: TestClient[Litestar]) -> None:
    own = bearer(token(**ROLES["t1"]))
    before = ok(client.get("/health"))["position"]
    other = send(client, "POST", "/terminals/s2-canteen/events", [meal("x1", card="card-c3")], own)
    assert assert_problem(other, 403)["detail"] == "role terminal may not write for another terminal"
    assert ok(client.get("/health"))["position"] == before
    [outcome] = ok(send(client, "POST", "/terminals/s1-canteen/events",
                        [meal("x2", card="card-c3", minute=30)], own))
    assert (outcome["status"], outcome["reason"]) == ("refused", "wrong_school")
    cost = ok(client.get(f"{API}/schools/s2/daily-cost?date={DAY}", headers=ADMIN))
    assert cost["funded_kzt"] == 0
