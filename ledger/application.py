"""The ledger application: one method per use case: load, decide, record, in one save."""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any, ClassVar, TypeVar
from uuid import UUID

import msgspec
from eventsourcing.application import Application
from eventsourcing.persistence import IntegrityError
from eventsourcing.utils import get_topic

from ledger import limits
from ledger.base import Aggregate, Event, stable_id
from ledger.child import ChildDay, Wallet
from ledger.dates import DEFAULT_TIME_ZONE
from ledger.errors import ConcurrencyExhausted, IdempotencyConflict
from ledger.mapper import MsgspecMapper, NullTranscoder
from ledger.personal import KeyStore, MemoryKeyStore
from ledger.sqldb import SideDatabase
from ledger.unit import Unit

T = TypeVar("T")
_json = msgspec.json.Encoder(order="sorted")


def request_hash(**fields: Any) -> str:
    """A stable digest of a request body, to tell a retry from a conflicting reuse of an id."""
    return hashlib.sha256(_json.encode(fields)).hexdigest()[:32]


def check_same(kind: str, ident: str, stored_hash: str, new_hash: str) -> None:
    if stored_hash != new_hash:
        raise IdempotencyConflict(
            f"{kind} {ident!r} already exists with a different body; use a new id to create "
            "another, or repeat the original body to get the original answer"
        )


class LedgerApplication(Application):  # type: ignore[type-arg]
    name = "Tamaq"
    env: ClassVar[dict[str, str]] = {
        "MAPPER_TOPIC": get_topic(MsgspecMapper),
        "TRANSCODER_TOPIC": get_topic(NullTranscoder),
        "AGGREGATE_CACHE_MAXSIZE": "20000",
        "IS_SNAPSHOTTING_ENABLED": "y",
    }
    log_section_size = 10_000
    retries_max = 8
    wallet_snapshot_interval = 100

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        *,
        side_db: SideDatabase | None = None,
        keys: KeyStore | None = None,
        time_zone: str = DEFAULT_TIME_ZONE,
    ) -> None:
        super().__init__(env)
        self.side_db = side_db
        self.keys: KeyStore = keys or MemoryKeyStore()
        self.time_zone = time_zone

    # -- the write path ---------------------------------------------------------------

    def run(self, command: Callable[[Unit], T]) -> T:
        """Run a command in a unit of work and save what it changed in one transaction,
        retrying optimistic-concurrency conflicts a bounded number of times."""
        for attempt in range(self.retries_max):
            unit = Unit(self)
            result = command(unit)
            events, changed = unit.collect()
            if not events:
                return result
            try:
                self.save_events(events)
            except IntegrityError:
                time.sleep(random.uniform(0, 0.002 * (attempt + 1)))
                continue
            self._snapshot_wallets(changed)
            return result
        raise ConcurrencyExhausted(
            f"the command conflicted with concurrent writers {self.retries_max} times; retry it"
        )

    def save_events(self, events: list[Event]) -> None:
        self.save(*events)

    def _snapshot_wallets(self, changed: list[Aggregate]) -> None:
        interval = self.wallet_snapshot_interval
        for aggregate in changed:
            if isinstance(aggregate, Wallet) and aggregate.version // interval > (
                aggregate.version - 1
            ) // interval and self.snapshots is not None:
                # the snapshot is of the recorded state: same version, same balance
                self.snapshots.put([aggregate.take_snapshot()])

    def load(self, cls: type[Aggregate], aggregate_id: UUID) -> Any:
        return Unit(self).get(cls, aggregate_id)

    # -- helpers shared by the use cases ---------------------------------------------

    @staticmethod
    def wallet(unit: Unit, child_id: str) -> Wallet:
        wallet_id = stable_id("wallet", child_id)
        wallet = unit.get(Wallet, wallet_id)
        if wallet is None:
            wallet = unit.create(Wallet, wallet_id, child_id=child_id)
        return wallet

    @staticmethod
    def child_day(unit: Unit, child_id: str, day: date) -> ChildDay | None:
        return unit.get(ChildDay, stable_id("child-day", child_id, day.isoformat()))


def utc(value: datetime) -> datetime:
    return limits.check_instant("at", value)
