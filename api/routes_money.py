"""Money: top-ups and refunds, voids, the month close, payments to the tenant, token revocation."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar.params import FromPath, JSONBody
from litestar import Controller, Request, Response, post

from api import schemas as s
from api.auth import check_child, check_school, claims_of, need_role
from api.params import month_param
from api.routes_setup import services, written
from ledger.base import stable_id
from ledger.errors import NotFound
from ledger.school import Terminal
from projections.closing import close_month
from projections.views import TenantStatement


class Balance(msgspec.Struct, frozen=True):
    child_id: str
    balance_kzt: int
    position: int


class MoneyController(Controller):
    path = "/api/v1"
    tags = ["money"]

    @post("/children/{child_id:str}/top-ups", sync_to_thread=True)
    def top_up(self, request: Request[Any, Any, Any], child_id: FromPath[str],
               data: JSONBody[s.TopUpBody]) -> Response[Balance]:
        need_role(claims_of(request), "payments", what="record top-ups")
        svc = services(request)
        # decided inside the unit of work: one 201 among racing repeats, in any process
        balance, created = svc.ledger.top_up_result(child_id, data.payment_id, data.amount_kzt,
                                                    data.paid_at)
        return Response(Balance(child_id, balance, svc.head()), status_code=201 if created else 200)

    @post("/children/{child_id:str}/refunds", sync_to_thread=True)
    def refund(self, request: Request[Any, Any, Any], child_id: FromPath[str],
               data: JSONBody[s.RefundBody]) -> Response[Balance]:
        svc = services(request)
        claims = claims_of(request)
        check_child(svc, claims, child_id, "accountant", what="refund balances")
        balance, created = svc.ledger.refund_result(child_id, data.refund_id, data.amount_kzt,
                                                    data.reason, by=claims.role)
        return Response(Balance(child_id, balance, svc.head()), status_code=201 if created else 200)

    @post("/terminals/{terminal_id:str}/events/{event_id:str}/void", sync_to_thread=True)
    def void(self, request: Request[Any, Any, Any], terminal_id: FromPath[str], event_id: FromPath[str],
             data: JSONBody[s.VoidBody]) -> Response[s.Written]:
        svc = services(request)
        claims = claims_of(request)
        terminal = svc.ledger.load(Terminal, stable_id("terminal", terminal_id))
        if terminal is None:
            raise NotFound("terminal", terminal_id)
        check_school(svc, claims, terminal.school_id, "accountant", "school-admin",
                     what="void meals")
        return written(request, svc.ledger.void_meal(terminal_id, event_id,
                                                     by=claims.token_id, reason=data.reason))

    @post("/schools/{school_id:str}/months/{month:str}/close", sync_to_thread=True,
          status_code=200)
    def close(self, request: Request[Any, Any, Any], school_id: FromPath[str],
              month: FromPath[str]) -> TenantStatement:
        svc = services(request)
        claims = claims_of(request)
        check_school(svc, claims, school_id, "accountant", what="close months")
        return close_month(svc.ledger, svc.runner, school_id, month_param(month),
                           closed_by=claims.token_id)

    @post("/schools/{school_id:str}/tenant-payments", sync_to_thread=True)
    def tenant_payment(self, request: Request[Any, Any, Any], school_id: FromPath[str],
                       data: JSONBody[s.TenantPaymentBody]) -> Response[s.Written]:
        svc = services(request)
        claims = claims_of(request)
        check_school(svc, claims, school_id, "accountant", what="record tenant payments")
        before = svc.head()
        svc.ledger.record_tenant_payment(school_id, data.payment_id, data.month,
                                         data.amount_kzt, data.paid_at, claims.token_id)
        return written(request, svc.head() > before)

    @post("/tokens/{token_id:str}/revocation", sync_to_thread=True)
    def revoke_token(self, request: Request[Any, Any, Any], token_id: FromPath[str],
                     data: JSONBody[s.TokenRevocationBody]) -> Response[s.Written]:
        claims = claims_of(request)
        need_role(claims, what="revoke tokens")
        svc = services(request)
        created = svc.ledger.revoke_token(token_id, by=claims.token_id, reason=data.reason)
        svc.revoked_now(token_id)
        return written(request, created)
