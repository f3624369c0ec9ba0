"""The lists read model works a month's day rows out once per child profile
(`projections.lists._profile`), stores them as month rows with the days as bits
(`month_rows`, `day_rows`, read in SQL by `on_day`) and writes them in COPY's text form
itself (`projections.eventlog.insert_rows_sharing_tails`): what would make any wrong."""

from __future__ import annotations

from datetime import date
from typing import Any

import psycopg
import pytest
from hypothesis import given, strategies as st

from ledger.base import stable_id
from ledger.child import CategoryPeriod, Child, Consent, HomeSchoolingPeriod, Placement
from ledger.settings import parse_database_url
from ledger.sqldb import Cursor
from ledger.store import side_database
from projections.eventlog import copy_text, insert_rows_sharing_tails
from projections.lists import CHILD_MONTH_COLUMNS, _profile, day_rows, month_rows, on_day
from projections.schema import ddl

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


def _day_row(child_id: str, day: int, kind: int) -> tuple[Any, ...]:
    """A day row (CHILD_DAY_COLUMNS) of October 2025 in one of three kinds."""
    return (child_id, f"2025-10-{day:02d}", "s1", "2025-10", "primary", 2, "2A",
            "large_family" if kind == 1 else "", 1, int(kind != 2), 0, 0, 0, 585)


@given(st.dictionaries(st.integers(1, 31), st.integers(0, 2), max_size=31))
def test_month_rows_hold_each_day_row_once_and_give_them_back(kinds: dict[int, int]) -> None:
    days = [_day_row("c1", day, kind) for day, kind in sorted(kinds.items())]
    months = month_rows("c1", days)
    assert len(months) == len(set(kinds.values()))  # one row per kind of day
    assert sum(row[3] for row in months) == len(days)  # day_count
    back = sorted((day for row in months for day in day_rows(row)), key=lambda r: r[1])
    assert back == days


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_on_day_finds_the_month_row_of_every_day_and_no_other(
        backend: str, request: pytest.FixtureRequest) -> None:
    db = side_database(parse_database_url(request.getfixturevalue(f"{backend}_url")))
    # day 1 and day 31 (the lowest and the highest bit) on one kind, the rest on others
    kinds = {day: 0 if day in (1, 31) else 1 + day % 2 for day in range(1, 32)}
    months = sorted(month_rows("c1", [_day_row("c1", d, k) for d, k in kinds.items()]))
    marks = ",".join("?" * len(months[0]))
    try:
        with db.transaction() as cur:
            for statement in ddl(db.kind, "lists"):
                cur.execute(statement)
            cur.executemany(f"INSERT INTO pm_child_month ({CHILD_MONTH_COLUMNS})"
                            f" VALUES ({marks})", months)
            cur.execute("CREATE TABLE t_meal (child_id TEXT, day TEXT)")
            cur.executemany("INSERT INTO t_meal VALUES (?, ?)",
                            [("c1", f"2025-10-{d:02d}") for d in kinds] +
                            [("c1", "2025-11-01"), ("c2", "2025-10-01")])
        with db.read() as cur:
            for day, kind in kinds.items():
                iso = f"2025-10-{day:02d}"
                found = cur.fetchall(f"SELECT categories, entitled FROM pm_child_month d"
                                     f" WHERE d.child_id = ? AND {on_day('d', '?')}",
                                     ("c1", iso[:7], day - 1))
                assert [tuple(r) for r in found] == [_day_row("c1", day, kind)[7:10:2]]
            joined = cur.fetchall(f"SELECT m.day, d.entitled FROM t_meal m LEFT JOIN"
                                  f" pm_child_month d ON d.child_id = m.child_id AND"
                                  f" {on_day('d', 'm.day')} ORDER BY m.child_id, m.day")
        assert [tuple(r) for r in joined] == [
            (f"2025-10-{d:02d}", int(kinds[d] != 2)) for d in sorted(kinds)] + \
            [("2025-11-01", None), ("2025-10-01", None)]
    finally:
        db.close()
