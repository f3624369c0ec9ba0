"""Personal data: names and IIN never sit in the log in clear, never reach a log line, and
withdrawing consent destroys them for good while every figure and the chain still hold."""

from __future__ import annotations

import logging

import pytest
from ledger_fixtures import SCHOOL_DAY, at, canteen, make_school, scan, stored_events

from api.app import create_app
from api.tokens import issue_token
from ledger.audit import verify
from ledger.base import stable_id
from ledger.child import Child
from ledger.personal import SHREDDED
from ledger.settings import load_settings
from ledger.store import close_ledger, open_ledger
from projections import build_runner
from projections.reports import school_savings, tenant_statement

FIRST, LAST, IIN = "Zhanserikova", "Ulbolsynova", "120345678901"


def _enrol_named(ledger: object) -> None:
    ledger.enrol_child(  # type: ignore[attr-defined]
        "s1", "named", first_name=FIRST, last_name=LAST, iin=IIN, grade=2, class_name="2A",
        shift=1, consent=__import__("ledger_fixtures").consent("named"))
    ledger.assign_voucher("named", "v-named", "2025-2026")  # type: ignore[attr-defined]
    ledger.activate_voucher("named", "v-named", __import__("datetime").date(2025, 9, 1))  # type: ignore[attr-defined]
    ledger.add_identifier("card", "card-named", child_id="named")  # type: ignore[attr-defined]


def test_names_and_iin_never_appear_in_stored_events(store_url: str) -> None:
    ledger = open_ledger(store_url)
    try:
        make_school(ledger)
        _enrol_named(ledger)
        scan(ledger, canteen(), "e1", card="card-named", at=at(SCHOOL_DAY))
        blob = b"".join(state for _, state in stored_events(ledger))
        assert blob, "the scenario stored events"
        for secret in (FIRST, LAST, IIN):
            assert secret.encode() not in blob
        child = ledger.load(Child, stable_id("child", "named"))
        assert ledger.personal_data(child).last_name == LAST  # readable with the key
    finally:
        close_ledger(ledger)


def test_withdrawing_consent_shreds_the_data_while_money_and_chain_hold(sqlite_url: str) -> None:
    ledger = open_ledger(sqlite_url)
    try:
        make_school(ledger)
        _enrol_named(ledger)
        outcome = scan(ledger, canteen(), "e1", card="card-named", at=at(SCHOOL_DAY))
        assert outcome.funding == "funded"
        runner = build_runner(ledger)
        runner.catch_up()
        with runner.db.read() as cur:
            before = (school_savings(cur, "s1", "2025-10"), tenant_statement(cur, "s1", "2025-10"))
        child = ledger.load(Child, stable_id("child", "named"))
        assert ledger.personal_data(child).last_name == LAST  # decrypted, and remembered
        ledger.withdraw_consent("named", SCHOOL_DAY, by="mother", document_ref="withdrawal-1")
        runner.catch_up()
        child = ledger.load(Child, stable_id("child", "named"))
        assert ledger.personal_data(child) == SHREDDED  # what was remembered is gone too
        with runner.db.read() as cur:
            after = (school_savings(cur, "s1", "2025-10"), tenant_statement(cur, "s1", "2025-10"))
        # the meal already served is still paid for; the list changes only from the withdrawal on
        assert after[1].total_kzt == before[1].total_kzt == 585
        assert after[0].actual_kzt == before[0].actual_kzt
        assert verify(ledger).ok
    finally:
        close_ledger(ledger)
    reopened = open_ledger(sqlite_url)  # the key is gone for good, not just from memory
    try:
        child = reopened.load(Child, stable_id("child", "named"))
        assert reopened.personal_data(child) == SHREDDED
    finally:
        close_ledger(reopened)


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


def test_a_full_scenario_through_the_api_logs_no_name_or_iin(
        sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from litestar.testing import TestClient

    monkeypatch.setenv("TAMAQ_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("TAMAQ_TOKEN_SECRET", "s" * 32)
    monkeypatch.setenv("TAMAQ_LOG_LEVEL", "DEBUG")
    settings = load_settings()
    admin = {"Authorization": "Bearer " + issue_token(settings.token_secret, "admin", ttl_s=600)}
    collect = Collect()
    loggers = [logging.getLogger(name) for name in ("", "litestar", "tamaq", "uvicorn", "httpx")]
    with TestClient(create_app(settings)) as client:
        for logger in loggers:  # after start-up: the app configures logging as it starts
            logger.addHandler(collect)
            logger.setLevel(logging.DEBUG)
        for method, path, body in [
            ("put", "/api/v1/regions/r1", {"name": "Region"}),
            ("put", "/api/v1/schools/s1", {"name": "School", "region_id": "r1", "district": "d"}),
            ("put", "/api/v1/schools/s1/calendar/2025-10", {"school_days": ["2025-10-06"]}),
            ("put", "/api/v1/schools/s1/menu/2025-10-06",
             {"items": [{"item_id": "l", "name": "Lunch", "price_kzt": 700, "free_meal": True}]}),
            ("post", "/api/v1/schools/s1/children",
             {"child_id": "named", "first_name": FIRST, "last_name": LAST, "iin": IIN, "grade": 2,
              "class_name": "2A", "consent": {"given_by": "mother", "document_ref": "c1",
                                              "signed_on": "2025-09-01"}}),
            ("post", "/api/v1/children/named/identifiers", {"kind": "card", "token": "k1"}),
        ]:
            assert getattr(client, method)(path, json=body, headers=admin).status_code < 300
        terminal = client.put("/api/v1/terminals/t1", json={"school_id": "s1", "kind": "canteen"},
                              headers=admin).json()
        auth = {"Authorization": "Bearer " + terminal["token"]}
        answer = client.post("/api/v1/terminals/t1/events", headers=auth, json=[
            {"event_id": "e1", "kind": "meal", "identifier": {"kind": "card", "token": "k1"},
             "at": "2025-10-06T04:00:00Z"}]).json()
        assert answer[0]["status"] in ("recorded", "refused")
        client.post("/api/v1/schools/s1/children", headers=admin, json={"child_id": "bad"})
        client.get("/api/v1/children/named/meals?month=2025-10", headers=admin)
    for logger in loggers:
        logger.removeHandler(collect)
    text = "\n".join(collect.lines)
    assert collect.lines, "the scenario logged something"
    for secret in (FIRST, LAST, IIN):
        assert secret not in text



