"""Settings: the database URL, the eventsourcing translation and every env var."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from ledger.settings import (
    DATABASE_URL,
    PERSISTENCE_MODULES,
    SETTING_NAMES,
    SettingsError,
    StoreConfig,
    check_store_reachable,
    describe_store,
    eventsourcing_env,
    load_settings,
    parse_database_url,
)

PASSWORD = "Sup3r-s3cret"
SECRET = "x" * 32


def test_memory_url_selects_the_in_process_store() -> None:
    store = parse_database_url("memory://")
    assert store.kind == "memory"
    assert eventsourcing_env(store) == {"PERSISTENCE_MODULE": PERSISTENCE_MODULES["memory"]}


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:///./var/tamaq.sqlite3", "./var/tamaq.sqlite3"),
        ("sqlite:///data/x.db", "data/x.db"),
        ("sqlite:////srv/tamaq/x.db", "/srv/tamaq/x.db"),
    ],
)
def test_sqlite_url_keeps_relative_and_absolute_paths(url: str, path: str) -> None:
    store = parse_database_url(url)
    assert (store.kind, store.sqlite_path) == ("sqlite", path)


def test_sqlite_env_names_an_absolute_file_and_creates_its_directory(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "events.sqlite3"
    env = eventsourcing_env(parse_database_url(f"sqlite:///{target}"))
    assert env == {"PERSISTENCE_MODULE": "ledger.persistence.sqlite", "SQLITE_DBNAME": str(target)}
    assert target.parent.is_dir()


def test_relative_sqlite_path_is_resolved_against_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    env = eventsourcing_env(parse_database_url("sqlite:///./var/t.sqlite3"))
    assert Path(env["SQLITE_DBNAME"]) == tmp_path / "var" / "t.sqlite3"


def test_postgres_url_fills_every_field() -> None:
    store = parse_database_url(f"postgresql://alice:{PASSWORD}@db.example:6543/meals?schema=region_01")
    assert store == StoreConfig(
        kind="postgres",
        pg_host="db.example",
        pg_port=6543,
        pg_user="alice",
        pg_password=PASSWORD,
        pg_dbname="meals",
        pg_schema="region_01",
    )


def test_postgres_scheme_alias_and_default_port_and_percent_decoding() -> None:
    store = parse_database_url("postgres://bob:p%40ss%2Fword@localhost/db")
    assert (store.pg_user, store.pg_password, store.pg_port, store.pg_schema) == ("bob", "p@ss/word", 5432, None)


def test_postgres_env_has_every_variable_eventsourcing_needs() -> None:
    env = eventsourcing_env(parse_database_url("postgresql://postgres@127.0.0.1:5432/test?schema=x_1"))
    assert env == {
        "PERSISTENCE_MODULE": "ledger.persistence.postgres",
        "POSTGRES_DBNAME": "test",
        "POSTGRES_HOST": "127.0.0.1",
        "POSTGRES_PORT": "5432",
        "POSTGRES_USER": "postgres",
        "POSTGRES_PASSWORD": "",
        "POSTGRES_SCHEMA": "x_1",
        "POSTGRES_LOCK_TIMEOUT": "5",
        "POSTGRES_CONNECT_TIMEOUT": "5",
        "POSTGRES_POOL_SIZE": "5",
        "POSTGRES_MAX_OVERFLOW": "10",
    }


def test_postgres_env_without_schema_has_no_schema_variable() -> None:
    env = eventsourcing_env(parse_database_url(f"postgresql://u:{PASSWORD}@h/d"))
    assert "POSTGRES_SCHEMA" not in env
    assert env["POSTGRES_PASSWORD"] == PASSWORD


BAD_URLS = [
    f"mysql://root:{PASSWORD}@h/db",
    f"postgresql://u:{PASSWORD}@h:99999/db",
    f"postgresql://u:{PASSWORD}@h:port/db",
    f"postgresql://u:{PASSWORD}/db",
    f"postgresql://u:{PASSWORD}@h",
    f"postgresql://u:{PASSWORD}@h/db/extra",
    f"postgresql://:{PASSWORD}@h/db",
    f"postgresql://u:{PASSWORD}@/db",
    f"postgresql://u:{PASSWORD}@h/db?schema=Bad-Name",
    f"postgresql://u:{PASSWORD}@h/db?schema=1abc",
    f"postgresql://u:{PASSWORD}@h/db?schema=" + "a" * 64,
    f"postgresql://u:{PASSWORD}@h/db?sslmode=disable",
    f"postgresql://u:{PASSWORD}@h/db?schema=a&schema=b",
    f"postgresql://u:{PASSWORD}@h/db#frag",
    "sqlite://relative.db",
    "sqlite:///",
    "sqlite:///dir/",
    "sqlite:///:memory:",
    "memory://something",
    PASSWORD,
    "",
]


@pytest.mark.parametrize("url", BAD_URLS)
def test_bad_urls_give_one_line_naming_the_setting_without_the_password(url: str) -> None:
    with pytest.raises(SettingsError) as caught:
        parse_database_url(url)
    message = str(caught.value)
    assert caught.value.setting == DATABASE_URL
    assert message.startswith("TAMAQ_DATABASE_URL: ")
    assert "\n" not in message
    assert PASSWORD not in message


def test_store_repr_and_description_never_show_the_password() -> None:
    store = parse_database_url(f"postgresql://alice:{PASSWORD}@db:5432/meals?schema=s")
    assert PASSWORD not in repr(store)
    assert describe_store(store) == "postgresql alice@db:5432/meals schema=s"
    assert describe_store(parse_database_url("sqlite:///./var/tamaq.sqlite3")) == "sqlite ./var/tamaq.sqlite3"


def test_unreachable_postgres_is_one_line_without_the_password() -> None:
    store = parse_database_url(f"postgresql://postgres:{PASSWORD}@127.0.0.1:1/test")
    with pytest.raises(SettingsError) as caught:
        check_store_reachable(store)
    message = str(caught.value)
    assert message.startswith("TAMAQ_DATABASE_URL: cannot connect to postgresql://postgres@127.0.0.1:1/test: ")
    assert "\n" not in message and PASSWORD not in message


def test_reachable_postgres_gets_its_schema_created(postgres_url: str) -> None:
    import psycopg

    store = parse_database_url(postgres_url.replace("?schema=", "?schema=x"))
    check_store_reachable(store)
    with psycopg.connect(
        host=store.pg_host, port=store.pg_port, user=store.pg_user, dbname=store.pg_dbname, autocommit=True
    ) as connection:
        found = connection.execute(
            "SELECT count(*) FROM information_schema.schemata WHERE schema_name = %s", (store.pg_schema,)
        ).fetchone()
        connection.execute(f'DROP SCHEMA "{store.pg_schema}"')
    assert found == (1,)


def test_sqlite_in_a_read_only_directory_is_reported(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        if os.access(locked, os.W_OK) and os.geteuid() == 0:
            pytest.skip("running as root: directory permissions are not enforced")
        with pytest.raises(SettingsError, match=r"^TAMAQ_DATABASE_URL: cannot write"):
            check_store_reachable(parse_database_url(f"sqlite:///{locked / 'x.sqlite3'}"))
    finally:
        locked.chmod(stat.S_IRWXU)


def test_sqlite_path_that_is_a_directory_is_reported(tmp_path: Path) -> None:
    (tmp_path / "db").mkdir()
    with pytest.raises(SettingsError, match="not a regular file"):
        check_store_reachable(parse_database_url(f"sqlite:///{tmp_path / 'db'}"))


def test_defaults_apply_when_nothing_is_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings({})
    assert settings.database_url == "sqlite:///./var/tamaq.sqlite3"
    assert (settings.time_zone, settings.host, settings.port) == ("Asia/Almaty", "127.0.0.1", 8000)
    assert (settings.seal_key_file, settings.log_level) == (None, "INFO")
    assert settings.store().kind == "sqlite"


def test_token_secret_is_created_once_next_to_the_sqlite_file_with_mode_0600(tmp_path: Path) -> None:
    env = {DATABASE_URL: f"sqlite:///{tmp_path / 'data' / 'x.sqlite3'}"}
    first = load_settings(env).token_secret
    secret_file = tmp_path / "data" / "token-secret"
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    assert load_settings(env).token_secret == first == secret_file.read_text().strip()
    assert len(first) >= 32


def test_token_secret_from_the_environment_wins_and_writes_no_file(tmp_path: Path) -> None:
    env = {DATABASE_URL: f"sqlite:///{tmp_path / 'x.sqlite3'}", "TAMAQ_TOKEN_SECRET": SECRET}
    assert load_settings(env).token_secret == SECRET
    assert not (tmp_path / "token-secret").exists()
    assert SECRET not in repr(load_settings(env))


def test_memory_store_gets_a_fresh_secret_each_start() -> None:
    env = {DATABASE_URL: "memory://"}
    assert load_settings(env).token_secret != load_settings(env).token_secret


def test_every_setting_is_read(tmp_path: Path) -> None:
    key = tmp_path / "seal.pem"
    key.write_text("-----BEGIN PRIVATE KEY-----\n")
    env = {
        DATABASE_URL: "memory://",
        "TAMAQ_TOKEN_SECRET": SECRET,
        "TAMAQ_TIME_ZONE": "Asia/Aqtobe",
        "TAMAQ_HOST": "0.0.0.0",
        "TAMAQ_PORT": "9001",
        "TAMAQ_SEAL_KEY_FILE": str(key),
        "TAMAQ_LOG_LEVEL": "debug",
    }
    settings = load_settings(env)
    assert (settings.database_url, settings.token_secret) == ("memory://", SECRET)
    assert (settings.time_zone, settings.host, settings.port) == ("Asia/Aqtobe", "0.0.0.0", 9001)
    assert (settings.seal_key_file, settings.log_level) == (str(key), "DEBUG")
    assert set(SETTING_NAMES) == set(env)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("TAMAQ_TIME_ZONE", "Mars/Olympus"),
        ("TAMAQ_TIME_ZONE", "../etc/passwd"),
        ("TAMAQ_PORT", "0"),
        ("TAMAQ_PORT", "65536"),
        ("TAMAQ_PORT", "http"),
        ("TAMAQ_LOG_LEVEL", "LOUD"),
        ("TAMAQ_SEAL_KEY_FILE", "/nonexistent/seal.pem"),
        ("TAMAQ_TOKEN_SECRET", "short"),
        ("TAMAQ_DATABASE_URL", "oracle://x@y/z"),
    ],
)
def test_each_bad_setting_is_named_in_a_one_line_error(name: str, value: str) -> None:
    env = {DATABASE_URL: "memory://", name: value}
    with pytest.raises(SettingsError) as caught:
        load_settings(env)
    assert caught.value.setting == name
    assert str(caught.value).startswith(f"{name}: ") and "\n" not in str(caught.value)
