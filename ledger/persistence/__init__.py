"""Event store persistence with a tamper-evident hash chain.

Choosing a backend: set eventsourcing's PERSISTENCE_MODULE (in os.environ or the
Application's env) to one of

    ledger.persistence.popo      in memory (tests, demos)
    ledger.persistence.sqlite    SQLITE_DBNAME=...            (eventsourcing's settings)
    ledger.persistence.postgres  POSTGRES_DBNAME/HOST/PORT/USER/PASSWORD[/SCHEMA]

and any eventsourcing `Application` writes, in the same transaction as its events, one
chain link per event into `<application name lowercased>_chain`. All other settings and
behaviour (tracking, snapshots, notification log, CREATE_TABLE, POSTGRES_SCHEMA,
POSTGRES_LOCK_TIMEOUT) are the library's. The chain format is in
`ledger.persistence.chain`; seals (signed heads) in `ledger.persistence.seal`.

Auditing (all take the application's recorder, `app.recorder`):

    from ledger.persistence.chain import verify_chain, chain_head, log_only_grew
    result = verify_chain(app.recorder, progress=lambda done, total: ..., sealed=[(n, head)])
    result.ok, result.position, result.head, result.broken_position, result.broken_event,
    result.reason, result.summary()
    position, head = chain_head(app.recorder)
    for row in iter_events_with_links(app.recorder, after=0, limit=1000): ...

Read models in the same database: the chained SQLite and PostgreSQL recorders have
`run_in_transaction(fn, commit=True)`, which calls `fn(cursor)` inside one transaction
of the store's own connection pool and returns its result; equivalently

    with app.recorder.datastore.transaction(commit=True) as cursor:
        cursor.execute(...)        # SQLite: "?" placeholders; PostgreSQL: "%s", dict rows

commits on leaving the block (rolls back on an exception; `commit=False` always rolls
back, for reads). On PostgreSQL qualify table names with `app.recorder.datastore.schema`.
Keep read-model tables apart from `*_events`/`*_chain`: the chain covers events only.
"""

from __future__ import annotations

from ledger.persistence.chain import (
    GENESIS,
    ChainConfigurationError,
    ChainFormatError,
    ChainIntegrityError,
    VerifyResult,
    canonical_bytes,
    chain_head,
    iter_events_with_links,
    log_only_grew,
    next_link,
    verify_chain,
)
from ledger.persistence.seal import SealKeyError, seal_message, sign_seal, verify_seal

__all__ = [
    "GENESIS",
    "ChainConfigurationError",
    "ChainFormatError",
    "ChainIntegrityError",
    "SealKeyError",
    "VerifyResult",
    "canonical_bytes",
    "chain_head",
    "iter_events_with_links",
    "log_only_grew",
    "next_link",
    "seal_message",
    "sign_seal",
    "verify_chain",
    "verify_seal",
]
