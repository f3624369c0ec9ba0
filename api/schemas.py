"""Request and response bodies: frozen msgspec Structs that reject unknown fields.
Ranges here give a clear 400 before the ledger's own limits are even asked."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

import msgspec

from ledger import limits

Id = Annotated[str, msgspec.Meta(pattern=limits.ID_PATTERN.pattern, max_length=64,
                                 description="client-made id: 1-64 letters, digits, - or _")]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=limits.NAME_LEN_MAX)]
Text = Annotated[str, msgspec.Meta(min_length=1, max_length=limits.TEXT_LEN_MAX)]
Kzt = Annotated[int, msgspec.Meta(ge=0, le=limits.TENANT_PAYMENT_KZT_MAX)]
Band = Literal["preschool", "primary", "senior"]
Month = Annotated[str, msgspec.Meta(pattern=r"^20[0-9]{2}-(0[1-9]|1[0-2])$")]


class Body(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    pass


class RegionBody(Body, kw_only=True):
    name: Name


class SchoolBody(Body, kw_only=True):
    name: Name
    region_id: Id
    district: Name
    shifts: Annotated[list[Annotated[int, msgspec.Meta(ge=1, le=3)]],
                      msgspec.Meta(min_length=1, max_length=3)] = msgspec.field(
        default_factory=lambda: [1])
    operator: Name | None = None
    overdraft_limit_kzt: Annotated[int, msgspec.Meta(ge=0, le=limits.OVERDRAFT_KZT_MAX)] = 0


class RateBody(Body, kw_only=True):
    band: Band
    amount_kzt: Annotated[int, msgspec.Meta(ge=0, le=limits.RATE_KZT_MAX)]
    effective_from: date


class CalendarBody(Body, kw_only=True):
    school_days: Annotated[list[date], msgspec.Meta(max_length=31)]


class VoucherRequiredBody(Body, kw_only=True):
    primary: bool = True
    senior: bool = True
    preschool: bool = False


class EligibilityBody(Body, kw_only=True):
    senior_categories: Annotated[list[Name], msgspec.Meta(max_length=limits.CATEGORIES_MAX)]
    voucher_required: VoucherRequiredBody = VoucherRequiredBody()
    effective_from: date | None = None


class MenuItemBody(Body, kw_only=True):
    item_id: Id
    name: Name
    price_kzt: Annotated[int, msgspec.Meta(ge=0, le=limits.PRICE_KZT_MAX)]
    allergens: Annotated[list[Name], msgspec.Meta(max_length=limits.ALLERGENS_MAX)] = []
    photo_url: Annotated[str, msgspec.Meta(max_length=500)] | None = None
    free_meal: bool = False


class MenuBody(Body, kw_only=True):
    items: Annotated[list[MenuItemBody], msgspec.Meta(max_length=limits.MENU_ITEMS_MAX)]


class ConsentBody(Body, kw_only=True):
    given_by: Name
    document_ref: Name
    signed_on: date


class ChildBody(Body, kw_only=True):
    child_id: Id
    first_name: Name
    last_name: Name
    iin: Annotated[str, msgspec.Meta(pattern=r"^[0-9]{12}$")] | None = None
    grade: Annotated[int, msgspec.Meta(ge=0, le=11)]
    class_name: Annotated[str, msgspec.Meta(min_length=1, max_length=16)]
    shift: Annotated[int, msgspec.Meta(ge=1, le=3)] = 1
    consent: ConsentBody
    enrolled_on: date | None = None


class CategoryBody(Body, kw_only=True):
    category: Name
    effective_from: date
    effective_to: date | None = None
    document_ref: Name


class HomeSchoolingBody(Body, kw_only=True):
    effective_from: date
    effective_to: date | None = None


class IdentifierBody(Body, kw_only=True):
    kind: Literal["palm", "card"]
    token: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    biometric_consent_ref: Name | None = None


class IdentifierRevocationBody(Body, kw_only=True):
    reason: Text


class VoucherBody(Body, kw_only=True):
    voucher_id: Id
    school_year: Annotated[str, msgspec.Meta(pattern=r"^20[0-9]{2}-20[0-9]{2}$")]


class ActivationBody(Body, kw_only=True):
    activated_on: date


class RevocationBody(Body, kw_only=True):
    revoked_on: date
    reason: Text


class AllergensBody(Body, kw_only=True):
    allergens: Annotated[list[Name], msgspec.Meta(max_length=limits.ALLERGENS_MAX)]
    set_by: Name


class StaffBody(Body, kw_only=True):
    staff_id: Id
    role: Name


class TerminalBody(Body, kw_only=True):
    school_id: Id
    kind: Literal["gate", "canteen"]


class PlacementBody(Body, kw_only=True):
    school_id: Id
    grade: Annotated[int, msgspec.Meta(ge=0, le=11)]
    class_name: Annotated[str, msgspec.Meta(min_length=1, max_length=16)]
    shift: Annotated[int, msgspec.Meta(ge=1, le=3)] = 1
    effective_from: date
    reason: Literal["promotion", "class_change", "transfer"]


class LeavingBody(Body, kw_only=True):
    left_on: date
    reason: Text


class ConsentWithdrawalBody(Body, kw_only=True):
    withdrawn_on: date
    by: Name
    document_ref: Name


class TopUpBody(Body, kw_only=True):
    payment_id: Id
    amount_kzt: Annotated[int, msgspec.Meta(ge=1, le=limits.TOP_UP_KZT_MAX)]
    paid_at: datetime


class RefundBody(Body, kw_only=True):
    refund_id: Id
    amount_kzt: Annotated[int, msgspec.Meta(ge=1, le=limits.TOP_UP_KZT_MAX)]
    reason: Text


class TenantPaymentBody(Body, kw_only=True):
    payment_id: Id
    month: Month
    amount_kzt: Annotated[int, msgspec.Meta(ge=1, le=limits.TENANT_PAYMENT_KZT_MAX)]
    paid_at: datetime


class RatingBody(Body, kw_only=True):
    rating_id: Id
    child_id: Id
    date: date
    score: Annotated[int, msgspec.Meta(ge=1, le=5)]
    comment: Text | None = None


class VoidBody(Body, kw_only=True):
    reason: Text


class TokenRevocationBody(Body, kw_only=True):
    reason: Text


class Written(msgspec.Struct, frozen=True):
    """The answer to a write: whether it changed the ledger, and the log position after it."""

    created: bool
    position: int


class TerminalRegistered(msgspec.Struct, frozen=True):
    terminal_id: str
    school_id: str
    kind: str
    token: str
    created: bool


class ChildView(msgspec.Struct, frozen=True):
    child_id: str
    school_id: str
    first_name: str
    last_name: str
    grade: int
    class_name: str
    shift: int
    allergens: list[str]
    balance_kzt: int
