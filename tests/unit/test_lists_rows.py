"""The lists read model works a month's day rows out once per child profile
(`projections.lists._profile`) and writes them in COPY's text form itself
(`projections.eventlog.insert_rows_sharing_tails`): what would make either wrong."""

from __future__ import annotations

from datetime import date
from typing import Any

import psycopg
import pytest

from ledger.base import stable_id
from ledger.child import CategoryPeriod, Child, Consent, HomeSchoolingPeriod, Placement
from ledger.settings import parse_database_url
from ledger.sqldb import Cursor
from projections.eventlog import copy_text, insert_rows_sharing_tails
from projections.lists import _profile

ON = date(2025, 9, 1)


def child(child_id: str = "c1", grade: int = 2) -> Child:
    return Child.new(stable_id("child", child_id), child_id=child_id,
                     placement=Placement("s1", grade, f"{grade}A", 1, ON),
                     consent=Consent("mother", "doc", ON), personal=child_id.encode(),
                     request_hash=child_id)


def test_children_alike_but_for_who_they_are_share_a_profile() -> None:
    a, b = child("c1"), child("c2")
    b.trigger(Child.IdentifierAdded, kind="card", token="k2", biometric_consent_ref=None)
    b.trigger(Child.AllergensSet, allergens=("milk",), set_by="parent")
    assert _profile(a) == _profile(b)


CHANGES: dict[str, Any] = {
    "grade": lambda c: c.trigger(Child.PlacementChanged, reason="moved",
                                 placement=Placement("s1", 3, "3A", 1, date(2025, 10, 1))),
    "left": lambda c: c.trigger(Child.Left, left_on=date(2025, 10, 9), reason="moved"),
    "category": lambda c: c.trigger(Child.CategoryAssigned, period=CategoryPeriod(
        "large_family", ON, None, "doc")),
    "home schooling": lambda c: c.trigger(Child.HomeSchoolingRecorded,
                                          period=HomeSchoolingPeriod(ON, None)),
    "voucher": lambda c: c.trigger(Child.VoucherAssigned, voucher_id="v1", school_year="2025-2026"),
    "consent withdrawn": lambda c: c.trigger(Child.ConsentWithdrawn, withdrawn_on=date(2025, 10, 2),
                                             by="parent", document_ref="w"),
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_anything_a_day_row_reads_makes_another_profile(change: str) -> None:
    a, b = child("c1"), child("c2")
    CHANGES[change](b)
    assert _profile(a) != _profile(b)


def test_a_voucher_activated_on_another_day_makes_another_profile() -> None:
    a, b = child("c1"), child("c2")
    for c, day in ((a, date(2025, 9, 5)), (b, date(2025, 9, 6))):
        c.trigger(Child.VoucherAssigned, voucher_id="v1", school_year="2025-2026")
        c.trigger(Child.VoucherActivated, voucher_id="v1", activated_on=day)
    assert _profile(a) != _profile(b)


def test_copy_text_escapes_what_copy_reads_as_separators() -> None:
    assert copy_text(None) == "\\N"
    assert copy_text(12) == "12" and copy_text("2A") == "2A"
    assert copy_text("a\tb\nc\rd\\e") == "a\\tb\\nc\\rd\\\\e"
    for value in (True, 1.5, date(2025, 1, 1)):
        with pytest.raises(TypeError):
            copy_text(value)


def test_rows_sharing_tails_read_back_as_written(postgres_url: str) -> None:
    store = parse_database_url(postgres_url)
    conninfo = (f"host={store.pg_host} port={store.pg_port} user={store.pg_user} "
                f"dbname={store.pg_dbname}")
    odd = ["plain", "tab\there", "new\nline", "back\\slash", "cr\rx", "\\N", ""]
    rows = [(f"c{i}\t{i % 3}", f"2025-10-{1 + i % 5:02d}", odd[i % len(odd)],
             None if i % 4 else i, i * 7) for i in range(200)]
    with psycopg.connect(conninfo, autocommit=False,
                         options=f"-c search_path={store.pg_schema}") as conn:
        conn.execute("CREATE TABLE t (a TEXT, b TEXT, c TEXT, d BIGINT, e INTEGER)")
        insert_rows_sharing_tails(Cursor(conn.cursor(), "postgres"), "t",
                                  ("a", "b", "c", "d", "e"), rows)
        back = conn.execute("SELECT a, b, c, d, e FROM t ORDER BY e").fetchall()
    assert back == rows
