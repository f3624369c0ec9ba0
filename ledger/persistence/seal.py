"""Seals: a chain head (position, link) signed with Ed25519, so an auditor can prove later
that the log only grew since.

The signed message is ASCII, one line, no trailing newline, so it can be checked with
any Ed25519 tool (e.g. `openssl pkeyutl -verify -rawin`):

    tamaq-ledger-seal/v1 position=<decimal notification id> head=<64 lowercase hex>
"""

from __future__ import annotations

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ledger.persistence.links import LINK_SIZE

SEAL_PREFIX = "tamaq-ledger-seal/v1"
SIGNATURE_SIZE = 64


class SealKeyError(ValueError):
    """A PEM key is unreadable or is not an Ed25519 key."""


def seal_message(position: int, head: bytes) -> bytes:
    """The exact bytes that are signed for the chain head `head` at `position`."""
    if position < 0:
        msg = f"a seal position is a notification id >= 0, got {position}"
        raise ValueError(msg)
    if len(head) != LINK_SIZE:
        msg = f"a chain head is {LINK_SIZE} bytes, got {len(head)}"
        raise ValueError(msg)
    return f"{SEAL_PREFIX} position={position} head={bytes(head).hex()}".encode("ascii")


def _private_key(private_key_pem: bytes) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(private_key_pem, password=None)
    except (ValueError, TypeError) as error:
        msg = f"cannot read the seal private key (PEM, unencrypted, Ed25519 expected): {error}"
        raise SealKeyError(msg) from None
    if not isinstance(key, Ed25519PrivateKey):
        msg = f"the seal private key is {type(key).__name__}, an Ed25519 key is expected"
        raise SealKeyError(msg)
    return key


def _public_key(public_key_pem: bytes) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(public_key_pem)
    except (ValueError, TypeError) as error:
        msg = f"cannot read the seal public key (PEM, Ed25519 expected): {error}"
        raise SealKeyError(msg) from None
    if not isinstance(key, Ed25519PublicKey):
        msg = f"the seal public key is {type(key).__name__}, an Ed25519 key is expected"
        raise SealKeyError(msg)
    return key


def sign_seal(private_key_pem: bytes, position: int, head: bytes) -> bytes:
    """The 64-byte Ed25519 signature of `seal_message(position, head)`."""
    return _private_key(private_key_pem).sign(seal_message(position, head))


def verify_seal(public_key_pem: bytes, position: int, head: bytes, signature: bytes) -> bool:
    """True when `signature` is the key's signature of this (position, head).

    Raises SealKeyError for an unreadable key: a wrong key file is not a forged seal.
    """
    key = _public_key(public_key_pem)
    try:
        key.verify(bytes(signature), seal_message(position, head))
    except InvalidSignature:
        return False
    return True


def public_key_pem(private_key_pem: bytes) -> bytes:
    """The PEM public key to hand to auditors for a private seal key."""
    return _private_key(private_key_pem).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def generate_seal_key() -> bytes:
    """A new unencrypted PKCS#8 PEM Ed25519 private key (store it with mode 0600)."""
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
