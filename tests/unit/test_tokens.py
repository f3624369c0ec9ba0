"""Bearer tokens: signing, verification, expiry, tampering and scope rules."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.tokens import (
    ROLES,
    SCOPE_RULES,
    TTL_S_MAX,
    TokenBadSignature,
    TokenExpired,
    TokenMalformed,
    TokenScopeError,
    TtlError,
    issue_token,
    parse_ttl,
    verify_token,
)

SECRET = "0123456789abcdef0123456789abcdef"
NOW = 1_760_000_000
SCOPE_ARG = {"school": "school_id", "region": "region_id", "child": "child_id", "terminal": "terminal_id"}


def minimal_scope(role: str) -> dict[str, str]:
    required, _ = SCOPE_RULES[role]
    return {SCOPE_ARG[name]: f"{name}-1" for name in required}


@pytest.mark.parametrize("role", ROLES)
def test_a_token_for_every_role_verifies_to_its_claims(role: str) -> None:
    token = issue_token(SECRET, role, ttl_s=3600, now=NOW, **minimal_scope(role))
    claims = verify_token(SECRET, token, now=NOW + 10)
    assert claims.role == role
    assert (claims.issued_at, claims.expires_at) == (NOW, NOW + 3600)
    for name, attribute in SCOPE_ARG.items():
        expected = f"{name}-1" if name in SCOPE_RULES[role][0] else None
        assert getattr(claims, attribute) == expected
    assert token.startswith("tq1.") and token.count(".") == 2


def test_each_token_gets_a_new_16_hex_id() -> None:
    ids = {verify_token(SECRET, issue_token(SECRET, "admin", ttl_s=60, now=NOW), now=NOW).token_id for _ in range(50)}
    assert len(ids) == 50
    assert all(len(token_id) == 16 and int(token_id, 16) >= 0 for token_id in ids)


def test_a_token_expires_exactly_at_expires_at() -> None:
    token = issue_token(SECRET, "admin", ttl_s=60, now=NOW)
    assert verify_token(SECRET, token, now=NOW + 59).role == "admin"
    with pytest.raises(TokenExpired):
        verify_token(SECRET, token, now=NOW + 60)


def test_a_token_signed_with_another_secret_is_rejected() -> None:
    token = issue_token(SECRET, "admin", ttl_s=60, now=NOW)
    with pytest.raises(TokenBadSignature):
        verify_token(SECRET + "x", token, now=NOW)


def test_bytes_and_str_secrets_with_the_same_content_agree() -> None:
    token = issue_token(SECRET.encode(), "payments", ttl_s=60, now=NOW)
    assert verify_token(SECRET, token, now=NOW).role == "payments"


def _with_claims(token: str, **changes: object) -> str:
    prefix, body, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    claims.update(changes)
    new_body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{prefix}.{new_body}.{signature}"


def test_raising_the_role_or_the_expiry_breaks_the_signature() -> None:
    token = issue_token(SECRET, "accountant", school_id="s1", ttl_s=60, now=NOW)
    for tampered in (_with_claims(token, role="admin", school_id=None), _with_claims(token, expires_at=NOW + 10**6)):
        with pytest.raises(TokenBadSignature):
            verify_token(SECRET, tampered, now=NOW)


def test_flipping_any_character_is_rejected() -> None:
    token = issue_token(SECRET, "region", region_id="r1", ttl_s=60, now=NOW)
    for index in range(len(token)):
        replacement = "A" if token[index] != "A" else "B"
        tampered = token[:index] + replacement + token[index + 1 :]
        with pytest.raises((TokenBadSignature, TokenMalformed)):
            verify_token(SECRET, tampered, now=NOW)


@pytest.mark.parametrize(
    "token",
    ["", "tq1", "tq1..", "tq2.e30.AAAA", "tq1.e30", "tq1.e30.AA.AA", "tq1.!!!.AAAA", "x" * 5000, "tq1.e30.A"],
)
def test_garbage_is_malformed(token: str) -> None:
    with pytest.raises(TokenMalformed):
        verify_token(SECRET, token, now=NOW)


def test_signed_claims_that_break_the_scope_rules_are_malformed() -> None:
    import hashlib
    import hmac

    body = base64.urlsafe_b64encode(
        json.dumps({"token_id": "0" * 16, "role": "parent", "issued_at": NOW, "expires_at": NOW + 60}).encode()
    ).rstrip(b"=").decode()
    mac = hmac.new(SECRET.encode(), f"tq1.{body}".encode(), hashlib.sha256).digest()
    token = f"tq1.{body}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"
    with pytest.raises(TokenMalformed, match="needs --child"):
        verify_token(SECRET, token, now=NOW)


@pytest.mark.parametrize(
    ("role", "scope"),
    [
        ("school-admin", {}),
        ("accountant", {"region_id": "r"}),
        ("terminal", {"school_id": "s"}),
        ("region", {}),
        ("parent", {}),
        ("admin", {"school_id": "s"}),
        ("payments", {"child_id": "c"}),
        ("auditor", {"school_id": "s"}),
        ("region", {"region_id": "r", "school_id": "s"}),
    ],
)
def test_a_role_without_its_scope_or_with_a_foreign_one_cannot_be_issued(role: str, scope: dict[str, str]) -> None:
    with pytest.raises(TokenScopeError):
        issue_token(SECRET, role, ttl_s=60, now=NOW, **scope)


def test_optional_scopes_are_accepted() -> None:
    auditor = verify_token(SECRET, issue_token(SECRET, "auditor", region_id="r9", ttl_s=60, now=NOW), now=NOW)
    terminal = issue_token(SECRET, "terminal", terminal_id="t1", school_id="s1", ttl_s=60, now=NOW)
    assert auditor.region_id == "r9"
    assert verify_token(SECRET, terminal, now=NOW).school_id == "s1"


def test_a_parent_token_can_name_several_children_without_repeats() -> None:
    token = issue_token(SECRET, "parent", child_id="c1", child_ids=["c2", "c1", "c3"], ttl_s=60, now=NOW)
    claims = verify_token(SECRET, token, now=NOW)
    assert (claims.child_id, claims.child_ids) == ("c1", ("c1", "c2", "c3"))


def test_unknown_role_and_bad_ids_are_refused() -> None:
    with pytest.raises(TokenScopeError, match="unknown role"):
        issue_token(SECRET, "root", ttl_s=60, now=NOW)
    with pytest.raises(TokenScopeError):
        issue_token(SECRET, "accountant", school_id="has space", ttl_s=60, now=NOW)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30d", 30 * 86_400), ("12h", 43_200), ("15m", 900), ("45s", 45), ("3600", 3600), (" 2D ", 172_800), ("400d", TTL_S_MAX)],
)
def test_ttl_strings_become_seconds(text: str, seconds: int) -> None:
    assert parse_ttl(text) == seconds


@pytest.mark.parametrize("text", ["", "0", "0d", "401d", "1w", "-5m", "1.5h", "d", "10 days", "9" * 12])
def test_bad_ttls_are_refused_with_an_example(text: str) -> None:
    with pytest.raises(TtlError):
        parse_ttl(text)


def test_issue_refuses_a_ttl_out_of_range() -> None:
    for ttl_s in (0, -1, TTL_S_MAX + 1):
        with pytest.raises(TtlError):
            issue_token(SECRET, "admin", ttl_s=ttl_s, now=NOW)


ids = st.text(alphabet="abcXYZ019_.:-", min_size=1, max_size=64)


@given(
    role=st.sampled_from(ROLES),
    scope_id=ids,
    ttl_s=st.integers(min_value=1, max_value=TTL_S_MAX),
    now=st.integers(min_value=0, max_value=4_000_000_000),
    secret=st.binary(min_size=1, max_size=64),
)
def test_every_issued_token_round_trips_until_it_expires(
    role: str, scope_id: str, ttl_s: int, now: int, secret: bytes
) -> None:
    scope = {SCOPE_ARG[name]: scope_id for name in SCOPE_RULES[role][0]}
    token = issue_token(secret, role, ttl_s=ttl_s, now=now, **scope)
    claims = verify_token(secret, token, now=now + ttl_s - 1)
    assert (claims.role, claims.issued_at, claims.expires_at) == (role, now, now + ttl_s)
    assert all(getattr(claims, attribute) == scope_id for attribute in scope)
    with pytest.raises(TokenExpired):
        verify_token(secret, token, now=now + ttl_s)


def test_a_token_has_exactly_one_spelling() -> None:
    token = issue_token(SECRET, "admin", ttl_s=60, now=NOW)
    prefix, body, signature = token.split(".")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet.index(signature[-1])
    # 32 bytes leave 2 unused bits in the last character: setting them must not verify.
    respelled = f"{prefix}.{body}.{signature[:-1]}{alphabet[last | 1]}"
    assert respelled != token
    with pytest.raises(TokenMalformed):
        verify_token(SECRET, respelled, now=NOW)
