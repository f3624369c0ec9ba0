"""The writer's aggregate cache against other writers (another process, another ledger
instance) on SQLite and PostgreSQL: each unit of work reads the log's tail once and forgets what
others changed, so a cached child, identifier or wallet (even a cached "no such wallet") never
decides a scan on stale state."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from ledger_fixtures import SCHOOL_DAY, at, balance, canteen, enrol, scan, school_ledger

import ledger.versions as versions
from ledger.ledger import Ledger
from ledger.store import close_ledger, open_ledger


@pytest.fixture(params=["sqlite", "postgres"])
def two_writers(request: pytest.FixtureRequest) -> Iterator[tuple[Ledger, Ledger]]:
    """Two ledgers on one store with school s1 and children c1, c2 (card k1, k2)."""
    url: str = request.getfixturevalue(f"{request.param}_url")
    with school_ledger(url) as first:
        enrol(first, "c1", card="k1")
        enrol(first, "c2", card="k2")
        other = open_ledger(url)
        try:
            yield first, other
        finally:
            close_ledger(other)


def test_an_identifier_revoked_by_another_writer_is_refused_at_once(
        two_writers: tuple[Ledger, Ledger]) -> None:
    first, other = two_writers
    assert scan(first, canteen(), "e1", card="k1", at=at(SCHOOL_DAY, 9)).status == "recorded"
    other.revoke_identifier("card", "k1", "lost")
    outcome = scan(first, canteen(), "e2", card="k1", at=at(SCHOOL_DAY, 10))
    assert (outcome.status, outcome.reason) == ("refused", "unknown_identifier")


def test_consent_withdrawn_by_another_writer_stops_meals_at_once(
        two_writers: tuple[Ledger, Ledger]) -> None:
    first, other = two_writers
    assert scan(first, canteen(), "e1", card="k2", at=at(SCHOOL_DAY, 9)).funding == "funded"
    other.withdraw_consent("c2", SCHOOL_DAY, by="guardian", document_ref="w-1")
    outcome = scan(first, canteen(), "e2", card="k2", at=at(SCHOOL_DAY, 10))
    assert (outcome.status, outcome.reason) == ("refused", "no_consent")


def test_a_wallet_created_by_another_writer_is_seen_though_its_absence_was_cached(
        two_writers: tuple[Ledger, Ledger]) -> None:
    first, other = two_writers
    # no wallet yet: a juice is refused, and `first` now remembers "c2 has no wallet"
    refused = scan(first, canteen(), "e1", card="k2", at=at(SCHOOL_DAY, 9), item_ids=["juice"])
    assert (refused.status, refused.reason) == ("refused", "insufficient_balance")
    other.top_up("c2", "pay-1", 1_000, at(SCHOOL_DAY, 8))  # the wallet is made elsewhere
    served = scan(first, canteen(), "e2", card="k2", at=at(SCHOOL_DAY, 10), item_ids=["juice"])
    assert (served.status, served.funding, served.balance_kzt) == ("recorded", "paid", 800)
    assert balance(other, "c2") == 800


def test_a_long_tail_makes_the_cache_start_over_rather_than_miss_anything(
        two_writers: tuple[Ledger, Ledger], monkeypatch: pytest.MonkeyPatch) -> None:
    first, other = two_writers
    monkeypatch.setattr(versions, "TAIL_ROWS_MAX", 2)
    refused = scan(first, canteen(), "e1", card="k1", at=at(SCHOOL_DAY, 9), item_ids=["juice"])
    assert refused.reason == "insufficient_balance"
    other.top_up("c1", "pay-1", 500, at(SCHOOL_DAY, 8))
    other.top_up("c1", "pay-2", 500, at(SCHOOL_DAY, 8))
    other.revoke_identifier("card", "k2", "lost")
    assert len(first.aggregate_cache) > 0
    outcome = scan(first, canteen(), "e2", card="k2", at=at(SCHOOL_DAY, 10))
    assert (outcome.status, outcome.reason) == ("refused", "unknown_identifier")
    served = scan(first, canteen(), "e3", card="k1", at=at(SCHOOL_DAY, 11), item_ids=["juice"])
    assert (served.funding, served.balance_kzt) == ("paid", 800)
