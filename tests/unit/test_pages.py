"""The web pages' server side: shells in Kazakh or Russian, assets shipped in the package,
`whoami` for the page script, and nothing of it in the API contract."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from api.pages import PAGES, PAGES_PREFIX, STATIC_DIR, TEMPLATES_DIR, is_page_route, labels
from projections.views import SOURCES
from tests.api_fixtures import api_client, headers, seed_school

JS = (STATIC_DIR / "tamaq.js").read_text(encoding="utf-8")
SVG_NS = "http://www.w3.org/2000/svg"


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient[Litestar]]:
    with api_client("memory://") as client:
        seed_school(client)
        yield client


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("lang", ["kk", "ru"])
def test_every_page_renders_as_html_in_each_language(client: TestClient[Litestar], page: str,
                                                     lang: str) -> None:
    response = client.get(f"{PAGES_PREFIX}/{page}?lang={lang}&month=2025-10")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert f'<html lang="{lang}">' in response.text
    assert 'data-month="2025-10"' in response.text
    assert labels()[lang][f"nav_{page}"] in response.text


def test_pages_are_kazakh_by_default_and_an_unknown_language_falls_back_to_kazakh(
        client: TestClient[Litestar]) -> None:
    for query in ("", "?lang=en"):
        text = client.get(f"{PAGES_PREFIX}/region{query}").text
        assert '<html lang="kk">' in text and labels()["kk"]["region_title"] in text


def test_a_bad_month_falls_back_to_the_current_local_month(client: TestClient[Litestar]) -> None:
    text = client.get(f"{PAGES_PREFIX}/school?month=2025-13").text
    month = re.search(r'data-month="([0-9-]+)"', text)
    assert month and re.fullmatch(r"20[0-9]{2}-(0[1-9]|1[0-2])", month.group(1))
    assert month.group(1) != "2025-13"


def test_the_root_sends_you_to_the_sign_in_page(client: TestClient[Litestar]) -> None:
    response = client.get("/", follow_redirects=False)
    assert response.status_code in (301, 302, 307, 308)
    assert response.headers["location"] == PAGES_PREFIX
    sign_in = client.get(PAGES_PREFIX)
    assert sign_in.status_code == 200 and 'id="sign-in-form"' in sign_in.text


def test_an_unknown_page_is_a_404_problem(client: TestClient[Litestar]) -> None:
    response = client.get(f"{PAGES_PREFIX}/ministry")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")


def test_both_languages_label_the_same_things_and_no_label_is_empty() -> None:
    kk, ru = labels()["kk"], labels()["ru"]
    assert set(kk) == set(ru)
    assert all(text.strip() for text in [*kk.values(), *ru.values()])
    assert not set(kk) & set(dir(dict)), "a label named like a dict method hides in templates"


def test_every_label_the_script_uses_exists() -> None:
    used = set(re.findall(r"\bT\.([a-z_]+)", JS))
    assert len(used) > 20
    assert used - set(labels()["kk"]) == set()
    values = {"band_": ["preschool", "primary", "senior"], "source_": list(SOURCES.values()),
              "funding_": ["funded", "paid", "unfunded"], "dir_": ["in", "out"],
              "method_": ["palm", "card", "manual"],
              "export_": ["tenant-statement", "meal-register", "free-meals", "attendance"]}
    for prefix, names in values.items():
        assert f'label("{prefix}"' in JS
        assert {prefix + n for n in names} <= set(labels()["kk"]), prefix


def test_the_assets_are_served_from_the_package_and_nothing_is_fetched_from_elsewhere(
        client: TestClient[Litestar]) -> None:
    for name, kind in (("tamaq.js", "javascript"), ("tamaq.css", "text/css")):
        response = client.get(f"{PAGES_PREFIX}/static/{name}")
        assert response.status_code == 200 and kind in response.headers["content-type"]
    shipped = [*TEMPLATES_DIR.iterdir(), *STATIC_DIR.iterdir()]
    for path in shipped:
        text = path.read_text(encoding="utf-8").replace(SVG_NS, "")
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text), path.name
    page = client.get(f"{PAGES_PREFIX}/parent")
    assert "default-src 'self'" in page.headers["content-security-policy"]


def test_the_static_route_does_not_serve_files_outside_the_static_folder(
        client: TestClient[Litestar]) -> None:
    for path in ("../pages.py", "..%2Fpages.py", "../templates/base.html"):
        assert client.get(f"{PAGES_PREFIX}/static/{path}").status_code == 404


def test_whoami_tells_the_page_script_the_role_and_scope_of_the_token(
        client: TestClient[Litestar]) -> None:
    assert client.get(f"{PAGES_PREFIX}/whoami").status_code == 401
    response = client.get(f"{PAGES_PREFIX}/whoami",
                          headers=headers("parent", child_ids=["c2", "c1"]))
    assert response.status_code == 200, response.text
    me = response.json()
    assert me["role"] == "parent"
    assert me["children"] == [{"child_id": "c2", "school_id": "s1"},
                              {"child_id": "c1", "school_id": "s1"}]
    accountant = client.get(f"{PAGES_PREFIX}/whoami", headers=headers("accountant", school_id="s1"))
    assert accountant.json()["school_id"] == "s1" and accountant.json()["children"] == []
    assert "tq1." not in accountant.text


def test_the_pages_are_not_part_of_the_api_contract(client: TestClient[Litestar]) -> None:
    document = client.get("/schema/openapi.json").json()
    assert not [path for path in document["paths"] if is_page_route(path)]
    served = {route.path for route in client.app.routes}
    assert {"/", PAGES_PREFIX, f"{PAGES_PREFIX}/whoami"} <= served
    assert not is_page_route("/api/v1/regions/{region_id}/savings") and is_page_route("/")
