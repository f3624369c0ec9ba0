"""Children (enrolment with consent, placements, categories, vouchers, identifiers),
the identifier index, the child's wallet and the child's school day."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal
from uuid import UUID

import msgspec

from ledger.base import Aggregate, Event, Snapshot
from ledger.dates import utc_now

IdentifierKind = Literal["palm", "card"]


class Consent(msgspec.Struct, frozen=True):
    given_by: str
    document_ref: str
    signed_on: date


class Placement(msgspec.Struct, frozen=True):
    school_id: str
    grade: int
    class_name: str
    shift: int
    effective_from: date


class CategoryPeriod(msgspec.Struct, frozen=True):
    category: str
    effective_from: date
    effective_to: date | None
    document_ref: str

    def covers(self, day: date) -> bool:
        return self.effective_from <= day and (self.effective_to is None or day <= self.effective_to)


class HomeSchoolingPeriod(msgspec.Struct, frozen=True):
    effective_from: date
    effective_to: date | None

    def covers(self, day: date) -> bool:
        return self.effective_from <= day and (self.effective_to is None or day <= self.effective_to)


class Voucher(msgspec.Struct):
    voucher_id: str
    school_year: str
    activated_on: date | None = None
    revoked_on: date | None = None


class Child(Aggregate):
    class Enrolled(Event, frozen=True, kw_only=True):
        child_id: str
        placement: Placement
        consent: Consent
        personal: bytes  # names and IIN, encrypted with the child's own key
        request_hash: str

        def apply(self, child: Child) -> None:
            child.child_id, child.consent = self.child_id, self.consent
            child.placements = [self.placement]
            child.left_on = None
            child.personal = self.personal
            child.request_hash = self.request_hash
            child.categories, child.home_schooling = [], []
            child.identifiers, child.vouchers = {}, {}
            child.allergens = ()
            child.withdrawn_on = None

    class PlacementChanged(Event, frozen=True, kw_only=True):
        placement: Placement
        reason: str

        def apply(self, child: Child) -> None:
            child.placements.append(self.placement)
            child.left_on = None

    class Left(Event, frozen=True, kw_only=True):
        left_on: date
        reason: str

        def apply(self, child: Child) -> None:
            child.left_on = self.left_on

    class CategoryAssigned(Event, frozen=True, kw_only=True):
        period: CategoryPeriod

        def apply(self, child: Child) -> None:
            child.categories.append(self.period)

    class HomeSchoolingRecorded(Event, frozen=True, kw_only=True):
        period: HomeSchoolingPeriod

        def apply(self, child: Child) -> None:
            child.home_schooling.append(self.period)

    class IdentifierAdded(Event, frozen=True, kw_only=True):
        kind: IdentifierKind
        token: str
        biometric_consent_ref: str | None

        def apply(self, child: Child) -> None:
            child.identifiers[(self.kind, self.token)] = True

    class IdentifierRevoked(Event, frozen=True, kw_only=True):
        kind: IdentifierKind
        token: str
        reason: str

        def apply(self, child: Child) -> None:
            child.identifiers[(self.kind, self.token)] = False

    class VoucherAssigned(Event, frozen=True, kw_only=True):
        voucher_id: str
        school_year: str

        def apply(self, child: Child) -> None:
            child.vouchers[self.voucher_id] = Voucher(self.voucher_id, self.school_year)

    class VoucherActivated(Event, frozen=True, kw_only=True):
        voucher_id: str
        activated_on: date

        def apply(self, child: Child) -> None:
            child.vouchers[self.voucher_id].activated_on = self.activated_on

    class VoucherRevoked(Event, frozen=True, kw_only=True):
        voucher_id: str
        revoked_on: date
        reason: str

        def apply(self, child: Child) -> None:
            child.vouchers[self.voucher_id].revoked_on = self.revoked_on

    class AllergensSet(Event, frozen=True, kw_only=True):
        allergens: tuple[str, ...]
        set_by: str

        def apply(self, child: Child) -> None:
            child.allergens = self.allergens

    class ConsentWithdrawn(Event, frozen=True, kw_only=True):
        withdrawn_on: date
        by: str
        document_ref: str

        def apply(self, child: Child) -> None:
            child.withdrawn_on = self.withdrawn_on

    Created = Enrolled
    child_id: str
    consent: Consent
    placements: list[Placement]
    left_on: date | None
    personal: bytes
    request_hash: str
    categories: list[CategoryPeriod]
    home_schooling: list[HomeSchoolingPeriod]
    identifiers: dict[tuple[str, str], bool]
    vouchers: dict[str, Voucher]
    allergens: tuple[str, ...]
    withdrawn_on: date | None

    @property
    def current(self) -> Placement:
        return self.placements[-1]

    def placement_on(self, day: date) -> Placement | None:
        """Where the child was on a day: the latest placement in effect, unless left."""
        if self.left_on is not None and day >= self.left_on:
            return None
        found: Placement | None = None
        for placement in self.placements:
            if placement.effective_from <= day:
                if found is None or placement.effective_from >= found.effective_from:
                    found = placement
        return found

    def consent_in_force(self, day: date) -> bool:
        return self.withdrawn_on is None or day < self.withdrawn_on

    def categories_on(self, day: date) -> tuple[str, ...]:
        return tuple(sorted({p.category for p in self.categories if p.covers(day)}))

    def home_schooled_on(self, day: date) -> bool:
        for period in self.home_schooling:
            if period.covers(day):
                return True
        return False

    def in_category_on(self, categories: frozenset[str], day: date) -> bool:
        """Whether any of `categories` covers the day (`categories_on`, without the tuple)."""
        for period in self.categories:
            if period.category in categories and period.covers(day):
                return True
        return False

    def voucher_active_on(self, day: date, school_year: str) -> bool:
        for v in self.vouchers.values():  # a loop: a scan asks this of every child
            if (v.school_year == school_year and v.activated_on is not None
                    and v.activated_on <= day and (v.revoked_on is None or day < v.revoked_on)):
                return True
        return False


class Identifier(Aggregate):
    """Index: an identifier (kind, token) names at most one child or staff member."""

    class Linked(Event, frozen=True, kw_only=True):
        kind: IdentifierKind
        token: str
        child_id: str | None
        staff_id: str | None

        def apply(self, ident: Identifier) -> None:
            ident.kind, ident.token = self.kind, self.token
            ident.child_id, ident.staff_id = self.child_id, self.staff_id
            ident.active = True

    class Unlinked(Event, frozen=True, kw_only=True):
        reason: str

        def apply(self, ident: Identifier) -> None:
            ident.active = False

    Created = Linked
    kind: IdentifierKind
    token: str
    child_id: str | None
    staff_id: str | None
    active: bool


class WalletState(msgspec.Struct, frozen=True):
    child_id: str
    balance_kzt: int
    created_on: datetime


class Wallet(Aggregate):
    """The child's balance. Snapshotted, so a year of paid meals costs no more than a day."""

    class Opened(Event, frozen=True, kw_only=True):
        child_id: str

        def apply(self, wallet: Wallet) -> None:
            wallet.child_id, wallet.balance_kzt = self.child_id, 0

    class ToppedUp(Event, frozen=True, kw_only=True):
        payment_id: str
        amount_kzt: int
        paid_at: datetime

        def apply(self, wallet: Wallet) -> None:
            wallet.balance_kzt += self.amount_kzt

    class Charged(Event, frozen=True, kw_only=True):
        meal_id: UUID
        amount_kzt: int

        def apply(self, wallet: Wallet) -> None:
            wallet.balance_kzt -= self.amount_kzt

    class Credited(Event, frozen=True, kw_only=True):
        meal_id: UUID
        amount_kzt: int
        reason: str

        def apply(self, wallet: Wallet) -> None:
            wallet.balance_kzt += self.amount_kzt

    class Refunded(Event, frozen=True, kw_only=True):
        refund_id: str
        amount_kzt: int
        reason: str
        by: str

        def apply(self, wallet: Wallet) -> None:
            wallet.balance_kzt -= self.amount_kzt

    Created = Opened
    snapshotted = True  # loaded from its latest snapshot, not from its first event
    child_id: str
    balance_kzt: int

    def take_snapshot(self) -> Snapshot:
        state = WalletState(self.child_id, self.balance_kzt, utc_now())
        return Snapshot(
            originator_id=self.id,
            originator_version=self.version,
            timestamp=utc_now(),
            topic="ledger.child:Wallet",
            state=msgspec.msgpack.encode(state),
        )

    @classmethod
    def from_snapshot(cls, snapshot: Snapshot) -> Wallet:
        state = msgspec.msgpack.decode(snapshot.state, type=WalletState)
        wallet = cls(snapshot.originator_id)
        wallet.child_id, wallet.balance_kzt = state.child_id, state.balance_kzt
        wallet.version = snapshot.originator_version
        return wallet


class ChildDay(Aggregate):
    """One child, one school day: holds the day's funded meal, so two terminals racing
    for the same child conflict on this aggregate's version and only one wins."""

    cache_absence = False
    guess_absent = True  # a child's first scan of the day: the writer need not look it up

    class FreeMealTaken(Event, frozen=True, kw_only=True):
        child_id: str
        day: date
        meal_id: UUID

        def apply(self, cd: ChildDay) -> None:
            cd.child_id, cd.day, cd.funded_meal = self.child_id, self.day, self.meal_id

    class FreeMealReleased(Event, frozen=True, kw_only=True):
        meal_id: UUID
        reason: str

        def apply(self, cd: ChildDay) -> None:
            cd.funded_meal = None

    Created = FreeMealTaken
    child_id: str
    day: date
    funded_meal: UUID | None
