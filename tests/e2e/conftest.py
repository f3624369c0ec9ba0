"""Fixtures of the browser tests (defined in pages_world.py, next to their helpers)."""

from tests.e2e.pages_world import browser, page, playwright_api, world  # noqa: F401
