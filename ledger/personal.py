"""Personal data (names, IIN) never sits in an event in clear: it is encrypted with a key of
the child's own (AES-GCM), kept outside the log. Withdrawing consent destroys the key, so the
data is gone for good (crypto-shredding) while every event, sum and chain link stays."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from typing import Protocol
from uuid import UUID

import msgspec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ledger.sqldb import SideDatabase

NONCE_LEN = 12
PREFETCH_MAX = 1_000


class PersonalData(msgspec.Struct, frozen=True):
    first_name: str
    last_name: str
    iin: str | None = None


SHREDDED = PersonalData(first_name="—", last_name="—", iin=None)


class KeyStore(Protocol):
    def create(self, child: UUID) -> bytes: ...
    def get(self, child: UUID) -> bytes | None: ...
    def prefetch(self, children: Iterable[UUID]) -> None: ...
    def destroy(self, child: UUID) -> None: ...


def encrypt(key: bytes, child: UUID, data: PersonalData) -> bytes:
    nonce = os.urandom(NONCE_LEN)
    return nonce + AESGCM(key).encrypt(nonce, msgspec.msgpack.encode(data), child.bytes)


def decrypt(key: bytes | None, child: UUID, blob: bytes) -> PersonalData:
    if key is None:
        return SHREDDED
    plain = AESGCM(key).decrypt(blob[:NONCE_LEN], blob[NONCE_LEN:], child.bytes)
    return msgspec.msgpack.decode(plain, type=PersonalData)


class Plaintexts:
    """Decrypted personal data, remembered per child while the key and the blob that gave it
    are the child's. A canteen terminal shows the first name at every scan, and building the
    cipher and decrypting was an eighth of deciding a scan. A destroyed key (consent
    withdrawn) gives SHREDDED and drops what was remembered; so does `forget`. At most
    `maxsize` children are remembered (all forgotten when full)."""

    def __init__(self, maxsize: int = 10_000) -> None:
        self.maxsize = maxsize
        self._plain: dict[UUID, tuple[bytes, bytes, PersonalData]] = {}

    def decrypt(self, key: bytes | None, child: UUID, blob: bytes) -> PersonalData:
        if key is None:
            self._plain.pop(child, None)
            return SHREDDED
        hit = self._plain.get(child)
        if hit is not None and hit[0] == key and hit[1] == blob:
            return hit[2]
        data = decrypt(key, child, blob)
        if len(self._plain) >= self.maxsize:
            self._plain.clear()
        self._plain[child] = (key, blob, data)
        return data

    def forget(self, child: UUID) -> None:
        self._plain.pop(child, None)

    def __len__(self) -> int:
        return len(self._plain)


class MemoryKeyStore:
    def __init__(self) -> None:
        self._keys: dict[UUID, bytes] = {}
        self._lock = threading.Lock()

    def create(self, child: UUID) -> bytes:
        with self._lock:
            return self._keys.setdefault(child, AESGCM.generate_key(bit_length=256))

    def get(self, child: UUID) -> bytes | None:
        return self._keys.get(child)

    def prefetch(self, children: Iterable[UUID]) -> None:
        pass  # all in memory already

    def destroy(self, child: UUID) -> None:
        with self._lock:
            self._keys.pop(child, None)


class SqlKeyStore:
    """Keys in a table of the same database as the events (never in the event log)."""

    def __init__(self, db: SideDatabase) -> None:
        self.db = db
        self._cache: dict[UUID, bytes] = {}
        with db.transaction() as cur:
            cur.execute(
                "CREATE TABLE IF NOT EXISTS tamaq_child_keys "
                "(child_uuid TEXT PRIMARY KEY, key_bytes BYTEA NOT NULL)"
                if db.kind == "postgres"
                else "CREATE TABLE IF NOT EXISTS tamaq_child_keys "
                "(child_uuid TEXT PRIMARY KEY, key_bytes BLOB NOT NULL)"
            )

    def create(self, child: UUID) -> bytes:
        existing = self.get(child)
        if existing is not None:
            return existing
        key = AESGCM.generate_key(bit_length=256)
        with self.db.transaction() as cur:
            cur.execute(
                "INSERT INTO tamaq_child_keys (child_uuid, key_bytes) VALUES (?, ?) "
                "ON CONFLICT (child_uuid) DO NOTHING",
                (str(child), key),
            )
        self._cache.pop(child, None)
        return self.get(child) or key

    def get(self, child: UUID) -> bytes | None:
        if child in self._cache:
            return self._cache[child]
        with self.db.transaction() as cur:
            row = cur.fetchone(
                "SELECT key_bytes FROM tamaq_child_keys WHERE child_uuid = ?", (str(child),)
            )
        if row is None:
            return None
        key = bytes(row[0])
        self._cache[child] = key
        return key

    def prefetch(self, children: Iterable[UUID]) -> None:
        """Bring the keys of these children into the cache with one query (a batch of scans
        shows first names: one query per child would cost more than the rest of a scan)."""
        wanted = sorted({str(c) for c in children if c not in self._cache})
        for start in range(0, len(wanted), PREFETCH_MAX):
            chunk = wanted[start:start + PREFETCH_MAX]
            marks = ",".join("?" * len(chunk))
            with self.db.transaction() as cur:
                rows = cur.fetchall("SELECT child_uuid, key_bytes FROM tamaq_child_keys"
                                    f" WHERE child_uuid IN ({marks})", chunk)
            for child_uuid, key in rows:
                self._cache[UUID(child_uuid)] = bytes(key)

    def destroy(self, child: UUID) -> None:
        with self.db.transaction() as cur:
            cur.execute("DELETE FROM tamaq_child_keys WHERE child_uuid = ?", (str(child),))
        self._cache.pop(child, None)
