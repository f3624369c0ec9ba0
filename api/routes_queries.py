"""Queries over the read models, each scoped to what the caller may see."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar.params import FromPath, FromQuery, JSONBody
from litestar import Controller, Request, get, post

from api import schemas as s
from api.auth import check_child, check_region, check_school, claims_of
from api.params import month_param, parse_date_param, parse_instant_param
from api.routes_setup import services, written
from projections import anomalies as an
from projections import queries as q
from projections import reports as r
from projections import views as v
from projections.pointintime import region_savings_at, school_savings_at

def known_region(svc: Any, region_id: str) -> None:
    from ledger.base import stable_id
    from ledger.errors import NotFound
    from ledger.school import Region

    if svc.ledger.load(Region, stable_id("region", region_id)) is None:
        raise NotFound("region", region_id)


SCHOOL_READERS = ("school-admin", "accountant", "auditor")
CHILD_READERS = ("school-admin", "accountant", "parent")


class QueryController(Controller):
    path = "/api/v1"
    tags = ["queries"]

    @get("/children/{child_id:str}/balance", sync_to_thread=True)
    def balance(self, request: Request[Any, Any, Any], child_id: FromPath[str]) -> v.Balance:
        svc = services(request)
        check_child(svc, claims_of(request), child_id, *CHILD_READERS, what="read balances")
        with svc.read() as cur:
            return q.balance(cur, child_id)

    @get("/children/{child_id:str}/meals", sync_to_thread=True)
    def meals(self, request: Request[Any, Any, Any], child_id: FromPath[str],
              month: FromQuery[str | None] = None) -> list[v.MealRow]:
        svc = services(request)
        check_child(svc, claims_of(request), child_id, *CHILD_READERS, what="read meals")
        with svc.read() as cur:
            return q.child_meals(cur, child_id, month_param(month))

    @get("/children/{child_id:str}/passes", sync_to_thread=True)
    def passes(self, request: Request[Any, Any, Any], child_id: FromPath[str],
               month: FromQuery[str | None] = None) -> list[v.PassRow]:
        svc = services(request)
        check_child(svc, claims_of(request), child_id, *CHILD_READERS, what="read gate passes")
        with svc.read() as cur:
            return q.child_passes(cur, child_id, month_param(month))

    @get("/schools/{school_id:str}/entitlements", sync_to_thread=True)
    def entitlements(self, request: Request[Any, Any, Any], school_id: FromPath[str],
                     date: FromQuery[str | None] = None) -> v.Entitlements:
        svc = services(request)
        check_school(svc, claims_of(request), school_id, "school-admin", "accountant",
                     what="read entitlement lists")
        with svc.read() as cur:
            return q.entitlements(cur, school_id, parse_date_param("date", date or ""))

    @get("/schools/{school_id:str}/daily-cost", sync_to_thread=True)
    def daily_cost(self, request: Request[Any, Any, Any], school_id: FromPath[str],
                   date: FromQuery[str | None] = None) -> v.DailyCost:
        svc = services(request)
        check_school(svc, claims_of(request), school_id, *SCHOOL_READERS, "region",
                     what="read daily cost")
        with svc.read() as cur:
            return q.daily_cost(cur, school_id, parse_date_param("date", date or ""))

    @get("/schools/{school_id:str}/savings", sync_to_thread=True)
    def savings(self, request: Request[Any, Any, Any], school_id: FromPath[str],
                month: FromQuery[str | None] = None, as_of: FromQuery[str | None] = None) -> v.SchoolSavings:
        svc = services(request)
        check_school(svc, claims_of(request), school_id, *SCHOOL_READERS, "region",
                     what="read savings")
        instant = parse_instant_param("as_of", as_of)
        if instant is None:
            with svc.read() as cur:
                result = r.school_savings(cur, school_id, month_param(month))
        else:
            result = svc.savings_as_of(school_savings_at, school_id, month_param(month), instant)
        return msgspec.structs.replace(result, as_of=instant.isoformat() if instant else None,
                                       chain_head=svc.chain_head_at(result.position))

    @get("/regions/{region_id:str}/savings", sync_to_thread=True)
    def region_savings(self, request: Request[Any, Any, Any], region_id: FromPath[str],
                       month: FromQuery[str | None] = None, as_of: FromQuery[str | None] = None) -> v.RegionSavings:
        svc = services(request)
        check_region(claims_of(request), region_id, "region", "auditor", what="read savings")
        known_region(svc, region_id)
        instant = parse_instant_param("as_of", as_of)
        if instant is None:
            with svc.read() as cur:
                result = r.region_savings(cur, region_id, month_param(month))
        else:
            result = svc.savings_as_of(region_savings_at, region_id, month_param(month), instant)
        return msgspec.structs.replace(result, as_of=instant.isoformat() if instant else None,
                                       chain_head=svc.chain_head_at(result.position))

    @get("/schools/{school_id:str}/tenant-statement", sync_to_thread=True)
    def statement(self, request: Request[Any, Any, Any], school_id: FromPath[str],
                  month: FromQuery[str | None] = None) -> v.TenantStatement:
        svc = services(request)
        check_school(svc, claims_of(request), school_id, "accountant", "school-admin", "auditor",
                     what="read tenant statements")
        with svc.read() as cur:
            result = r.tenant_statement(cur, school_id, month_param(month))
        return msgspec.structs.replace(result, chain_head=svc.chain_head_at(result.position))

    @get("/schools/{school_id:str}/anomalies", sync_to_thread=True)
    def anomalies(self, request: Request[Any, Any, Any], school_id: FromPath[str],
                  month: FromQuery[str | None] = None) -> list[v.Anomaly]:
        svc = services(request)
        check_school(svc, claims_of(request), school_id, *SCHOOL_READERS, what="read anomalies")
        with svc.read() as cur:
            return an.school_anomalies(cur, school_id, month_param(month))

    @get("/schools/{school_id:str}/attendance", sync_to_thread=True)
    def attendance(self, request: Request[Any, Any, Any], school_id: FromPath[str],
                   date: FromQuery[str | None] = None) -> v.AttendanceDay:
        svc = services(request)
        check_school(svc, claims_of(request), school_id, *SCHOOL_READERS, what="read attendance")
        with svc.read() as cur:
            return q.attendance(cur, school_id, parse_date_param("date", date or ""))

    @post("/schools/{school_id:str}/ratings", sync_to_thread=True)
    def rate(self, request: Request[Any, Any, Any], school_id: FromPath[str],
             data: JSONBody[s.RatingBody]) -> Any:
        svc = services(request)
        claims = claims_of(request)
        check_child(svc, claims, data.child_id, "parent", what="rate the canteen")
        return written(request, svc.ledger.rate_service(
            data.rating_id, school_id, data.child_id, data.date, data.score, data.comment))
