"""Who is calling, and what they may touch. Denied is 403; a missing or bad token is 401.

    admin          everything
    school-admin   set-up and queries of one school
    accountant     one school: statements, month close, tenant payments, exports, reports
    terminal       its own terminal: events and offline cache
    payments       top-ups only
    auditor        read-only: a region (or all), reports and the audit endpoints
    region         aggregates of its schools only: no names, no IIN, no child rows
    parent         own children
"""

from __future__ import annotations

import time
from typing import Any

from litestar import Request
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException

from api.tokens import TokenClaims, TokenError, TokenExpired, verify_token
from ledger.base import stable_id
from ledger.child import Child
from ledger.errors import NotFound
from ledger.school import School, Terminal

SCHOOL_STAFF = ("school-admin", "accountant")


def claims_of(request: Request[Any, Any, Any]) -> TokenClaims:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotAuthorizedException("send Authorization: Bearer <token> (tamaq token issue)")
    services = request.app.state.services
    try:
        claims = verified(services.settings.token_secret, token.strip())
    except TokenError as error:
        raise NotAuthorizedException(f"token refused: {error}") from None
    if services.is_revoked(claims.token_id):
        raise NotAuthorizedException(f"token {claims.token_id} was revoked")
    return claims


VERIFIED_MAX = 10_000
_verified: dict[tuple[str | bytes, str], TokenClaims] = {}


def verified(secret: str | bytes, token: str) -> TokenClaims:
    """verify_token, remembered: a terminal sends the same token with every scan, and its
    signature check is a visible part of a scan's cost. Expiry is checked every time (and
    revocation by the caller); a token is remembered only under the secret that signed it."""
    claims = _verified.get((secret, token))
    if claims is None:
        claims = verify_token(secret, token)
        if len(_verified) >= VERIFIED_MAX:
            _verified.clear()
        _verified[(secret, token)] = claims
    elif time.time() >= claims.expires_at:
        raise TokenExpired(f"token {claims.token_id} expired at {claims.expires_at}")
    return claims


def deny(claims: TokenClaims, what: str) -> PermissionDeniedException:
    return PermissionDeniedException(f"role {claims.role} may not {what}")


def need_role(claims: TokenClaims, *roles: str, what: str) -> None:
    if claims.role != "admin" and claims.role not in roles:
        raise deny(claims, what)


def school_region(services: Any, school_id: str) -> str:
    school = services.ledger.load(School, stable_id("school", school_id))
    if school is None:
        raise NotFound("school", school_id)
    return str(school.region_id)


def child_school(services: Any, child_id: str) -> str:
    child = services.ledger.load(Child, stable_id("child", child_id))
    if child is None:
        raise NotFound("child", child_id)
    return str(child.current.school_id)


def check_school(services: Any, claims: TokenClaims, school_id: str, *roles: str,
                 what: str) -> None:
    """`roles` may act on this school, each within its own scope."""
    need_role(claims, *roles, what=what)
    role = claims.role
    if role in SCHOOL_STAFF and claims.school_id != school_id:
        raise deny(claims, f"{what} of another school")
    region_id = school_region(services, school_id)  # 404 for a school the ledger does not know
    if role == "admin":
        return
    if role in ("region", "auditor") and claims.region_id is not None and \
            region_id != claims.region_id:
        raise deny(claims, f"{what} outside its region")
    if role == "parent":
        schools = {child_school(services, c) for c in claims.child_ids}
        if school_id not in schools:
            raise deny(claims, f"{what} of a school none of its children attend")
    if role == "terminal":
        terminal = services.ledger.load(Terminal, stable_id("terminal", claims.terminal_id or ""))
        if terminal is None or terminal.school_id != school_id:
            raise deny(claims, f"{what} of another school")


def check_child(services: Any, claims: TokenClaims, child_id: str, *roles: str,
                what: str) -> None:
    need_role(claims, *roles, what=what)
    if claims.role == "parent":
        if child_id not in claims.child_ids:
            raise deny(claims, f"{what} of another family's child")
        return
    if claims.role in ("admin",):
        child_school(services, child_id)  # 404 for a child the ledger does not know
        return
    check_school(services, claims, child_school(services, child_id), *roles, what=what)


def check_region(claims: TokenClaims, region_id: str, *roles: str, what: str) -> None:
    need_role(claims, *roles, what=what)
    if claims.role in ("region", "auditor") and claims.region_id not in (None, region_id):
        raise deny(claims, f"{what} of another region")


def check_terminal(claims: TokenClaims, terminal_id: str) -> None:
    need_role(claims, "terminal", what="act as a terminal")
    if claims.role == "terminal" and claims.terminal_id != terminal_id:
        raise deny(claims, "write for another terminal")
