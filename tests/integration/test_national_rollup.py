"""Two regional stores side by side: the national roll-up equals the sum of the regions."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from ledger.child import Consent
from ledger.scans import IdentifierRef, TerminalItem
from ledger.school import MenuItem
from ledger.store import close_ledger, open_ledger
from projections import build_runner
from projections.national import national_savings
from projections.reports import region_savings

MONTH = "2025-10"
DAYS = [date(2025, 10, d) for d in (1, 2, 3)]


def _region(url: str, region_id: str, pupils: int, eaten: int) -> object:
    ledger = open_ledger(url)
    ledger.register_region(region_id, region_id.title())
    ledger.register_school(f"{region_id}-s", name="School", region_id=region_id, district="d")
    ledger.set_calendar(f"{region_id}-s", MONTH, DAYS)
    ledger.set_menu(f"{region_id}-s", DAYS[0], [MenuItem("lunch", "Lunch", 700, (), True)])
    ledger.register_terminal(f"{region_id}-t", f"{region_id}-s", "canteen")
    for i in range(pupils):
        child = f"{region_id}-c{i}"
        ledger.enrol_child(f"{region_id}-s", child, first_name="A", last_name="B", iin=None,
                           grade=2, class_name="2A", shift=1,
                           consent=Consent("guardian", "doc", date(2025, 9, 1)))
        ledger.assign_voucher(child, f"v{i}", "2025-2026")
        ledger.activate_voucher(child, f"v{i}", date(2025, 9, 1))
        ledger.add_identifier("card", f"{region_id}-k{i}", child_id=child)
    at = datetime(2025, 10, 1, 6, tzinfo=UTC)
    ledger.record_terminal_events(f"{region_id}-t", [
        TerminalItem(event_id=f"e{i}", kind="meal", at=at,
                     identifier=IdentifierRef("card", f"{region_id}-k{i}"))
        for i in range(eaten)])
    runner = build_runner(ledger)
    runner.catch_up()
    with runner.db.read() as cur:
        result = region_savings(cur, region_id, MONTH)
    close_ledger(ledger)
    return result


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_the_national_rollup_equals_the_sum_of_two_regional_stores(
        backend: str, sqlite_url: str, request: pytest.FixtureRequest) -> None:
    if backend == "postgres":
        first_url = request.getfixturevalue("postgres_url")
        second_url = first_url.replace("?schema=", "?schema=") + "_b"
        import psycopg

        from ledger.settings import parse_database_url

        store = parse_database_url(second_url)
        with psycopg.connect(host=store.pg_host, port=store.pg_port, user=store.pg_user,
                             dbname=store.pg_dbname, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA IF NOT EXISTS {store.pg_schema}")
        request.addfinalizer(lambda: _drop(store))
    else:
        first_url, second_url = sqlite_url, sqlite_url.replace(".sqlite3", "-b.sqlite3")
    north = _region(first_url, "north", pupils=5, eaten=3)
    south = _region(second_url, "south", pupils=4, eaten=4)
    nation = national_savings(MONTH, [north, south])  # type: ignore[list-item]
    assert nation.planned_kzt == north.planned_kzt + south.planned_kzt  # type: ignore[attr-defined]
    assert nation.actual_kzt == north.actual_kzt + south.actual_kzt  # type: ignore[attr-defined]
    assert nation.saving_kzt == nation.planned_kzt - nation.actual_kzt
    # the regions' own figures are derived from their events: 585 x pupils x school days
    assert north.planned_kzt == 5 * 585 * len(DAYS)  # type: ignore[attr-defined]
    assert south.actual_kzt == 4 * 585  # type: ignore[attr-defined]
    assert [r.region_id for r in nation.regions] == ["north", "south"]


def _drop(store: object) -> None:
    import psycopg

    with psycopg.connect(host=store.pg_host, port=store.pg_port, user=store.pg_user,  # type: ignore[attr-defined]
                         dbname=store.pg_dbname, autocommit=True) as conn:  # type: ignore[attr-defined]
        conn.execute(f"DROP SCHEMA IF EXISTS {store.pg_schema} CASCADE")  # type: ignore[attr-defined]
