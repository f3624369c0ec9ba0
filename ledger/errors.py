"""Every failure a caller of the ledger can meet, as a named exception.

    LedgerError                      base: `code` is stable, the message says what to do
    ├── InvalidInput                 a value breaks a limit or a format (names the field)
    ├── NotFound                     an id that the ledger does not know
    ├── IdempotencyConflict          a client id reused with a different body (HTTP 409)
    ├── RuleViolation                the request is well formed but the rules forbid it
    │   └── ConsentWithdrawn         processing stopped for this child
    └── ConcurrencyExhausted         optimistic-concurrency retries ran out (retry later)
"""

from __future__ import annotations


class LedgerError(Exception):
    code = "ledger-error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(LedgerError):
    code = "invalid-input"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class NotFound(LedgerError):
    code = "not-found"

    def __init__(self, kind: str, ident: str) -> None:
        super().__init__(f"{kind} {ident!r} is not known to the ledger")
        self.kind = kind
        self.ident = ident


class IdempotencyConflict(LedgerError):
    code = "idempotency-conflict"


class RuleViolation(LedgerError):
    code = "rule-violation"


class ConsentWithdrawn(RuleViolation):
    code = "consent-withdrawn"

    def __init__(self, child_id: str) -> None:
        super().__init__(
            f"child {child_id!r}: the guardian withdrew consent; the ledger no longer "
            "processes this child"
        )


class ConcurrencyExhausted(LedgerError):
    code = "concurrency-exhausted"
