"""Decrypted personal data remembered per child (`ledger.personal.Plaintexts`): the same
answers as decrypting every time, the cipher run once while key and blob stay, and nothing
remembered once the key is gone."""

from __future__ import annotations

from uuid import uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger import personal
from ledger.personal import SHREDDED, MemoryKeyStore, PersonalData, Plaintexts, encrypt


@pytest.fixture
def decrypts(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls = [0]
    real = personal.decrypt

    def counted(key, child, blob):  # type: ignore[no-untyped-def]
        calls[0] += 1
        return real(key, child, blob)

    monkeypatch.setattr(personal, "decrypt", counted)
    return calls


def test_the_cipher_runs_once_while_key_and_blob_stay(decrypts: list[int]) -> None:
    keys, plain, child = MemoryKeyStore(), Plaintexts(), uuid4()
    data = PersonalData("Dana", "Serikova", "120345678901")
    blob = encrypt(keys.create(child), child, data)
    for _ in range(5):
        assert plain.decrypt(keys.get(child), child, blob) == data
    assert decrypts[0] == 1
    corrected = PersonalData("Dana", "Serikqyzy", "120345678901")
    new_blob = encrypt(keys.get(child), child, corrected)  # a correction: a new blob
    assert plain.decrypt(keys.get(child), child, new_blob) == corrected
    assert decrypts[0] == 2


def test_a_destroyed_key_gives_shredded_and_forgets(decrypts: list[int]) -> None:
    keys, plain, child = MemoryKeyStore(), Plaintexts(), uuid4()
    blob = encrypt(keys.create(child), child, PersonalData("Dana", "Serikova"))
    plain.decrypt(keys.get(child), child, blob)
    assert len(plain) == 1
    keys.destroy(child)
    assert plain.decrypt(keys.get(child), child, blob) == SHREDDED
    assert len(plain) == 0


def test_another_key_is_not_answered_from_memory(decrypts: list[int]) -> None:
    plain, child = Plaintexts(), uuid4()
    first, second = MemoryKeyStore(), MemoryKeyStore()
    blob = encrypt(first.create(child), child, PersonalData("Dana", "Serikova"))
    plain.decrypt(first.get(child), child, blob)
    with pytest.raises(Exception):  # the wrong key fails as it would without the memo
        plain.decrypt(second.create(child), child, blob)


def test_bounded() -> None:
    keys, plain = MemoryKeyStore(), Plaintexts(maxsize=3)
    for _ in range(10):
        child = uuid4()
        plain.decrypt(keys.create(child), child,
                      encrypt(keys.get(child), child, PersonalData("A", "B")))
        assert len(plain) <= 3


@given(st.lists(st.tuples(st.integers(0, 3), st.sampled_from(["get", "rename", "destroy"])),
                max_size=30))
def test_same_answers_as_decrypting_every_time(steps: list[tuple[int, str]]) -> None:
    keys, plain = MemoryKeyStore(), Plaintexts(maxsize=2)
    children = [uuid4() for _ in range(4)]
    blobs = {c: encrypt(keys.create(c), c, PersonalData(f"n{i}", "x"))
             for i, c in enumerate(children)}
    for n, (which, step) in enumerate(steps):
        child = children[which]
        if step == "rename" and keys.get(child) is not None:
            blobs[child] = encrypt(keys.get(child), child, PersonalData(f"r{n}", "x"))
        elif step == "destroy":
            keys.destroy(child)
        key = keys.get(child)
        expected = SHREDDED if key is None else personal.decrypt(key, child, blobs[child])
        assert plain.decrypt(key, child, blobs[child]) == expected
