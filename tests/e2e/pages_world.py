"""Given-helpers and fixtures for the browser tests of the web pages: a real `tamaq serve` on a SQLite file, seeded through the
HTTP API, driven by headless Chromium from Debian through Playwright for Python.

They skip with one line when Playwright (pip) or /usr/bin/chromium (apt) is missing.
Screenshots go to test-artifacts/screenshots/ (gitignored).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.live_server import (API, LiveChild, LiveServer, LiveSchool, at_local, events_path,
                               meal_item, seed_live_school)

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM = Path(os.environ.get("TAMAQ_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
MONTH = "2025-10"
PAGE_WAIT_MS = 20_000


def weekdays(month: str) -> list[date]:
    day, days = date(int(month[:4]), int(month[5:7]), 1), []
    while day.month == int(month[5:7]):
        if day.weekday() < 5:
            days.append(day)
        day += timedelta(days=1)
    return days


def kzt(amount: int) -> str:
    """How the pages show money: whole tenge, thin-space thousands, then a no-break space and ₸."""
    digits = f"{abs(amount):,}".replace(",", "\u2009")
    return ("\u2212" if amount < 0 else "") + digits + "\u00a0₸"


def pct(value: float) -> str:
    return f"{value:.1f}".replace(".", ",") + "\u00a0%"


@dataclass
class World:
    """The seeded region: two schools in r1, tokens per role, the instant between two
    batches of meals (for the replay-as-of form)."""

    server: LiveServer
    schools: dict[str, LiveSchool]
    tokens: dict[str, str] = field(default_factory=dict)
    between_batches: str = ""

    def get(self, path: str, role: str) -> Any:
        response = httpx.get(self.server.url + path, timeout=30.0,
                             headers={"Authorization": f"Bearer {self.tokens[role]}"})
        assert response.status_code == 200, (path, response.status_code, response.text)
        return response.json()

    def url(self, page: str, **query: str) -> str:
        params = "&".join(f"{k}={v}" for k, v in {"month": MONTH, **query}.items())
        return f"{self.server.url}/pages/{page}?{params}"


def post_events(server: LiveServer, school: LiveSchool, terminal: str,
                items: list[dict[str, Any]]) -> None:
    response = httpx.post(server.url + events_path(terminal), json=items, timeout=30.0,
                          headers=school.terminal_headers(terminal))
    assert response.status_code == 200, response.text
    refused = [r for r in response.json() if r["status"] == "refused"]
    assert not refused, refused


def meals(school: LiveSchool, children: list[str], days: list[date], prefix: str,
          item_ids: list[str] | None = None) -> list[dict[str, Any]]:
    return [meal_item(f"{prefix}-{cid}-{day.isoformat()}", card=f"card-{cid}",
                      at=at_local(day, 12, 5 + n), item_ids=item_ids)
            for day in days for n, cid in enumerate(children)]


def passes(children: list[str], days: list[date]) -> list[dict[str, Any]]:
    return [{"event_id": f"g{d}-{cid}-{direction}", "kind": "gate_pass",
             "at": at_local(day, hour, n), "identifier": {"kind": "card", "token": f"card-{cid}"},
             "direction": direction, "method": "card"}
            for d, day in enumerate(days) for n, cid in enumerate(children)
            for direction, hour in (("in", 8), ("out", 14))]


def seed(server: LiveServer) -> World:
    days = weekdays(MONTH)
    s1 = seed_live_school(server, "s1", days=days, menu_days=days[:8], children=[
        LiveChild("c1", grade=2), LiveChild("c2", grade=7, category="large_family"),
        LiveChild("c3", grade=3, balance_kzt=5_000), LiveChild("c4", grade=9)])
    s2 = seed_live_school(server, "s2", days=days, menu_days=days[:8], children=[
        LiveChild("d1", grade=1), LiveChild("d2", grade=4)])
    post_events(server, s1, s1.canteen, meals(s1, ["c1", "c2", "c3"], days[:3], "m"))
    post_events(server, s1, s1.canteen, meals(s1, ["c3"], days[:2], "bun", ["bun"]))
    post_events(server, s1, s1.gate, passes(["c1", "c3"], days[:4]))
    post_events(server, s2, s2.canteen, meals(s2, ["d1", "d2"], days[:6], "m"))
    time.sleep(0.05)
    between = datetime.now(UTC).isoformat()
    time.sleep(0.05)
    post_events(server, s1, s1.canteen, meals(s1, ["c1", "c2"], days[3:8], "late"))
    filing = httpx.post(f"{server.url}{API}/schools/s2/reports/free-meals/{MONTH}/filing", json={},
                        headers=server.headers("accountant", school_id="s2"), timeout=30.0)
    assert filing.status_code in (200, 201, 404), filing.text  # 404: filings not served yet
    world = World(server, {"s1": s1, "s2": s2}, between_batches=between)
    world.tokens = {
        "region": server.token("region", region_id="r1"),
        "accountant": server.token("accountant", school_id="s1"),
        "auditor": server.token("auditor", region_id="r1"),
        "parent": server.token("parent", child_ids=["c3", "c1"]),
    }
    return world


# Module scope, not session: while sync_playwright runs, its event loop is the thread's
# running loop, and asyncio.run() in any later test of the same worker fails ("cannot be
# called from a running event loop"). tests/conftest.py also runs these tests last.
@pytest.fixture(scope="module")
def playwright_api() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("browser tests skipped: pip install playwright (no browser download needed)")
    if not CHROMIUM.exists():
        pytest.skip(f"browser tests skipped: no {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as api:
        yield api


@pytest.fixture(scope="module")
def browser(playwright_api: Any) -> Iterator[Any]:
    browser = playwright_api.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    try:
        yield browser
    finally:
        browser.close()


@pytest.fixture(scope="module")
def world(playwright_api: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    workdir = tmp_path_factory.mktemp("pages-server")
    server = LiveServer(f"sqlite:///{workdir / 'tamaq.sqlite3'}", workdir)
    server.start()
    try:
        yield seed(server)
    finally:
        server.stop()


@pytest.fixture
def page(browser: Any, world: World) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True,
                                  locale="kk-KZ", timezone_id="Asia/Almaty")
    context.set_default_timeout(PAGE_WAIT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        yield page
    finally:
        context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def sign_in(page: Any, world: World, role: str, *, lang: str = "kk") -> None:
    """Paste the role's token on the sign-in page; land on the role's home page."""
    page.goto(f"{world.server.url}/pages?lang={lang}&month={MONTH}")
    page.fill("#token", world.tokens[role])
    page.click("#sign-in-form button[type=submit]")
    page.wait_for_selector("body[data-ready='1']")


def open_page(page: Any, url: str) -> None:
    page.goto(url)
    page.wait_for_selector("body[data-ready='1']")


def screenshot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def kzt_cells(page: Any, selector: str) -> list[tuple[int, str]]:
    """(data-kzt, shown text) of every money cell under `selector`."""
    cells = page.locator(selector).evaluate_all(
        "els => els.map(e => [Number(e.dataset.kzt), e.textContent])")
    return [(int(a), str(t)) for a, t in cells]

