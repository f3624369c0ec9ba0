"""Facts recorded once under a client-made id: terminal events (meals, refusals, gate
passes), payments, month closes, ratings, token revocations and chain seals."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal
from uuid import UUID

import msgspec

from ledger.base import Aggregate, Event
from ledger.dates import Band

Funding = Literal["funded", "paid", "unfunded"]
Direction = Literal["in", "out"]
PassMethod = Literal["palm", "card", "manual"]

REFUSAL_REASONS: tuple[str, ...] = (
    "unknown_identifier",
    "no_consent",
    "not_enrolled",
    "not_school_day",
    "already_served",
    "allergen_restriction",
    "insufficient_balance",
    "no_free_meal_item",
    "unknown_item",
    "wrong_school",
    "unknown_staff",
    "wrong_terminal_kind",
    "offline_no_cache",  # a gateway offline without a usable cache refused the scan
    "event_id_reused",  # another scan under an event id already used by this terminal
)


class ServedItem(msgspec.Struct, frozen=True):
    item_id: str
    name: str
    price_kzt: int
    funded: bool


class TerminalEvent(Aggregate):
    """What one terminal reported under one event id, and what the ledger decided."""

    cache_absence = False
    guess_absent = True  # a new event id is new: the writer need not look it up

    class MealServed(Event, frozen=True, kw_only=True):
        event_id: str
        terminal_id: str
        school_id: str
        child_id: str
        day: date
        at: datetime
        band: Band
        grade: int
        class_name: str
        shift: int
        funding: Funding
        funded_kzt: int  # what the tenant is owed for this meal (0 unless funded)
        rate_kzt: int  # the band's rate in force that day (0 when none)
        paid_kzt: int  # charged to the child's balance
        items: tuple[ServedItem, ...]
        offline: bool
        flags: tuple[str, ...]
        balance_kzt: int | None

        def apply(self, te: TerminalEvent) -> None:
            te.record(self)

    class MealRefused(Event, frozen=True, kw_only=True):
        event_id: str
        terminal_id: str
        school_id: str
        child_id: str | None
        day: date
        at: datetime
        reason: str
        offline: bool

        def apply(self, te: TerminalEvent) -> None:
            te.record(self)

    class GatePassed(Event, frozen=True, kw_only=True):
        event_id: str
        terminal_id: str
        school_id: str
        child_id: str | None
        staff_id: str | None
        day: date
        at: datetime
        direction: Direction
        method: PassMethod
        authorized_by: str | None
        offline: bool

        def apply(self, te: TerminalEvent) -> None:
            te.record(self)

    class PassRefused(Event, frozen=True, kw_only=True):
        event_id: str
        terminal_id: str
        school_id: str
        child_id: str | None
        day: date
        at: datetime
        reason: str
        offline: bool

        def apply(self, te: TerminalEvent) -> None:
            te.record(self)

    class MealVoided(Event, frozen=True, kw_only=True):
        """A correction: the meal stays in history; this says who voided it and why."""

        by: str
        reason: str
        school_id: str
        child_id: str
        day: date
        funded_kzt: int
        paid_kzt: int

        def apply(self, te: TerminalEvent) -> None:
            te.voided = True

    Created = MealServed  # any of the four first events creates it
    fact: MealServed | MealRefused | GatePassed | PassRefused
    voided: bool = False

    def record(self, fact: MealServed | MealRefused | GatePassed | PassRefused) -> None:
        self.fact = fact
        self.voided = False


class StatementLine(msgspec.Struct, frozen=True):
    day: date
    band: Band
    meals: int
    rate_kzt: int
    amount_kzt: int


class Adjustment(msgspec.Struct, frozen=True):
    meal_id: UUID
    day: date
    band: Band
    amount_kzt: int  # negative for a meal voided after its month closed
    description: str


class Allowance(msgspec.Struct, frozen=True):
    child_id: str
    band: Band
    days: int
    amount_kzt: int


class Month(Aggregate):
    """A school's month: the frozen tenant statement and the payments made against it."""

    class Closed(Event, frozen=True, kw_only=True):
        school_id: str
        month: str
        lines: tuple[StatementLine, ...]
        adjustments: tuple[Adjustment, ...]
        allowances: tuple[Allowance, ...]
        meals_kzt: int
        adjustments_kzt: int
        total_kzt: int
        allowances_kzt: int
        position: int  # the event-log position the statement was computed up to
        closed_by: str

        def apply(self, month: Month) -> None:
            month.school_id, month.month = self.school_id, self.month
            month.closed = self
            month.payments = {}

    class TenantPaid(Event, frozen=True, kw_only=True):
        payment_id: str
        amount_kzt: int
        paid_at: datetime
        recorded_by: str

        def apply(self, month: Month) -> None:
            month.payments[self.payment_id] = self.amount_kzt

    Created = Closed
    school_id: str
    month: str
    closed: Closed
    payments: dict[str, int]

    @property
    def paid_kzt(self) -> int:
        return sum(self.payments.values())


class Payment(Aggregate):
    """Index: a payment id (a top-up or a refund) is recorded once."""

    class Recorded(Event, frozen=True, kw_only=True):
        payment_id: str
        child_id: str
        amount_kzt: int
        request_hash: str

        def apply(self, payment: Payment) -> None:
            payment.payment_id, payment.child_id = self.payment_id, self.child_id
            payment.amount_kzt, payment.request_hash = self.amount_kzt, self.request_hash

    Created = Recorded
    payment_id: str
    child_id: str
    amount_kzt: int
    request_hash: str


class Rating(Aggregate):
    class Given(Event, frozen=True, kw_only=True):
        rating_id: str
        school_id: str
        child_id: str
        day: date
        score: int
        comment: str | None
        request_hash: str

        def apply(self, rating: Rating) -> None:
            rating.given = self

    Created = Given
    given: Given


class TokenRevocation(Aggregate):
    class Revoked(Event, frozen=True, kw_only=True):
        token_id: str
        by: str
        reason: str

        def apply(self, revocation: TokenRevocation) -> None:
            revocation.token_id = self.token_id

    Created = Revoked
    token_id: str


class Seal(Aggregate):
    """The chain head sealed for a day (optionally signed with the installation's key)."""

    class Sealed(Event, frozen=True, kw_only=True):
        day: date
        position: int
        head: str
        signature: str | None

        def apply(self, seal: Seal) -> None:
            seal.sealed = self

    Created = Sealed
    sealed: Sealed


REPORT_KINDS: tuple[str, ...] = ("free-meals", "attendance", "tenant-statement", "meal-register")
REQUIRED_FILINGS: tuple[str, ...] = ("free-meals", "attendance")  # order No. 456 p.9 and p.12


class Filing(Aggregate):
    """A monthly report filed with the education authority: which bytes (SHA-256), computed
    from which history (position and chain head), by whom and when. Filing again adds an
    event; the first filing decides whether the school was on time."""

    class Filed(Event, frozen=True, kw_only=True):
        school_id: str
        kind: str
        month: str
        sha256: str
        position: int
        chain_head: str
        filed_by: str
        filed_at: datetime

        def apply(self, filing: Filing) -> None:
            filing.filings.append(self)

    Created = Filed
    filings: list[Filed]

    def __init__(self, aggregate_id: UUID) -> None:
        super().__init__(aggregate_id)
        self.filings = []
