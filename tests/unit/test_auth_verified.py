"""Verified tokens are remembered per secret, and a remembered token still expires."""

from __future__ import annotations

import time

import pytest

from api import auth
from api.tokens import TokenBadSignature, TokenExpired, issue_token

SECRET = "a-secret-of-at-least-thirty-two-chars"
OTHER = "another-secret-of-at-least-32-chars!"


def test_a_remembered_token_is_refused_once_it_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    token = issue_token(SECRET, "terminal", terminal_id="t1", ttl_s=60)
    first = auth.verified(SECRET, token)
    assert auth.verified(SECRET, token) is first  # remembered
    later = time.time() + 61
    monkeypatch.setattr(auth.time, "time", lambda: later)
    with pytest.raises(TokenExpired):
        auth.verified(SECRET, token)


def test_a_token_remembered_under_one_secret_is_not_valid_under_another() -> None:
    token = issue_token(SECRET, "terminal", terminal_id="t1", ttl_s=60)
    auth.verified(SECRET, token)
    with pytest.raises(TokenBadSignature):
        auth.verified(OTHER, token)
