"""Exports as file downloads (xlsx or csv, Kazakh or Russian) and the filing of monthly
reports by the 5th, with the region's view of who filed on time."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from typing import Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.response import Stream

from api.auth import check_region, check_school, claims_of
from api.params import month_param
from api.routes_queries import known_region
from api.routes_setup import services
from exports import sources
from exports.files import CONTENT_TYPES, check_format, content_disposition, filename, write_report
from exports.labels import check_lang
from ledger.dates import local_day, month_bounds, parse_month, utc_now
from ledger.errors import IdempotencyConflict, InvalidInput
from ledger.records import REPORT_KINDS
from projections.reports import region_filings
from projections.views import RegionFilings

MONTHS_MAX = 36
CHUNK_BYTES = 64 * 1024
READERS = {"tenant-statement": ("accountant", "school-admin", "auditor"),
           "meal-register": ("accountant", "school-admin"),  # pupils' names: not for auditors
           "free-meals": ("accountant", "school-admin", "auditor"),
           "attendance": ("accountant", "school-admin", "auditor")}


class FilingBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    sha256: str | None = None  # the digest of the file the school holds, to check it matches


class Filed(msgspec.Struct, frozen=True):
    school_id: str
    kind: str
    month: str
    sha256: str
    position: int
    chain_head: str
    filed_at: str
    due: str
    late: bool


def _download(data: Any, fmt: str, lang: str) -> Response[Any]:
    check_format(fmt)
    check_lang(lang)
    buffer = io.BytesIO()
    write_report(data, buffer, fmt=fmt, lang=lang)  # type: ignore[arg-type]
    content = buffer.getvalue()

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(content), CHUNK_BYTES):
            yield content[start:start + CHUNK_BYTES]

    name = filename(data, fmt=fmt, lang=lang)  # type: ignore[arg-type]
    # litestar adds the charset to text types itself
    return Stream(chunks(), media_type=CONTENT_TYPES[fmt].split(";")[0], headers={
        "Content-Disposition": content_disposition(name),
        "X-Tamaq-Position": str(getattr(data, "position", 0)),
        "X-Tamaq-Chain-Head": str(getattr(data, "chain_head", "")),
        "X-Tamaq-SHA256": hashlib.sha256(content).hexdigest()})


def _kind(kind: str) -> str:
    if kind not in sources.BUILDERS:
        raise InvalidInput("kind", f"must be one of {', '.join(sources.BUILDERS)}")
    return kind


def _months(month: str, to: str | None) -> list[str]:
    first, last = parse_month("month", month), parse_month("to", to or month)
    if last < first:
        raise InvalidInput("to", "must not be before month")
    months, current = [], first
    while current <= last:
        months.append(current)
        current = month_bounds(current)[1].isoformat()[:7]
        if len(months) > MONTHS_MAX:
            raise InvalidInput("to", f"at most {MONTHS_MAX} months in one export")
    return months


class ExportController(Controller):
    path = "/api/v1"
    tags = ["exports"]

    @get("/schools/{school_id:str}/exports/{kind:str}", sync_to_thread=True)
    def school_export(self, request: Request[Any, Any, Any], school_id: FromPath[str],
                      kind: FromPath[str], month: FromQuery[str | None] = None,
                      lang: FromQuery[str] = "kk", format: FromQuery[str] = "xlsx") -> Response[Any]:
        svc = services(request)
        check_school(svc, claims_of(request), school_id, *READERS[_kind(kind)],
                     what=f"export the {kind}")
        with svc.read() as cur:
            data = sources.BUILDERS[kind](sources.Source(cur, svc.ledger, svc.chain_head_at),
                                          school_id, month_param(month))
        return _download(data, format, lang)

    @get("/regions/{region_id:str}/exports/savings", sync_to_thread=True)
    def region_export(self, request: Request[Any, Any, Any], region_id: FromPath[str],
                      month: FromQuery[str | None] = None, to: FromQuery[str | None] = None,
                      lang: FromQuery[str] = "kk", format: FromQuery[str] = "xlsx") -> Response[Any]:
        svc = services(request)
        check_region(claims_of(request), region_id, "region", "auditor",
                     what="export regional savings")
        known_region(svc, region_id)
        months = _months(month_param(month), to)
        with svc.read() as cur:
            data = sources.regional_savings(sources.Source(cur, svc.ledger, svc.chain_head_at),
                                            region_id, months)
        return _download(data, format, lang)

    @post("/schools/{school_id:str}/reports/{kind:str}/{month:str}/filing", sync_to_thread=True,
          status_code=201)
    def file_report(self, request: Request[Any, Any, Any], school_id: FromPath[str],
                    kind: FromPath[str], month: FromPath[str],
                    data: JSONBody[FilingBody | None] = None) -> Filed:
        """File the month's report: the server computes the file (xlsx, Kazakh), records its
        SHA-256 with the position and chain head it stands on, who filed it and when."""
        svc = services(request)
        claims = claims_of(request)
        check_school(svc, claims, school_id, "accountant", "school-admin", what="file reports")
        if kind not in REPORT_KINDS:
            raise InvalidInput("kind", f"must be one of {', '.join(REPORT_KINDS)}")
        month = month_param(month)
        with svc.read() as cur:
            report = sources.BUILDERS[kind](sources.Source(cur, svc.ledger, svc.chain_head_at),
                                            school_id, month)
        buffer = io.BytesIO()
        write_report(report, buffer)  # type: ignore[arg-type]
        digest = hashlib.sha256(buffer.getvalue()).hexdigest()
        if data is not None and data.sha256 is not None and data.sha256 != digest:
            raise IdempotencyConflict(
                f"the file you hold ({data.sha256[:12]}…) is not the {kind} the ledger computes "
                f"now ({digest[:12]}…): download it again, then file")
        filing = svc.ledger.file_report(school_id, kind, month, sha256=digest,
                                        position=report.position, chain_head=report.chain_head,
                                        filed_by=claims.token_id)
        first = filing.filings[0]
        due = month_bounds(month)[1].replace(day=5)
        return Filed(school_id, kind, month, digest, report.position, report.chain_head,
                     first.filed_at.isoformat(), due.isoformat(),
                     local_day(first.filed_at, svc.settings.time_zone) > due)

    @get("/regions/{region_id:str}/filings", sync_to_thread=True)
    def filings(self, request: Request[Any, Any, Any], region_id: FromPath[str],
                month: FromQuery[str | None] = None) -> RegionFilings:
        svc = services(request)
        check_region(claims_of(request), region_id, "region", "auditor", what="read filings")
        known_region(svc, region_id)
        with svc.read() as cur:
            return region_filings(cur, region_id, month_param(month),
                                  local_day(utc_now(), svc.settings.time_zone))
