"""The one settings module: every setting is read from the environment here.

Settings (env var -> meaning, default):
    TAMAQ_DATABASE_URL   where events are stored        sqlite:///./var/tamaq.sqlite3
    TAMAQ_TOKEN_SECRET   HMAC key for bearer tokens     random, kept in a `token-secret` file
    TAMAQ_TIME_ZONE      zone that decides the school day   Asia/Almaty
    TAMAQ_HOST           address the API listens on     127.0.0.1
    TAMAQ_PORT           port the API listens on        8000
    TAMAQ_SEAL_KEY_FILE  Ed25519 private key (PEM)      unset
    TAMAQ_LOG_LEVEL      logging level                  INFO

`TAMAQ_DATABASE_URL` is translated into eventsourcing's environment in exactly one
place, `eventsourcing_env()`. Every error a user can cause is a `SettingsError` whose
message is one line naming the setting, what is wrong and what to do, and never
contains a password.
"""

from __future__ import annotations

import os
import re
import secrets
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qsl, unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

DATABASE_URL = "TAMAQ_DATABASE_URL"
TOKEN_SECRET = "TAMAQ_TOKEN_SECRET"
TIME_ZONE = "TAMAQ_TIME_ZONE"
HOST = "TAMAQ_HOST"
PORT = "TAMAQ_PORT"
SEAL_KEY_FILE = "TAMAQ_SEAL_KEY_FILE"
LOG_LEVEL = "TAMAQ_LOG_LEVEL"

SETTING_NAMES: tuple[str, ...] = (
    DATABASE_URL,
    TOKEN_SECRET,
    TIME_ZONE,
    HOST,
    PORT,
    SEAL_KEY_FILE,
    LOG_LEVEL,
)

DEFAULT_DATABASE_URL = "sqlite:///./var/tamaq.sqlite3"
DEFAULT_TIME_ZONE = "Asia/Almaty"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
DEFAULT_LOG_LEVEL = "INFO"
DEFAULT_VAR_DIR = Path("var")
TOKEN_SECRET_FILE_NAME = "token-secret"
TOKEN_SECRET_CHARS_MIN = 16
LOG_LEVELS = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG")

# Where each store kind's recorders live; the lead may swap in project modules here.
PERSISTENCE_MODULES: dict[str, str] = {
    # eventsourcing's own recorders, extended with the tamper-evident hash chain
    "memory": "ledger.persistence.popo",
    "sqlite": "ledger.persistence.sqlite",
    "postgres": "ledger.persistence.postgres",
}
# Seconds. A lock timeout > 0 stops one stuck writer from blocking every other
# writer forever (see EVENTSTORE-NOTES, gotcha 1).
POSTGRES_LOCK_TIMEOUT_S = 5
POSTGRES_CONNECT_TIMEOUT_S = 5
POSTGRES_POOL_SIZE = 5
POSTGRES_MAX_OVERFLOW = 10
POSTGRES_DEFAULT_PORT = 5432

SCHEMA_NAME_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
URL_FORMS = (
    "use sqlite:///relative/path, sqlite:////absolute/path, "
    "postgresql://user[:password]@host[:port]/db[?schema=name] or memory://"
)

StoreKind = Literal["memory", "sqlite", "postgres"]


class SettingsError(Exception):
    """A setting is missing, malformed or unusable; `.setting` names the env var."""

    def __init__(self, setting: str, problem: str) -> None:
        self.setting = setting
        one_line = " ".join(problem.split())
        super().__init__(f"{setting}: {one_line}")


class StoreConfig(msgspec.Struct, frozen=True, kw_only=True):
    """Where events are stored, parsed from TAMAQ_DATABASE_URL."""

    kind: StoreKind
    sqlite_path: str | None = None
    pg_host: str | None = None
    pg_port: int = POSTGRES_DEFAULT_PORT
    pg_user: str | None = None
    pg_password: str | None = None
    pg_dbname: str | None = None
    pg_schema: str | None = None

    def __repr__(self) -> str:
        # Never let a password reach a log line or a traceback.
        return f"StoreConfig({describe_store(self)!r})"


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """Validated settings; build with `load_settings()`."""

    database_url: str = DEFAULT_DATABASE_URL
    token_secret: str
    time_zone: str = DEFAULT_TIME_ZONE
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    seal_key_file: str | None = None
    log_level: str = DEFAULT_LOG_LEVEL

    def store(self) -> StoreConfig:
        return parse_database_url(self.database_url)

    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    def __repr__(self) -> str:
        return (
            f"Settings(database_url={redact_url(self.database_url)!r}, token_secret='***', "
            f"time_zone={self.time_zone!r}, host={self.host!r}, port={self.port}, "
            f"seal_key_file={self.seal_key_file!r}, log_level={self.log_level!r})"
        )


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read and validate every setting; raises SettingsError naming the bad one."""
    env = os.environ if environ is None else environ
    database_url = _get(env, DATABASE_URL) or DEFAULT_DATABASE_URL
    store = parse_database_url(database_url)
    return Settings(
        database_url=database_url,
        token_secret=_token_secret(env, store),
        time_zone=_time_zone(env),
        host=_get(env, HOST) or DEFAULT_HOST,
        port=_port(env),
        seal_key_file=_seal_key_file(env),
        log_level=_log_level(env),
    )


def _get(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name)
    if value is None or not value.strip():
        return None
    return value.strip()


def _time_zone(env: Mapping[str, str]) -> str:
    name = _get(env, TIME_ZONE) or DEFAULT_TIME_ZONE
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingsError(
            TIME_ZONE, f"unknown time zone {name!r}; use an IANA name such as Asia/Almaty"
        ) from None
    return name


def _port(env: Mapping[str, str]) -> int:
    text = _get(env, PORT)
    if text is None:
        return DEFAULT_PORT
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise SettingsError(PORT, f"{text!r} is not a port; use a number from 1 to 65535")
    return int(text)


def _log_level(env: Mapping[str, str]) -> str:
    level = (_get(env, LOG_LEVEL) or DEFAULT_LOG_LEVEL).upper()
    if level not in LOG_LEVELS:
        raise SettingsError(LOG_LEVEL, f"{level!r} is not a level; use one of {', '.join(LOG_LEVELS)}")
    return level


def _seal_key_file(env: Mapping[str, str]) -> str | None:
    path = _get(env, SEAL_KEY_FILE)
    if path is not None and not Path(path).is_file():
        raise SettingsError(
            SEAL_KEY_FILE, f"no file at {path!r}; point it at an Ed25519 private key in PEM or unset it"
        )
    return path


def _token_secret(env: Mapping[str, str], store: StoreConfig) -> str:
    secret = _get(env, TOKEN_SECRET)
    if secret is not None:
        if len(secret) < TOKEN_SECRET_CHARS_MIN:
            raise SettingsError(
                TOKEN_SECRET,
                f"too short ({len(secret)} characters); use at least {TOKEN_SECRET_CHARS_MIN}, "
                "e.g. the output of: python3 -c 'import secrets; print(secrets.token_hex(32))'",
            )
        return secret
    if store.kind == "memory":
        # Nothing in a memory store survives a restart, so neither need its tokens.
        return secrets.token_hex(32)
    return read_or_create_secret_file(token_secret_path(store))


def token_secret_path(store: StoreConfig) -> Path:
    """The file that keeps the token secret when TAMAQ_TOKEN_SECRET is unset."""
    if store.kind == "sqlite" and store.sqlite_path is not None:
        return Path(store.sqlite_path).parent / TOKEN_SECRET_FILE_NAME
    return DEFAULT_VAR_DIR / TOKEN_SECRET_FILE_NAME


def read_or_create_secret_file(path: Path) -> str:
    """Return the secret in `path`, creating it (mode 0600) atomically if missing."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            _create_secret_file(path)
        secret = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeError) as error:
        raise SettingsError(
            TOKEN_SECRET, f"unset, and the secret file {str(path)!r} is unusable ({error}); "
            "set TAMAQ_TOKEN_SECRET or fix the file"
        ) from None
    if len(secret) < TOKEN_SECRET_CHARS_MIN:
        raise SettingsError(
            TOKEN_SECRET, f"unset, and the secret file {str(path)!r} is empty or too short; "
            "delete it to have a new one made, or set TAMAQ_TOKEN_SECRET"
        )
    return secret


def _create_secret_file(path: Path) -> None:
    # Write a temp file, then hard-link it into place: a concurrent starter either
    # wins the link or reads a complete file, never a half-written one.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".token-secret-")
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(secrets.token_hex(32) + "\n")
        os.chmod(tmp, 0o600)
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
    finally:
        os.unlink(tmp)


# ---------------------------------------------------------------- database URL


def redact_url(url: str) -> str:
    """`url` with everything between the user name and the last '@' masked."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return "***"
    at = rest.rfind("@")
    if at < 0:
        # No '@': 'user:secret/db' is ambiguous, so mask anything after ':' that is not a port.
        authority, slash, tail = rest.partition("/")
        host, colon, port = authority.partition(":")
        if colon and not port.isdigit():
            return f"{scheme}://{host}:***{slash}{tail}"
        return url
    user, colon, _ = rest[:at].partition(":")
    return f"{scheme}://{user}{':***' if colon else ''}@{rest[at + 1:]}"


def _url_error(url: str, problem: str) -> SettingsError:
    return SettingsError(DATABASE_URL, f"{problem} in {redact_url(url)!r}; {URL_FORMS}")


def parse_database_url(url: str) -> StoreConfig:
    """Parse TAMAQ_DATABASE_URL into a StoreConfig; raises SettingsError."""
    scheme, sep, rest = url.strip().partition("://")
    if not sep:
        raise SettingsError(DATABASE_URL, f"not a URL (no '://'); {URL_FORMS}")
    scheme = scheme.lower()
    if scheme == "memory":
        if rest:
            raise _url_error(url, "memory:// takes nothing after '//'")
        return StoreConfig(kind="memory")
    if scheme == "sqlite":
        return _parse_sqlite(url, rest)
    if scheme in ("postgresql", "postgres"):
        return _parse_postgres(url)
    raise _url_error(url, f"unsupported scheme {scheme!r}")


def _parse_sqlite(url: str, rest: str) -> StoreConfig:
    if not rest.startswith("/"):
        raise _url_error(url, "a SQLite URL needs three slashes before the path")
    path = rest[1:]
    if not path or path.endswith("/"):
        raise _url_error(url, "no SQLite file name")
    if "?" in path or "#" in path or ":memory:" in path:
        raise _url_error(url, "query strings and :memory: are not supported for SQLite")
    return StoreConfig(kind="sqlite", sqlite_path=path)


def _parse_postgres(url: str) -> StoreConfig:
    try:
        parts = urlsplit(url.strip())
        port = parts.port or POSTGRES_DEFAULT_PORT
    except ValueError:
        raise _url_error(url, "bad host or port") from None
    if parts.fragment:
        raise _url_error(url, "a '#' fragment is not allowed")
    if not parts.username:
        raise _url_error(url, "no user name")
    if not parts.hostname:
        raise _url_error(url, "no host")
    dbname = unquote(parts.path[1:]) if parts.path.startswith("/") else ""
    if not dbname or "/" in dbname:
        raise _url_error(url, "no database name (or more than one path segment)")
    return StoreConfig(
        kind="postgres",
        pg_host=parts.hostname,
        pg_port=port,
        pg_user=unquote(parts.username),
        pg_password=None if parts.password is None else unquote(parts.password),
        pg_dbname=dbname,
        pg_schema=_parse_schema(url, parts.query),
    )


def _parse_schema(url: str, query: str) -> str | None:
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError:
        raise _url_error(url, "malformed query string") from None
    unknown = sorted({key for key, _ in pairs} - {"schema"})
    if unknown or len(pairs) > 1:
        raise _url_error(url, f"only one '?schema=name' parameter is allowed, got {unknown or 'several'}")
    if not pairs:
        return None
    schema = pairs[0][1]
    if not SCHEMA_NAME_RE.match(schema):
        raise _url_error(url, f"schema {schema!r} must match {SCHEMA_NAME_RE.pattern}")
    return schema


# ---------------------------------------------------------------- eventsourcing


def eventsourcing_env(store: StoreConfig) -> dict[str, str]:
    """THE translation from a StoreConfig to eventsourcing's environment variables."""
    env = {"PERSISTENCE_MODULE": PERSISTENCE_MODULES[store.kind]}
    if store.kind == "sqlite":
        env["SQLITE_DBNAME"] = str(_sqlite_file(store))
    elif store.kind == "postgres":
        env.update(
            POSTGRES_DBNAME=str(store.pg_dbname),
            POSTGRES_HOST=str(store.pg_host),
            POSTGRES_PORT=str(store.pg_port),
            POSTGRES_USER=str(store.pg_user),
            # Must be present even with trust auth; libpq treats "" as "not given".
            POSTGRES_PASSWORD=store.pg_password or "",
            POSTGRES_LOCK_TIMEOUT=str(POSTGRES_LOCK_TIMEOUT_S),
            POSTGRES_CONNECT_TIMEOUT=str(POSTGRES_CONNECT_TIMEOUT_S),
            POSTGRES_POOL_SIZE=str(POSTGRES_POOL_SIZE),
            POSTGRES_MAX_OVERFLOW=str(POSTGRES_MAX_OVERFLOW),
        )
        if store.pg_schema:
            env["POSTGRES_SCHEMA"] = store.pg_schema
    return env


def _sqlite_file(store: StoreConfig) -> Path:
    """The absolute SQLite path, with its directory created."""
    path = Path(str(store.sqlite_path)).absolute()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise SettingsError(
            DATABASE_URL, f"cannot create the directory {str(path.parent)!r} ({error.strerror}); "
            "choose another path"
        ) from None
    return path


def check_store_reachable(store: StoreConfig) -> None:
    """Fail early, with one line, if the store cannot be used."""
    if store.kind == "sqlite":
        _check_sqlite_writable(store)
    elif store.kind == "postgres":
        _check_postgres(store)


def _check_sqlite_writable(store: StoreConfig) -> None:
    path = _sqlite_file(store)
    where = f"sqlite file {str(path)!r}"
    if path.exists() and not path.is_file():
        raise SettingsError(DATABASE_URL, f"{where} is not a regular file; choose another path")
    try:
        with tempfile.TemporaryFile(dir=path.parent):
            pass
        if path.exists():
            with path.open("ab"):
                pass
    except OSError as error:
        raise SettingsError(
            DATABASE_URL, f"cannot write {where} ({error.strerror}); fix permissions or choose another path"
        ) from None


def _check_postgres(store: StoreConfig) -> None:
    import psycopg
    from psycopg import errors, sql

    try:
        with psycopg.connect(
            host=store.pg_host,
            port=store.pg_port,
            user=store.pg_user,
            password=store.pg_password or "",
            dbname=store.pg_dbname,
            connect_timeout=POSTGRES_CONNECT_TIMEOUT_S,
            autocommit=True,
        ) as connection:
            if store.pg_schema:
                try:
                    connection.execute(
                        sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(store.pg_schema))
                    )
                except errors.UniqueViolation:
                    pass  # created concurrently by another process: fine
    except (psycopg.Error, OSError) as error:
        raise SettingsError(
            DATABASE_URL, f"cannot connect to {_pg_address(store)}: {_one_line(str(error), store)}"
        ) from None


def _pg_address(store: StoreConfig) -> str:
    return f"postgresql://{_pg_where(store)}"


def _pg_where(store: StoreConfig) -> str:
    host = f"[{store.pg_host}]" if ":" in str(store.pg_host) else store.pg_host
    return f"{store.pg_user}@{host}:{store.pg_port}/{store.pg_dbname}"


def _one_line(reason: str, store: StoreConfig) -> str:
    lines = [line.strip() for line in reason.strip().splitlines() if line.strip()]
    text = "; ".join(lines) or "unknown error"
    if store.pg_password:
        text = text.replace(store.pg_password, "***")
    return text


def describe_store(store: StoreConfig) -> str:
    """A one-line, password-free description, e.g. 'sqlite ./var/tamaq.sqlite3'."""
    if store.kind == "memory":
        return "memory (in-process, lost on exit)"
    if store.kind == "sqlite":
        return f"sqlite {store.sqlite_path}"
    text = f"postgresql {_pg_where(store)}"
    return f"{text} schema={store.pg_schema}" if store.pg_schema else text
