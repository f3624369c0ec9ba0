"""Open the ledger on the store TAMAQ_DATABASE_URL names: events, keys and read models all
live in that one database (a SQLite file, a PostgreSQL schema, or memory for tests)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from ledger.ledger import Ledger
from ledger.personal import KeyStore, MemoryKeyStore, SqlKeyStore
from ledger.settings import (
    Settings,
    StoreConfig,
    check_store_reachable,
    eventsourcing_env,
    load_settings,
    parse_database_url,
)
from ledger.sqldb import SideDatabase


def side_database(store: StoreConfig) -> SideDatabase:
    if store.kind == "postgres":
        conninfo = (f"host={store.pg_host} port={store.pg_port} user={store.pg_user} "
                    f"dbname={store.pg_dbname} connect_timeout=5")
        if store.pg_password:
            conninfo += f" password={store.pg_password}"
        return SideDatabase("postgres", conninfo=conninfo, schema=store.pg_schema)
    if store.kind == "sqlite":
        env = eventsourcing_env(store)
        return SideDatabase("sqlite", sqlite_path=env["SQLITE_DBNAME"])
    return SideDatabase("sqlite", sqlite_path=":memory:")


def open_ledger(database_url: str, *, time_zone: str = "Asia/Almaty",
                extra_env: dict[str, str] | None = None) -> Ledger:
    store = parse_database_url(database_url)
    env = eventsourcing_env(store)
    env.update(extra_env or {})
    side_db = side_database(store)
    keys: KeyStore = MemoryKeyStore() if store.kind == "memory" else SqlKeyStore(side_db)
    ledger = Ledger(env=env, side_db=side_db, keys=keys, time_zone=time_zone)
    ledger.store_kind = store.kind  # type: ignore[attr-defined]
    return ledger


def close_ledger(ledger: Ledger) -> None:
    ledger.close()
    if ledger.side_db is not None:
        ledger.side_db.close()


@contextmanager
def configured_ledger() -> Iterator[tuple[Settings, Ledger]]:
    """The ledger on the store the settings name, checked first (one-line errors), closed after:
    what every command-line tool starts with."""
    settings = load_settings()
    check_store_reachable(settings.store())
    ledger = open_ledger(settings.database_url, time_zone=settings.time_zone)
    try:
        yield settings, ledger
    finally:
        close_ledger(ledger)
