"""Local SQLite journal of a gateway: offline decisions, the offline cache, the local overlay.

WAL mode with synchronous=FULL: `append` returns only after the row is on disk, so a
decision journalled before the device is answered survives kill -9 and power loss.

Tables:
- ``events``: every event the gateway must deliver, in order (``seq``), with its ack.
- ``cache``: the last terminal cache fetched from the server, and when the fetch started.
- ``overlay``: what this gateway did since that fetch (meals served, balances seen or spent),
  so a restarted gateway decides offline as if it had never stopped.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterable
from pathlib import Path

import msgspec

from terminals.client import EventItem, EventResult, TerminalCache

PENDING_LIMIT_MAX = 5000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    body BLOB NOT NULL,
    created_at REAL NOT NULL,
    acked_at REAL,
    status TEXT,
    reason TEXT,
    funding TEXT,
    flagged INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS events_pending ON events (seq) WHERE acked_at IS NULL;
CREATE TABLE IF NOT EXISTS cache (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    body BLOB NOT NULL,
    fetched_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS overlay (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    date TEXT NOT NULL,
    key TEXT NOT NULL,
    served INTEGER NOT NULL,
    balance_abs_kzt INTEGER,
    balance_delta_kzt INTEGER NOT NULL
);
"""


class OverlayEntry(msgspec.Struct, frozen=True):
    """One local fact about an identifier key ("card:123" / "palm:abc") on a school date."""

    at: float  # unix time of the decision
    date: str  # school date, YYYY-MM-DD (Asia/Almaty)
    key: str
    served: bool  # the day's free meal was handed out (funded, or unfunded when flagged)
    balance_abs_kzt: int | None = None  # the balance the server reported, if any
    balance_delta_kzt: int = 0  # local change to the balance (offline paid meals)


class JournalError(Exception):
    """The journal file cannot be opened or written."""


_item_encoder = msgspec.json.Encoder()
_item_decoder = msgspec.json.Decoder(EventItem)
_cache_decoder = msgspec.json.Decoder(TerminalCache)


class Journal:
    """Thread-safe (one connection behind a lock); every write is its own durable commit."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=10.0)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as e:
            raise JournalError(f"cannot open journal {self.path}: {e}") from e

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _tx(self, statements: list[tuple[str, tuple[object, ...]]]) -> None:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                for sql, args in statements:
                    self._db.execute(sql, args)
                self._db.execute("COMMIT")
            except sqlite3.Error as e:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise JournalError(f"journal {self.path} write failed: {e}") from e

    def append(self, item: EventItem, overlay: OverlayEntry | None = None) -> None:
        """Durably record an event to deliver (and its local effect) in one commit."""
        statements: list[tuple[str, tuple[object, ...]]] = [(
            "INSERT INTO events (event_id, body, created_at) VALUES (?, ?, ?)",
            (item.event_id, _item_encoder.encode(item), time.time()))]
        if overlay is not None:
            statements.append(_overlay_insert(overlay))
        self._tx(statements)

    def add_overlay(self, entry: OverlayEntry) -> None:
        self._tx([_overlay_insert(entry)])

    def pending(self, limit: int = PENDING_LIMIT_MAX) -> list[EventItem]:
        """Unacknowledged events, oldest first."""
        limit = max(1, min(limit, PENDING_LIMIT_MAX))
        with self._lock:
            rows = self._db.execute(
                "SELECT body FROM events WHERE acked_at IS NULL ORDER BY seq LIMIT ?", (limit,)).fetchall()
        return [_item_decoder.decode(body) for (body,) in rows]

    def pending_count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM events WHERE acked_at IS NULL").fetchone()[0])

    def mark_acked(self, acks: Iterable[EventResult | str]) -> None:
        """Mark events acknowledged (recorded, duplicate or refused all count)."""
        now = time.time()
        statements: list[tuple[str, tuple[object, ...]]] = []
        for ack in acks:
            if isinstance(ack, str):
                ack = EventResult(event_id=ack, status="recorded")
            statements.append((
                "UPDATE events SET acked_at = ?, status = ?, reason = ?, funding = ?, flagged = ? "
                "WHERE event_id = ? AND acked_at IS NULL",
                (now, ack.status, ack.reason, ack.funding, int(ack.flagged), ack.event_id)))
        if statements:
            self._tx(statements)

    def statuses(self) -> dict[str, str | None]:
        """event_id -> ack status (None while pending); for tests and reports."""
        with self._lock:
            rows = self._db.execute("SELECT event_id, status FROM events ORDER BY seq").fetchall()
        return {event_id: status for event_id, status in rows}

    def save_cache(self, cache: TerminalCache, fetched_at: float) -> None:
        """Replace the cache; overlay entries it already contains are dropped."""
        self._tx([
            ("INSERT OR REPLACE INTO cache (id, body, fetched_at) VALUES (1, ?, ?)",
             (msgspec.json.encode(cache), fetched_at)),
            ("DELETE FROM overlay WHERE at < ?", (fetched_at,)),
        ])

    def load_cache(self) -> tuple[TerminalCache, float] | None:
        with self._lock:
            row = self._db.execute("SELECT body, fetched_at FROM cache WHERE id = 1").fetchone()
        if row is None:
            return None
        return _cache_decoder.decode(row[0]), float(row[1])

    def overlay(self) -> list[OverlayEntry]:
        with self._lock:
            rows = self._db.execute(
                "SELECT at, date, key, served, balance_abs_kzt, balance_delta_kzt FROM overlay ORDER BY id").fetchall()
        return [OverlayEntry(at, date, key, bool(served), abs_kzt, delta) for at, date, key, served, abs_kzt, delta in rows]


def _overlay_insert(e: OverlayEntry) -> tuple[str, tuple[object, ...]]:
    return ("INSERT INTO overlay (at, date, key, served, balance_abs_kzt, balance_delta_kzt) VALUES (?, ?, ?, ?, ?, ?)",
            (e.at, e.date, e.key, int(e.served), e.balance_abs_kzt, e.balance_delta_kzt))
