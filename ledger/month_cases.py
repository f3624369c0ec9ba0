"""Month close (the frozen tenant statement), payments to the tenant, ratings, token
revocations and the daily seal of the chain head."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from ledger import limits
from ledger.application import check_same, request_hash
from ledger.base import stable_id
from ledger.dates import local_day, month_bounds, parse_month, utc_now
from ledger.errors import InvalidInput, NotFound, RuleViolation
from ledger.records import (
    REPORT_KINDS,
    Adjustment,
    Allowance,
    Filing,
    Month,
    Payment,
    Rating,
    Seal,
    StatementLine,
    TokenRevocation,
)
from ledger.unit import Unit


class MonthCases:
    time_zone: str

    def run(self, command):  # type: ignore[no-untyped-def]
        raise NotImplementedError

    def month_record(self, school_id: str, month: str) -> Month | None:
        return self.load(Month, stable_id("month", school_id, month))  # type: ignore[attr-defined,no-any-return]

    def close_month(
        self, school_id: str, month: str, *, lines: Sequence[StatementLine],
        adjustments: Sequence[Adjustment], allowances: Sequence[Allowance], position: int,
        closed_by: str, today: date | None = None,
    ) -> Month:
        """Freeze the statement computed from the funded meals up to `position`.
        Closing twice returns the first statement: meals recorded later go to the next one."""
        parse_month("month", month)
        today = today or local_day(utc_now(), self.time_zone)
        if today < month_bounds(month)[1]:
            raise RuleViolation(f"{month} has not ended yet; close it from "
                                f"{month_bounds(month)[1]} on")
        meals_kzt = sum(line.amount_kzt for line in lines)
        for line in lines:
            if line.amount_kzt != line.meals * line.rate_kzt:
                raise InvalidInput("lines", f"{line.day} {line.band}: amount is not meals x rate")
        adjustments_kzt = sum(a.amount_kzt for a in adjustments)

        def command(unit: Unit) -> Month:
            self.school(unit, school_id)  # type: ignore[attr-defined]
            mid = stable_id("month", school_id, month)
            existing = unit.get(Month, mid)
            if existing is not None:
                return existing
            return unit.create(
                Month, mid, school_id=school_id, month=month, lines=tuple(lines),
                adjustments=tuple(adjustments), allowances=tuple(allowances),
                meals_kzt=meals_kzt, adjustments_kzt=adjustments_kzt,
                total_kzt=meals_kzt + adjustments_kzt,
                allowances_kzt=sum(a.amount_kzt for a in allowances),
                position=position, closed_by=closed_by)

        return self.run(command)  # type: ignore[no-any-return]

    def record_tenant_payment(self, school_id: str, payment_id: str, month: str,
                              amount_kzt: int, paid_at: datetime, recorded_by: str) -> Month:
        limits.check_id("payment_id", payment_id)
        parse_month("month", month)
        limits.check_kzt("amount_kzt", amount_kzt, low=1, high=limits.TENANT_PAYMENT_KZT_MAX)
        limits.check_instant("paid_at", paid_at)
        digest = request_hash(school_id=school_id, month=month, amount_kzt=amount_kzt,
                              paid_at=paid_at)

        def command(unit: Unit) -> Month:
            record = unit.get(Month, stable_id("month", school_id, month))
            if record is None:
                raise RuleViolation(f"{month} is not closed: close it before paying the tenant")
            pid = stable_id("tenant-payment", payment_id)
            payment = unit.get(Payment, pid)
            if payment is not None:
                check_same("payment", payment_id, payment.request_hash, digest)
                return record
            outstanding = record.closed.total_kzt - record.paid_kzt
            if amount_kzt > outstanding:
                raise RuleViolation(f"{amount_kzt} is more than the {outstanding} outstanding "
                                    f"for {month}")
            unit.create(Payment, pid, payment_id=payment_id, child_id="",
                        amount_kzt=amount_kzt, request_hash=digest)
            unit.trigger(record, Month.TenantPaid, payment_id=payment_id,
                         amount_kzt=amount_kzt, paid_at=paid_at, recorded_by=recorded_by)
            return record

        return self.run(command)  # type: ignore[no-any-return]

    def rate_service(self, rating_id: str, school_id: str, child_id: str, day: date,
                     score: int, comment: str | None) -> bool:
        limits.check_id("rating_id", rating_id)
        limits.check_date("date", day)
        if not isinstance(score, int) or not 1 <= score <= 5:
            raise InvalidInput("score", "must be 1 to 5")
        if comment is not None:
            limits.check_text("comment", comment, max_len=limits.TEXT_LEN_MAX)
        digest = request_hash(school_id=school_id, child_id=child_id, day=day, score=score,
                              comment=comment)

        def command(unit: Unit) -> bool:
            self.school(unit, school_id)  # type: ignore[attr-defined]
            child = self.child(unit, child_id)  # type: ignore[attr-defined]
            if (child.placement_on(day) or child.current).school_id != school_id:
                raise RuleViolation(f"child {child_id!r} is not a pupil of {school_id!r}")
            rid = stable_id("rating", rating_id)
            existing = unit.get(Rating, rid)
            if existing is not None:
                check_same("rating", rating_id, existing.given.request_hash, digest)
                return False
            unit.create(Rating, rid, rating_id=rating_id, school_id=school_id,
                        child_id=child_id, day=day, score=score, comment=comment,
                        request_hash=digest)
            return True

        return self.run(command)  # type: ignore[no-any-return]

    def revoke_token(self, token_id: str, by: str, reason: str) -> bool:
        def command(unit: Unit) -> bool:
            tid = stable_id("token", token_id)
            if unit.get(TokenRevocation, tid) is not None:
                return False
            unit.create(TokenRevocation, tid, token_id=token_id, by=by, reason=reason)
            return True

        return self.run(command)  # type: ignore[no-any-return]

    def is_revoked(self, token_id: str) -> bool:
        return self.load(TokenRevocation, stable_id("token", token_id)) is not None  # type: ignore[attr-defined]

    def file_report(self, school_id: str, kind: str, month: str, *, sha256: str,
                    position: int, chain_head: str, filed_by: str,
                    filed_at: datetime | None = None) -> Filing:
        if kind not in REPORT_KINDS:
            raise InvalidInput("kind", f"must be one of {', '.join(REPORT_KINDS)}")
        parse_month("month", month)
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise InvalidInput("sha256", "must be 64 lowercase hex digits")
        if position < 0:
            raise InvalidInput("position", "must be 0 or more")

        def command(unit: Unit) -> Filing:
            self.school(unit, school_id)  # type: ignore[attr-defined]
            fid = stable_id("filing", school_id, kind, month)
            filing = unit.get(Filing, fid)
            fields = dict(school_id=school_id, kind=kind, month=month, sha256=sha256,
                          position=position, chain_head=chain_head, filed_by=filed_by,
                          filed_at=filed_at or utc_now())
            if filing is None:
                return unit.create(Filing, fid, **fields)
            if filing.filings[-1].sha256 == sha256:
                return filing  # the same file filed again: nothing new
            unit.trigger(filing, Filing.Filed, **fields)
            return filing

        return self.run(command)  # type: ignore[no-any-return]

    def seal_chain(self, day: date, position: int, head: str, signature: str | None) -> Seal:
        def command(unit: Unit) -> Seal:
            sid = stable_id("seal", day.isoformat())
            existing = unit.get(Seal, sid)
            if existing is not None:
                return existing
            return unit.create(Seal, sid, day=day, position=position, head=head,
                               signature=signature)

        return self.run(command)  # type: ignore[no-any-return]


_ = NotFound
