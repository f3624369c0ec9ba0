"""Bearer tokens: signed claims, no storage.

Format: ``tq1.<base64url(JSON claims)>.<base64url(HMAC-SHA256)>``; the MAC covers
``tq1.<claims>``. Revocation is not here: the API keeps a set of revoked token_ids.

Exceptions::

    TokenError                 anything wrong with a token
    ├── TokenMalformed         not a tq1 token, bad base64/JSON, claims break the rules
    ├── TokenBadSignature      MAC does not match (tampered, or another secret)
    ├── TokenExpired           now >= expires_at
    └── TokenScopeError        issue_token called with a scope the role does not allow
    TtlError (ValueError)      parse_ttl got text that is not a duration in range
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Sequence
from typing import Annotated, Literal, get_args

import msgspec

Role = Literal[
    "admin", "school-admin", "terminal", "accountant", "payments", "auditor", "region", "parent"
]
ROLES: tuple[str, ...] = get_args(Role)

TOKEN_PREFIX = "tq1"
TOKEN_CHARS_MAX = 4096
CHILDREN_PER_TOKEN_MAX = 32
TTL_S_MAX = 400 * 86_400
ScopeId = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]

# role -> (scopes it must have, scopes it may have)
SCOPE_RULES: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "admin": (frozenset(), frozenset()),
    "payments": (frozenset(), frozenset()),
    "school-admin": (frozenset({"school"}), frozenset({"school"})),
    "accountant": (frozenset({"school"}), frozenset({"school"})),
    "terminal": (frozenset({"terminal"}), frozenset({"terminal", "school"})),
    "region": (frozenset({"region"}), frozenset({"region"})),
    "auditor": (frozenset(), frozenset({"region"})),
    "parent": (frozenset({"child"}), frozenset({"child"})),
}


class TokenError(Exception):
    """Base of every token failure."""


class TokenMalformed(TokenError):
    """Not a well-formed tq1 token."""


class TokenBadSignature(TokenError):
    """The signature does not match: tampered, or signed with another secret."""


class TokenExpired(TokenError):
    """The token's expires_at has passed."""


class TokenScopeError(TokenError):
    """The role is missing a scope it needs, or was given one it does not take."""


class TtlError(ValueError):
    """A TTL string is not a duration between 1 second and 400 days."""


class TokenClaims(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """What a token says. For parents, child_ids lists every child and child_id is the first."""

    token_id: Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{16}$")]
    role: Role
    school_id: ScopeId | None = None
    region_id: ScopeId | None = None
    child_id: ScopeId | None = None
    child_ids: Annotated[tuple[ScopeId, ...], msgspec.Meta(max_length=CHILDREN_PER_TOKEN_MAX)] = ()
    terminal_id: ScopeId | None = None
    issued_at: Annotated[int, msgspec.Meta(ge=0)]
    expires_at: Annotated[int, msgspec.Meta(ge=0)]


def check_scope(claims: TokenClaims) -> None:
    """Raise TokenScopeError unless the claims carry exactly the scopes the role allows."""
    present = {
        name
        for name, value in (
            ("school", claims.school_id),
            ("region", claims.region_id),
            ("child", claims.child_id),
            ("terminal", claims.terminal_id),
        )
        if value is not None
    }
    required, allowed = SCOPE_RULES[claims.role]
    if missing := sorted(required - present):
        raise TokenScopeError(f"role {claims.role} needs --{missing[0]} ID")
    if extra := sorted(present - allowed):
        raise TokenScopeError(f"role {claims.role} does not take --{extra[0]}")
    if claims.child_id is not None and claims.child_ids[:1] != (claims.child_id,):
        raise TokenScopeError("child_id must be the first of child_ids")
    if len(set(claims.child_ids)) != len(claims.child_ids):
        raise TokenScopeError("child_ids repeats a child")


def issue_token(
    secret: bytes | str,
    role: str,
    *,
    school_id: str | None = None,
    region_id: str | None = None,
    child_id: str | None = None,
    child_ids: Sequence[str] = (),
    terminal_id: str | None = None,
    ttl_s: int,
    now: int | None = None,
) -> str:
    """Sign a new token; raises TokenScopeError or ValueError for bad arguments."""
    if role not in ROLES:
        raise TokenScopeError(f"unknown role {role!r}; use one of {', '.join(ROLES)}")
    if not 1 <= ttl_s <= TTL_S_MAX:
        raise TtlError(f"ttl_s {ttl_s} is out of range 1..{TTL_S_MAX}")
    children = tuple(dict.fromkeys([*([child_id] if child_id else []), *child_ids]))
    issued_at = int(time.time()) if now is None else now
    fields = {
        "token_id": secrets.token_hex(8),
        "role": role,
        "school_id": school_id,
        "region_id": region_id,
        "child_id": children[0] if children else None,
        "child_ids": children,
        "terminal_id": terminal_id,
        "issued_at": issued_at,
        "expires_at": issued_at + ttl_s,
    }
    try:
        claims = msgspec.convert(fields, TokenClaims)
    except msgspec.ValidationError as error:
        raise TokenScopeError(f"bad token claims: {error}") from None
    check_scope(claims)
    body = f"{TOKEN_PREFIX}.{_b64encode(msgspec.json.encode(claims))}"
    return f"{body}.{_b64encode(_mac(secret, body))}"


def verify_token(secret: bytes | str, token: str, now: int | None = None) -> TokenClaims:
    """Return the claims of a valid token; raises a TokenError subclass otherwise."""
    if not isinstance(token, str) or len(token) > TOKEN_CHARS_MAX:
        raise TokenMalformed("token is not a string of at most 4096 characters")
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX:
        raise TokenMalformed("token is not of the form tq1.<claims>.<signature>")
    body, signature = _b64decode(parts[1]), _b64decode(parts[2])
    if not body or len(signature) != hashlib.sha256().digest_size:
        raise TokenMalformed("token claims are empty or the signature has the wrong length")
    if not hmac.compare_digest(signature, _mac(secret, f"{parts[0]}.{parts[1]}")):
        raise TokenBadSignature("token signature does not match")
    try:
        claims = msgspec.json.decode(body, type=TokenClaims)
        check_scope(claims)
    except (msgspec.DecodeError, TokenScopeError) as error:
        raise TokenMalformed(f"token claims are invalid: {error}") from None
    if (int(time.time()) if now is None else now) >= claims.expires_at:
        raise TokenExpired(f"token {claims.token_id} expired at {claims.expires_at}")
    return claims


def _mac(secret: bytes | str, body: str) -> bytes:
    key = secret.encode() if isinstance(secret, str) else secret
    if not key:
        raise ValueError("token secret is empty")
    return hmac.new(key, body.encode("ascii"), hashlib.sha256).digest()


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


_B64URL_RE = re.compile(r"^[A-Za-z0-9_-]*$")


def _b64decode(text: str) -> bytes:
    if not _B64URL_RE.match(text) or len(text) % 4 == 1:
        raise TokenMalformed("token part is not base64url")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise TokenMalformed("token part is not base64url") from None
    if _b64encode(data) != text:
        # Non-zero padding bits: two spellings of one token must not both verify.
        raise TokenMalformed("token part is not canonical base64url")
    return data


_TTL_RE = re.compile(r"^\s*(\d{1,9})\s*([smhd]?)\s*$")
_TTL_UNIT_S = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86_400}


def parse_ttl(text: str) -> int:
    """'30d' / '12h' / '15m' / '45s' / '3600' -> seconds, between 1 s and 400 days."""
    match = _TTL_RE.match(text.lower())
    if match is None:
        raise TtlError(f"ttl {text!r} is not a duration; write e.g. 30d, 12h, 15m or 3600 (seconds)")
    seconds = int(match.group(1)) * _TTL_UNIT_S[match.group(2)]
    if not 1 <= seconds <= TTL_S_MAX:
        raise TtlError(f"ttl {text!r} is out of range; use from 1 second up to 400d")
    return seconds
