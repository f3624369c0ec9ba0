"""The Litestar application: `create_app(settings)`; `tamaq serve` runs it under uvicorn."""

from __future__ import annotations

import logging
from typing import Any, Literal

import msgspec
from litestar import Litestar, Request, get
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import RedocRenderPlugin, SwaggerRenderPlugin

from api import fastpath
from api.errors import EXCEPTION_HANDLERS
from api.pages import PAGE_HANDLERS
from api.routes_audit import AuditController
from api.routes_exports import ExportController
from api.routes_money import MoneyController
from api.routes_notifications import NotificationController
from api.routes_queries import QueryController
from api.routes_setup import ChildSetupController, SetupController
from api.routes_terminals import TerminalController
from api.services import Services
from ledger.settings import Settings, load_settings

BODY_BYTES_MAX = 4 * 1024 * 1024  # a full 5,000-item terminal batch is about 1.5 MB


class Health(msgspec.Struct, frozen=True):
    status: Literal["ok"]
    storage: Literal["memory", "sqlite", "postgres"]
    position: int  # the event log's head
    read_models_position: int  # how far the read models have caught up
    writer_batches: int  # commits the scan writer made
    writer_requests: int  # scan requests it answered (requests / batches = batching)
    pid: int  # the `tamaq serve` process (tells two servers on one port apart)


@get("/health", sync_to_thread=True, tags=["health"])
def health(request: Request[Any, Any, Any]) -> Health:
    services: Services = request.app.state.services
    return Health("ok", services.storage, services.head(),  # type: ignore[arg-type]
                  services.runner.position_cache, services.writer.batches,
                  services.writer.requests, services.serve_pid)


def create_app(settings: Settings | None = None, *, services: Services | None = None,
               background: bool = True, scan_fast_path: bool | None = None) -> Litestar:
    """Build the app. `background=False` keeps projections and writes in the request thread
    (deterministic tests); by default a writer thread batches scans and a projection thread
    keeps the read models current. `scan_fast_path` (default: TAMAQ_SCAN_FAST_PATH, on)
    answers online scans outside Litestar's request cycle (api/fastpath.py)."""
    settings = settings or load_settings()
    logging.basicConfig(level=settings.log_level)
    svc = services or Services(settings)

    def start() -> None:
        if background:
            svc.start()

    def stop() -> None:
        svc.stop()

    app = Litestar(
        route_handlers=[health, SetupController, ChildSetupController, TerminalController,
                        MoneyController, QueryController, NotificationController,
                        AuditController, ExportController, *PAGE_HANDLERS],
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        openapi_config=OpenAPIConfig(
            title="Tamaq Ledger", version="1.0.0", path="/schema",
            description="Event-sourced ledger for school-meal finance in Kazakhstan.",
            render_plugins=[SwaggerRenderPlugin(), RedocRenderPlugin(path="/redoc")]),
        request_max_body_size=BODY_BYTES_MAX,
        on_startup=[start],
        on_shutdown=[stop],
    )
    app.state.services = svc
    if fastpath.enabled() if scan_fast_path is None else scan_fast_path:
        fastpath.install(app)
    return app
