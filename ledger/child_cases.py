"""Use cases about a child: enrolment with consent, placements, categories, home-schooling,
identifiers, vouchers, allergens, consent withdrawal, and the child's money."""

from __future__ import annotations

from datetime import date, datetime

from ledger import limits
from ledger.application import check_same, request_hash
from ledger.base import stable_id
from ledger.child import (
    CategoryPeriod,
    Child,
    Consent,
    HomeSchoolingPeriod,
    Identifier,
    Placement,
    Wallet,
)
from ledger.dates import check_school_year, utc_now
from ledger.errors import ConsentWithdrawn, IdempotencyConflict, InvalidInput, NotFound, RuleViolation
from ledger.personal import PersonalData, encrypt
from ledger.records import Payment
from ledger.school import Staff
from ledger.setup_cases import check_categories
from ledger.unit import Unit


class ChildCases:
    def run(self, command):  # type: ignore[no-untyped-def]
        raise NotImplementedError

    def child(self, unit: Unit, child_id: str, *, for_change: bool = True) -> Child:
        child = unit.get(Child, stable_id("child", child_id))
        if child is None:
            raise NotFound("child", child_id)
        if for_change and child.withdrawn_on is not None:
            raise ConsentWithdrawn(child_id)
        return child

    def enrol_child(
        self, school_id: str, child_id: str, *, first_name: str, last_name: str,
        iin: str | None, grade: int, class_name: str, shift: int, consent: Consent,
        enrolled_on: date | None = None,
    ) -> bool:
        limits.check_id("child_id", child_id)
        limits.check_text("first_name", first_name)
        limits.check_text("last_name", last_name)
        if iin is not None and not limits.IIN_PATTERN.match(iin):
            raise InvalidInput("iin", "must be 12 digits")
        limits.check_grade(grade)
        limits.check_shift(shift)
        limits.check_text("class_name", class_name, max_len=16)
        limits.check_text("consent.given_by", consent.given_by)
        limits.check_text("consent.document_ref", consent.document_ref)
        limits.check_date("consent.signed_on", consent.signed_on)
        start = limits.check_date("enrolled_on", enrolled_on or consent.signed_on)
        digest = request_hash(school_id=school_id, first_name=first_name, last_name=last_name,
                              iin=iin, grade=grade, class_name=class_name, shift=shift,
                              consent=consent, enrolled_on=start)

        def command(unit: Unit) -> bool:
            school = self.school(unit, school_id)  # type: ignore[attr-defined]
            if shift not in school.shifts:
                raise InvalidInput("shift", f"school {school_id!r} runs shifts {school.shifts}")
            cid = stable_id("child", child_id)
            existing = unit.get(Child, cid)
            if existing is not None:
                check_same("child", child_id, existing.request_hash, digest)
                return False
            key = self.keys.create(cid)  # type: ignore[attr-defined]
            personal = encrypt(key, cid, PersonalData(first_name, last_name, iin))
            placement = Placement(school_id, grade, class_name, shift, start)
            unit.create(Child, cid, child_id=child_id, placement=placement, consent=consent,
                        personal=personal, request_hash=digest)
            return True

        return self.run(command)

    def personal_data(self, child: Child) -> PersonalData:
        return self.plaintexts.decrypt(  # type: ignore[attr-defined]
            self.keys.get(child.id), child.id, child.personal)  # type: ignore[attr-defined]

    def change_placement(self, child_id: str, *, school_id: str, grade: int, class_name: str,
                         shift: int, effective_from: date, reason: str) -> bool:
        limits.check_grade(grade)
        limits.check_shift(shift)
        limits.check_date("effective_from", effective_from)
        if reason not in ("promotion", "class_change", "transfer"):
            raise InvalidInput("reason", "must be promotion, class_change or transfer")
        placement = Placement(school_id, grade, class_name, shift, effective_from)

        def command(unit: Unit) -> bool:
            self.school(unit, school_id)  # type: ignore[attr-defined]
            child = self.child(unit, child_id)
            if child.placements[-1] == placement:
                return False
            unit.trigger(child, Child.PlacementChanged, placement=placement, reason=reason)
            return True

        return self.run(command)

    def record_leaving(self, child_id: str, left_on: date, reason: str) -> bool:
        limits.check_date("left_on", left_on)
        limits.check_text("reason", reason, max_len=limits.TEXT_LEN_MAX)

        def command(unit: Unit) -> bool:
            child = self.child(unit, child_id)
            if child.left_on == left_on:
                return False
            unit.trigger(child, Child.Left, left_on=left_on, reason=reason)
            return True

        return self.run(command)

    def assign_category(self, child_id: str, category: str, effective_from: date,
                        effective_to: date | None, document_ref: str) -> bool:
        check_categories([category])
        _period_dates(effective_from, effective_to)
        limits.check_text("document_ref", document_ref)
        period = CategoryPeriod(category, effective_from, effective_to, document_ref)
        return self._add_once(child_id, "categories", period, Child.CategoryAssigned)

    def record_home_schooling(self, child_id: str, effective_from: date,
                              effective_to: date | None) -> bool:
        _period_dates(effective_from, effective_to)
        period = HomeSchoolingPeriod(effective_from, effective_to)
        return self._add_once(child_id, "home_schooling", period, Child.HomeSchoolingRecorded)

    def _add_once(self, child_id: str, attr: str, period: object, event: type) -> bool:
        def command(unit: Unit) -> bool:
            child = self.child(unit, child_id)
            if period in getattr(child, attr):
                return False
            unit.trigger(child, event, period=period)
            return True

        return self.run(command)

    def add_identifier(self, kind: str, token: str, *, child_id: str | None = None,
                       staff_id: str | None = None,
                       biometric_consent_ref: str | None = None) -> bool:
        if kind not in ("palm", "card"):
            raise InvalidInput("kind", "must be palm or card")
        limits.check_text("token", token, max_len=limits.ID_LEN_MAX)
        if kind == "palm" and child_id is not None and not biometric_consent_ref:
            raise InvalidInput("biometric_consent_ref",
                               "a palm identifier needs the guardian's biometric consent; "
                               "without it, issue a card")

        def command(unit: Unit) -> bool:
            if child_id is not None:
                owner = self.child(unit, child_id)
            elif staff_id is None or unit.get(Staff, stable_id("staff", staff_id)) is None:
                raise NotFound("staff", str(staff_id))
            iid = stable_id("identifier", kind, token)
            ident = unit.get(Identifier, iid)
            if ident is not None and ident.active:
                if (ident.child_id, ident.staff_id) == (child_id, staff_id):
                    return False
                raise IdempotencyConflict(f"{kind} {token!r} already belongs to someone else; "
                                          "revoke it first (lost or replaced)")
            fields = dict(kind=kind, token=token, child_id=child_id, staff_id=staff_id)
            if ident is None:
                unit.create(Identifier, iid, **fields)
            else:
                unit.trigger(ident, Identifier.Linked, **fields)
            if child_id is not None:
                unit.trigger(owner, Child.IdentifierAdded, kind=kind, token=token,
                             biometric_consent_ref=biometric_consent_ref)
            return True

        return self.run(command)

    def revoke_identifier(self, kind: str, token: str, reason: str) -> bool:
        limits.check_text("reason", reason, max_len=limits.TEXT_LEN_MAX)

        def command(unit: Unit) -> bool:
            ident = unit.get(Identifier, stable_id("identifier", kind, token))
            if ident is None:
                raise NotFound("identifier", f"{kind}:{token[-4:]}")
            if not ident.active:
                return False
            unit.trigger(ident, Identifier.Unlinked, reason=reason)
            if ident.child_id is not None:
                child = self.child(unit, ident.child_id, for_change=False)
                unit.trigger(child, Child.IdentifierRevoked, kind=kind, token=token, reason=reason)
            return True

        return self.run(command)

    def assign_voucher(self, child_id: str, voucher_id: str, school_year: str) -> bool:
        limits.check_id("voucher_id", voucher_id)
        check_school_year(school_year)

        def command(unit: Unit) -> bool:
            child = self.child(unit, child_id)
            existing = child.vouchers.get(voucher_id)
            if existing is not None:
                if existing.school_year != school_year:
                    raise IdempotencyConflict(f"voucher {voucher_id!r} is for {existing.school_year}")
                return False
            unit.trigger(child, Child.VoucherAssigned, voucher_id=voucher_id,
                         school_year=school_year)
            return True

        return self.run(command)

    def activate_voucher(self, child_id: str, voucher_id: str, activated_on: date) -> bool:
        limits.check_date("activated_on", activated_on)

        def command(unit: Unit) -> bool:
            voucher = self._voucher(unit, child_id, voucher_id)
            if voucher[1].activated_on is not None:
                if voucher[1].activated_on != activated_on:
                    raise IdempotencyConflict(
                        f"voucher {voucher_id!r} was activated on {voucher[1].activated_on}")
                return False
            unit.trigger(voucher[0], Child.VoucherActivated, voucher_id=voucher_id,
                         activated_on=activated_on)
            return True

        return self.run(command)

    def revoke_voucher(self, child_id: str, voucher_id: str, revoked_on: date,
                       reason: str) -> bool:
        limits.check_date("revoked_on", revoked_on)
        limits.check_text("reason", reason, max_len=limits.TEXT_LEN_MAX)

        def command(unit: Unit) -> bool:
            child, voucher = self._voucher(unit, child_id, voucher_id)
            if voucher.revoked_on is not None:
                return False
            unit.trigger(child, Child.VoucherRevoked, voucher_id=voucher_id,
                         revoked_on=revoked_on, reason=reason)
            return True

        return self.run(command)

    def _voucher(self, unit: Unit, child_id: str, voucher_id: str):  # type: ignore[no-untyped-def]
        child = self.child(unit, child_id)
        voucher = child.vouchers.get(voucher_id)
        if voucher is None:
            raise NotFound("voucher", voucher_id)
        return child, voucher

    def set_allergens(self, child_id: str, allergens: list[str], set_by: str) -> bool:
        if len(allergens) > limits.ALLERGENS_MAX:
            raise InvalidInput("allergens", f"at most {limits.ALLERGENS_MAX}")
        for allergen in allergens:
            limits.check_text("allergens", allergen, max_len=40)
        limits.check_text("set_by", set_by)
        value = tuple(sorted(set(allergens)))

        def command(unit: Unit) -> bool:
            child = self.child(unit, child_id)
            if child.allergens == value:
                return False
            unit.trigger(child, Child.AllergensSet, allergens=value, set_by=set_by)
            return True

        return self.run(command)

    def withdraw_consent(self, child_id: str, withdrawn_on: date, by: str,
                         document_ref: str) -> bool:
        """Stops all processing for the child and destroys the key of its personal data."""
        limits.check_date("withdrawn_on", withdrawn_on)

        def command(unit: Unit) -> bool:
            child = self.child(unit, child_id, for_change=False)
            if child.withdrawn_on is not None:
                return False
            unit.trigger(child, Child.ConsentWithdrawn, withdrawn_on=withdrawn_on, by=by,
                         document_ref=document_ref)
            return True

        changed = self.run(command)
        self.keys.destroy(stable_id("child", child_id))  # type: ignore[attr-defined]
        self.plaintexts.forget(stable_id("child", child_id))  # type: ignore[attr-defined]
        return changed

    def top_up(self, child_id: str, payment_id: str, amount_kzt: int,
               paid_at: datetime) -> int:
        """Credit the child's balance once per payment id; returns the balance after it."""
        return self.top_up_result(child_id, payment_id, amount_kzt, paid_at)[0]

    def top_up_result(self, child_id: str, payment_id: str, amount_kzt: int,
                      paid_at: datetime) -> tuple[int, bool]:
        """(balance after, whether this call credited it): of racing repeats of one payment
        id, in any number of processes, exactly one gets True."""
        limits.check_id("payment_id", payment_id)
        limits.check_kzt("amount_kzt", amount_kzt, low=1, high=limits.TOP_UP_KZT_MAX)
        limits.check_instant("paid_at", paid_at)
        digest = request_hash(child_id=child_id, amount_kzt=amount_kzt, paid_at=paid_at)
        return self._money(child_id, payment_id, digest, amount_kzt,
                           lambda unit, wallet: unit.trigger(
                               wallet, Wallet.ToppedUp, payment_id=payment_id,
                               amount_kzt=amount_kzt, paid_at=paid_at))

    def refund(self, child_id: str, refund_id: str, amount_kzt: int, reason: str,
               by: str) -> int:
        """Pay money back to the guardian from the child's balance."""
        return self.refund_result(child_id, refund_id, amount_kzt, reason, by)[0]

    def refund_result(self, child_id: str, refund_id: str, amount_kzt: int, reason: str,
                      by: str) -> tuple[int, bool]:
        """(balance after, whether this call paid it back), as `top_up_result`."""
        limits.check_id("refund_id", refund_id)
        limits.check_kzt("amount_kzt", amount_kzt, low=1, high=limits.TOP_UP_KZT_MAX)
        digest = request_hash(child_id=child_id, amount_kzt=amount_kzt, reason=reason)

        def debit(unit: Unit, wallet: Wallet) -> None:
            if wallet.balance_kzt < amount_kzt:
                raise RuleViolation(f"balance {wallet.balance_kzt} is less than the refund")
            unit.trigger(wallet, Wallet.Refunded, refund_id=refund_id, amount_kzt=amount_kzt,
                         reason=reason, by=by)

        return self._money(child_id, refund_id, digest, -amount_kzt, debit)

    def _money(self, child_id: str, payment_id: str, digest: str, amount_kzt: int,
               apply) -> tuple[int, bool]:  # type: ignore[no-untyped-def]
        def command(unit: Unit) -> tuple[int, bool]:
            self.child(unit, child_id)
            pid = stable_id("payment", payment_id)
            payment = unit.get(Payment, pid)
            wallet = self.wallet(unit, child_id)  # type: ignore[attr-defined]
            if payment is not None:
                check_same("payment", payment_id, payment.request_hash, digest)
                return wallet.balance_kzt, False
            unit.create(Payment, pid, payment_id=payment_id, child_id=child_id,
                        amount_kzt=amount_kzt, request_hash=digest)
            apply(unit, wallet)
            return wallet.balance_kzt, True

        return self.run(command)


def _period_dates(start: date, end: date | None) -> None:
    limits.check_date("effective_from", start)
    if end is not None:
        limits.check_date("effective_to", end)
        if end < start:
            raise InvalidInput("effective_to", "must not be before effective_from")


_ = utc_now
