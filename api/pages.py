"""Web pages for regions, accountants, auditors and parents, served by the API's own app.

The pages are shells rendered server-side (Jinja2: navigation, labels, forms, empty tables);
`static/tamaq.js` fetches the JSON API under /api/v1 with the token pasted at sign-in (kept
in sessionStorage, sent as `Authorization: Bearer`) and fills them in. So every figure on a
page is exactly the figure the API answers: nothing is computed twice.

    route_handlers=[..., *PAGE_HANDLERS]      # in api/app.py

Routes (none in the OpenAPI document: they are not the API contract):
    GET /                       -> redirect to /pages
    GET /pages                  sign in (paste a token)
    GET /pages/{region|school|auditor|parent}?month=YYYY-MM&lang=kk|ru
    GET /pages/whoami           who the Bearer token is (JSON), for the page script
    GET /pages/static/...       CSS and JS shipped in the package (no CDN)
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any, Literal

import jinja2
import msgspec
from litestar import Controller, MediaType, Request, Response, get
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect
from litestar.static_files import create_static_files_router

from api.auth import child_school, claims_of
from ledger.dates import local_day, utc_now
from ledger.errors import NotFound

HERE = Path(__file__).resolve().parent
TEMPLATES_DIR = HERE / "templates"
STATIC_DIR = HERE / "static"
PAGES_PREFIX = "/pages"
LANGS = ("kk", "ru")
PAGES = ("region", "school", "auditor", "parent")
MONTH_RE = re.compile(r"^20[0-9]{2}-(0[1-9]|1[0-2])$")
Lang = Literal["kk", "ru"]
DEFAULT_LANG: Lang = "kk"


def is_page_route(path: str) -> bool:
    """True for the routes this module serves (tests of the API contract leave them out)."""
    return path == "/" or path == PAGES_PREFIX or path.startswith(PAGES_PREFIX + "/")


@cache
def labels() -> dict[str, dict[str, str]]:
    """Every label in every language: {lang: {key: text}} (templates/labels.json)."""
    data: dict[str, dict[str, str]] = json.loads(
        (TEMPLATES_DIR / "labels.json").read_text(encoding="utf-8"))
    return data


@cache
def environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,  # a missing label fails loudly, in tests
        trim_blocks=True, lstrip_blocks=True)


def pick_lang(lang: str | None) -> Lang:
    return "ru" if lang == "ru" else DEFAULT_LANG


def pick_month(request: Request[Any, Any, Any], month: str | None) -> str:
    """The month asked for, or the current local month (Asia/Almaty by default)."""
    if month is not None and MONTH_RE.match(month):
        return month
    zone = request.app.state.services.settings.time_zone
    return local_day(utc_now(), zone).isoformat()[:7]


def render(name: str, *, page: str, lang: Lang, month: str, query: dict[str, str]) -> Response[str]:
    other: Lang = "ru" if lang == "kk" else "kk"
    text = labels()[lang]
    html = environment().get_template(name).render(
        t=text, lang=lang, other_lang=other, page=page, month=month, prefix=PAGES_PREFIX,
        query=query, labels_json=json.dumps(text, ensure_ascii=False).replace("</", "<\\/"))
    return Response(html, media_type=MediaType.HTML,
                    headers={"Cache-Control": "no-store",
                             "Content-Security-Policy": CSP,
                             "X-Content-Type-Options": "nosniff"})


# Everything comes from this server: no CDN, no inline script but the labels' JSON island.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")


class Child(msgspec.Struct, frozen=True):
    child_id: str
    school_id: str | None


class WhoAmI(msgspec.Struct, frozen=True):
    """The token's claims as the page script needs them (never the token itself)."""

    role: str
    token_id: str
    school_id: str | None
    region_id: str | None
    children: list[Child]
    expires_at: int


def scope_query(request: Request[Any, Any, Any]) -> dict[str, str]:
    """The scope ids a page was opened with (admins and auditors pick them by hand)."""
    wanted = ("region", "school", "child")
    return {k: v[:64] for k, v in request.query_params.items() if k in wanted and v}


class PagesController(Controller):
    path = "/"
    include_in_schema = False

    @get("/")
    async def root(self) -> Redirect:
        return Redirect(PAGES_PREFIX)

    @get(PAGES_PREFIX)
    async def sign_in(self, request: Request[Any, Any, Any], month: FromQuery[str | None] = None,
                      lang: FromQuery[str | None] = None) -> Response[str]:
        return render("sign_in.html", page="sign-in", lang=pick_lang(lang),
                      month=pick_month(request, month), query={})

    @get(PAGES_PREFIX + "/{page:str}")
    async def page(self, request: Request[Any, Any, Any], page: FromPath[str],
                   month: FromQuery[str | None] = None,
                   lang: FromQuery[str | None] = None) -> Response[str]:
        if page not in PAGES:
            raise NotFoundException(f"no page {page!r}; pages are {', '.join(PAGES)}")
        return render(f"{page}.html", page=page, lang=pick_lang(lang),
                      month=pick_month(request, month), query=scope_query(request))

    @get(PAGES_PREFIX + "/whoami", sync_to_thread=True)
    def whoami(self, request: Request[Any, Any, Any]) -> WhoAmI:
        claims = claims_of(request)
        services = request.app.state.services
        children = []
        for child_id in claims.child_ids:
            try:
                school: str | None = child_school(services, child_id)
            except NotFound:
                school = None
            children.append(Child(child_id, school))
        return WhoAmI(claims.role, claims.token_id, claims.school_id, claims.region_id,
                      children, claims.expires_at)


static_router = create_static_files_router(
    path=PAGES_PREFIX + "/static", directories=[STATIC_DIR], include_in_schema=False,
    name="page-static", cache_control=None)

PAGE_HANDLERS: list[Any] = [PagesController, static_router]
