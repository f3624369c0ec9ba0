"""Verification in two halves (ledger/persistence/split.py): on PostgreSQL a long log's second
half is checked and decoded in a forked process. The answer must be the one-pass answer: the
same result for an intact log, and for any tampering (in either half, an unreadable event, a
kept seal that does not match, a child that fails) the one-pass verifier's finding."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from ledger_fixtures import SCHOOL_DAY, at, canteen, enrol, scan, school_ledger
from test_chain_tamper import RawStore, chained_env

from ledger import audit
from ledger.dates import local_day
from ledger.ledger import Ledger
from ledger.persistence import split as split_module
from ledger.persistence import verify as verify_module

CHILDREN = 8


@pytest.fixture
def pg_store(postgres_url: str, monkeypatch: pytest.MonkeyPatch
             ) -> Iterator[tuple[Ledger, RawStore, list[Any]]]:
    """A log of ~120 events, split from 20 events on, pages of 7; the third item records
    what each split verification returned (None: it fell back to one pass)."""
    monkeypatch.setattr(split_module, "SPLIT_EVENTS_MIN", 20)
    monkeypatch.setattr(verify_module, "PAGE_SIZE", 7)
    monkeypatch.setattr(verify_module, "LINKS_PAGE_MAX", 14)
    monkeypatch.setenv(split_module.PROCESSES_ENV, "2")
    monkeypatch.setattr(split_module.os, "cpu_count", lambda: 2)
    splits: list[Any] = []
    real = split_module.verify_split
    monkeypatch.setattr(audit, "verify_split",
                        lambda *a, **k: splits.append(real(*a, **k)) or splits[-1])
    with school_ledger(postgres_url) as ledger:
        for i in range(CHILDREN):
            enrol(ledger, f"c{i}", card=f"k{i}")
            scan(ledger, canteen(), f"e{i}", card=f"k{i}", at=at(SCHOOL_DAY, 11, i))
        raw = RawStore("postgres", postgres_url, chained_env("postgres", postgres_url))
        raw.events, raw.chain = "ledger_events", "ledger_chain"
        try:
            yield ledger, raw, splits
        finally:
            raw.conn.close()


def one_pass(ledger: Ledger, monkeypatch: pytest.MonkeyPatch, **kwargs: Any) -> audit.VerifyResult:
    with monkeypatch.context() as m:
        m.setenv(split_module.PROCESSES_ENV, "1")
        return audit.verify(ledger, **kwargs)


def test_an_intact_log_verified_in_two_halves_gives_the_one_pass_result(
        pg_store: tuple[Ledger, RawStore, list[Any]], monkeypatch: pytest.MonkeyPatch) -> None:
    ledger, raw, splits = pg_store
    audit.seal_today(ledger, local_day(at(SCHOOL_DAY), "Asia/Almaty"), None)
    scan(ledger, canteen(), "after-seal", card="k1", at=at(SCHOOL_DAY, 13))
    ids = raw.ids()
    (link,), = raw.run("SELECT link FROM {chain} WHERE notification_id=?", (ids[-3],))
    kept = [(ids[-3], bytes(link).hex())]  # a head the auditor kept, in the second half
    split = audit.verify(ledger, kept=kept)
    assert splits and splits[-1] is not None  # the halves vouched: no second pass
    assert split == one_pass(ledger, monkeypatch, kept=kept)
    assert split.ok and split.position == ids[-1] and split.checked == len(ids)


@pytest.mark.parametrize("where", ["first half", "second half"])
@pytest.mark.parametrize("tamper", ["flip", "delete", "link", "unreadable", "kept seal"])
def test_tampering_in_either_half_gives_the_one_pass_finding(
        pg_store: tuple[Ledger, RawStore, list[Any]], monkeypatch: pytest.MonkeyPatch,
        tamper: str, where: str) -> None:
    ledger, raw, splits = pg_store
    ids = raw.ids()
    target = ids[len(ids) // 4] if where == "first half" else ids[3 * len(ids) // 4]
    kept: list[tuple[int, str]] = []
    if tamper == "flip":
        raw.flip_one_byte(target)
    elif tamper == "delete":
        raw.run("DELETE FROM {events} WHERE {nid}=?", (target,))
    elif tamper == "link":
        raw.run("UPDATE {chain} SET link=? WHERE notification_id=?", (bytes(32), target))
    elif tamper == "unreadable":
        raw.set_state(target, b'{"not": "an event"}')
        raw.rewrite_chain()
    else:
        kept = [(target, "00" * 32)]
    found = audit.verify(ledger, kept=kept)
    assert not found.ok and splits  # a split was tried, and gave way to one pass
    assert found == one_pass(ledger, monkeypatch, kept=kept)


def test_a_child_that_fails_leaves_the_verification_to_one_pass(
        pg_store: tuple[Ledger, RawStore, list[Any]], monkeypatch: pytest.MonkeyPatch) -> None:
    ledger, _, splits = pg_store

    def broken(*_: Any) -> split_module.Half:
        raise RuntimeError("the child's connection dropped")

    monkeypatch.setattr(split_module, "_check_half", broken)  # the forked child inherits it
    found = audit.verify(ledger)
    assert splits == [None]
    assert found.ok and found == one_pass(ledger, monkeypatch)
