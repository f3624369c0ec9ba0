"""Set-up: regions, schools, rates, calendars, eligibility, menus, children, staff, terminals."""

from __future__ import annotations

from datetime import date
from typing import Any

from litestar.params import FromPath, JSONBody
from litestar import Controller, Request, Response, get, post, put

from api import schemas as s
from api.auth import check_child, check_school, claims_of, need_role
from api.tokens import issue_token
from api.params import parse_date_param
from ledger.child import Consent
from ledger.dates import local_day, parse_month, utc_now
from ledger.school import MenuItem, VoucherRequired

SETUP = ("school-admin",)
TERMINAL_TOKEN_TTL_S = 400 * 86_400


def services(request: Request[Any, Any, Any]) -> Any:
    return request.app.state.services


def written(request: Request[Any, Any, Any], created: bool) -> Response[s.Written]:
    return Response(s.Written(created, services(request).head()),
                    status_code=201 if created else 200)


class SetupController(Controller):
    path = "/api/v1"
    tags = ["set-up"]

    @put("/regions/{region_id:str}", sync_to_thread=True)
    def put_region(self, request: Request[Any, Any, Any], region_id: FromPath[str],
                   data: JSONBody[s.RegionBody]) -> Response[s.Written]:
        need_role(claims_of(request), what="register regions")
        return written(request, services(request).ledger.register_region(region_id, data.name))

    @put("/schools/{school_id:str}", sync_to_thread=True)
    def put_school(self, request: Request[Any, Any, Any], school_id: FromPath[str],
                   data: JSONBody[s.SchoolBody]) -> Response[s.Written]:
        claims = claims_of(request)
        need_role(claims, "school-admin", what="register schools")
        if claims.role == "school-admin" and claims.school_id != school_id:
            check_school(services(request), claims, school_id, *SETUP, what="change schools")
        created = services(request).ledger.register_school(
            school_id, name=data.name, region_id=data.region_id, district=data.district,
            shifts=tuple(data.shifts), operator=data.operator,
            overdraft_limit_kzt=data.overdraft_limit_kzt)
        return written(request, created)

    @post("/schools/{school_id:str}/rates", sync_to_thread=True)
    def post_rate(self, request: Request[Any, Any, Any], school_id: FromPath[str],
                  data: JSONBody[s.RateBody]) -> Response[s.Written]:
        claims = claims_of(request)
        check_school(services(request), claims, school_id, *SETUP, what="set rates")
        created = services(request).ledger.set_rate(school_id, data.band, data.amount_kzt,
                                                    data.effective_from, set_by=claims.role)
        return written(request, created)

    @put("/schools/{school_id:str}/calendar/{month:str}", sync_to_thread=True)
    def put_calendar(self, request: Request[Any, Any, Any], school_id: FromPath[str], month: FromPath[str],
                     data: JSONBody[s.CalendarBody]) -> Response[s.Written]:
        check_school(services(request), claims_of(request), school_id, *SETUP, what="set calendars")
        parse_month("month", month)
        return written(request, services(request).ledger.set_calendar(school_id, month,
                                                                      data.school_days))

    @put("/schools/{school_id:str}/eligibility", sync_to_thread=True)
    def put_eligibility(self, request: Request[Any, Any, Any], school_id: FromPath[str],
                        data: JSONBody[s.EligibilityBody]) -> Response[s.Written]:
        svc = services(request)
        check_school(svc, claims_of(request), school_id, *SETUP, what="set eligibility")
        v = data.voucher_required
        start = data.effective_from or local_day(utc_now(), svc.settings.time_zone)
        created = svc.ledger.set_eligibility(school_id, data.senior_categories,
                                             VoucherRequired(v.primary, v.senior, v.preschool),
                                             start)
        return written(request, created)

    @put("/schools/{school_id:str}/menu/{day:str}", sync_to_thread=True)
    def put_menu(self, request: Request[Any, Any, Any], school_id: FromPath[str], day: FromPath[str],
                 data: JSONBody[s.MenuBody]) -> Response[s.Written]:
        check_school(services(request), claims_of(request), school_id, *SETUP, what="set menus")
        items = [MenuItem(i.item_id, i.name, i.price_kzt, tuple(i.allergens), i.free_meal,
                          i.photo_url) for i in data.items]
        return written(request, services(request).ledger.set_menu(
            school_id, parse_date_param("date", day), items))

    @get("/schools/{school_id:str}/menu/{day:str}", sync_to_thread=True)
    def get_menu(self, request: Request[Any, Any, Any], school_id: FromPath[str], day: FromPath[str]) -> dict[str, Any]:
        svc = services(request)
        check_school(svc, claims_of(request), school_id, "school-admin", "accountant", "parent",
                     "terminal", "auditor", what="read menus")
        from ledger.base import stable_id
        from ledger.school import Menu

        the_day = parse_date_param("date", day)
        menu = svc.ledger.load(Menu, stable_id("menu", school_id, the_day.isoformat()))
        items = list(menu.items.values()) if menu is not None else []
        return {"school_id": school_id, "date": the_day.isoformat(), "items": items}

    @post("/schools/{school_id:str}/children", sync_to_thread=True)
    def post_child(self, request: Request[Any, Any, Any], school_id: FromPath[str],
                   data: JSONBody[s.ChildBody]) -> Response[s.Written]:
        check_school(services(request), claims_of(request), school_id, *SETUP, what="enrol children")
        c = data.consent
        created = services(request).ledger.enrol_child(
            school_id, data.child_id, first_name=data.first_name, last_name=data.last_name,
            iin=data.iin, grade=data.grade, class_name=data.class_name, shift=data.shift,
            consent=Consent(c.given_by, c.document_ref, c.signed_on), enrolled_on=data.enrolled_on)
        return written(request, created)

    @post("/schools/{school_id:str}/staff", sync_to_thread=True)
    def post_staff(self, request: Request[Any, Any, Any], school_id: FromPath[str],
                   data: JSONBody[s.StaffBody]) -> Response[s.Written]:
        check_school(services(request), claims_of(request), school_id, *SETUP, what="register staff")
        return written(request, services(request).ledger.register_staff(school_id, data.staff_id,
                                                                        data.role))

    @post("/schools/{school_id:str}/staff/{staff_id:str}/identifiers", sync_to_thread=True)
    def post_staff_identifier(self, request: Request[Any, Any, Any], school_id: FromPath[str],
                              staff_id: FromPath[str], data: JSONBody[s.IdentifierBody]) -> Response[s.Written]:
        check_school(services(request), claims_of(request), school_id, *SETUP,
                     what="issue staff identifiers")
        return written(request, services(request).ledger.add_identifier(
            data.kind, data.token, staff_id=staff_id))

    @put("/terminals/{terminal_id:str}", sync_to_thread=True)
    def put_terminal(self, request: Request[Any, Any, Any], terminal_id: FromPath[str],
                     data: JSONBody[s.TerminalBody]) -> Response[s.TerminalRegistered]:
        svc = services(request)
        check_school(svc, claims_of(request), data.school_id, *SETUP, what="register terminals")
        created = svc.ledger.register_terminal(terminal_id, data.school_id, data.kind)
        token = issue_token(svc.settings.token_secret, "terminal", terminal_id=terminal_id,
                            ttl_s=TERMINAL_TOKEN_TTL_S)
        return Response(s.TerminalRegistered(terminal_id, data.school_id, data.kind, token, created),
                        status_code=201 if created else 200)


class ChildSetupController(Controller):
    path = "/api/v1/children/{child_id:str}"
    tags = ["children"]

    def _check(self, request: Request[Any, Any, Any], child_id: FromPath[str], what: str) -> Any:
        svc = services(request)
        check_child(svc, claims_of(request), child_id, *SETUP, what=what)
        return svc.ledger

    @post("/categories", sync_to_thread=True)
    def post_category(self, request: Request[Any, Any, Any], child_id: FromPath[str],
                      data: JSONBody[s.CategoryBody]) -> Response[s.Written]:
        ledger = self._check(request, child_id, "record categories")
        return written(request, ledger.assign_category(
            child_id, data.category, data.effective_from, data.effective_to, data.document_ref))

    @post("/home-schooling", sync_to_thread=True)
    def post_home_schooling(self, request: Request[Any, Any, Any], child_id: FromPath[str],
                            data: JSONBody[s.HomeSchoolingBody]) -> Response[s.Written]:
        ledger = self._check(request, child_id, "record home-schooling")
        return written(request, ledger.record_home_schooling(child_id, data.effective_from,
                                                             data.effective_to))

    @post("/identifiers", sync_to_thread=True)
    def post_identifier(self, request: Request[Any, Any, Any], child_id: FromPath[str],
                        data: JSONBody[s.IdentifierBody]) -> Response[s.Written]:
        ledger = self._check(request, child_id, "issue identifiers")
        return written(request, ledger.add_identifier(
            data.kind, data.token, child_id=child_id,
            biometric_consent_ref=data.biometric_consent_ref))

    @post("/identifiers/{kind:str}/{token:str}/revocation", sync_to_thread=True)
    def revoke_identifier(self, request: Request[Any, Any, Any], child_id: FromPath[str], kind: FromPath[str],
                          token: FromPath[str], data: JSONBody[s.IdentifierRevocationBody]) -> Response[s.Written]:
        ledger = self._check(request, child_id, "revoke identifiers")
        return written(request, ledger.revoke_identifier(kind, token, data.reason))

    @post("/vouchers", sync_to_thread=True)
    def post_voucher(self, request: Request[Any, Any, Any], child_id: FromPath[str],
                     data: JSONBody[s.VoucherBody]) -> Response[s.Written]:
        ledger = self._check(request, child_id, "assign vouchers")
        return written(request, ledger.assign_voucher(child_id, data.voucher_id, data.school_year))

    @post("/vouchers/{voucher_id:str}/activation", sync_to_thread=True)
    def activate(self, request: Request[Any, Any, Any], child_id: FromPath[str], voucher_id: FromPath[str],
                 data: JSONBody[s.ActivationBody]) -> Response[s.Written]:
        ledger = self._check(request, child_id, "activate vouchers")
        return written(request, ledger.activate_voucher(child_id, voucher_id, data.activated_on))

    @post("/vouchers/{voucher_id:str}/revocation", sync_to_thread=True)
    def revoke_voucher(self, request: Request[Any, Any, Any], child_id: FromPath[str], voucher_id: FromPath[str],
                       data: JSONBody[s.RevocationBody]) -> Response[s.Written]:
        ledger = self._check(request, child_id, "revoke vouchers")
        return written(request, ledger.revoke_voucher(child_id, voucher_id, data.revoked_on,
                                                      data.reason))

    @put("/allergen-restrictions", sync_to_thread=True)
    def put_allergens(self, request: Request[Any, Any, Any], child_id: FromPath[str],
                      data: JSONBody[s.AllergensBody]) -> Response[s.Written]:
        svc = services(request)
        check_child(svc, claims_of(request), child_id, "school-admin", "parent",
                    what="set allergen restrictions")
        return written(request, svc.ledger.set_allergens(child_id, data.allergens, data.set_by))

    @post("/placement", sync_to_thread=True)
    def post_placement(self, request: Request[Any, Any, Any], child_id: FromPath[str],
                       data: JSONBody[s.PlacementBody]) -> Response[s.Written]:
        ledger = self._check(request, child_id, "move children")
        return written(request, ledger.change_placement(
            child_id, school_id=data.school_id, grade=data.grade, class_name=data.class_name,
            shift=data.shift, effective_from=data.effective_from, reason=data.reason))

    @post("/leaving", sync_to_thread=True)
    def post_leaving(self, request: Request[Any, Any, Any], child_id: FromPath[str],
                     data: JSONBody[s.LeavingBody]) -> Response[s.Written]:
        ledger = self._check(request, child_id, "record leaving")
        return written(request, ledger.record_leaving(child_id, data.left_on, data.reason))

    @post("/consent-withdrawal", sync_to_thread=True)
    def post_withdrawal(self, request: Request[Any, Any, Any], child_id: FromPath[str],
                        data: JSONBody[s.ConsentWithdrawalBody]) -> Response[s.Written]:
        ledger = self._check(request, child_id, "record consent withdrawal")
        return written(request, ledger.withdraw_consent(child_id, data.withdrawn_on, data.by,
                                                        data.document_ref))


_ = date
