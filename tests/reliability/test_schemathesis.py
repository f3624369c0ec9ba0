"""schemathesis against the app's own OpenAPI document, with an admin token: whatever it
generates, valid or not, the server never answers 5xx, and every 4xx is problem details."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from litestar.exceptions import LitestarDeprecationWarning
from litestar.testing import TestClient

from api.app import create_app
from api_fixtures import ADMIN, PROBLEM_JSON, make_settings, seed_school

# Examples per operation; about 45 operations. TAMAQ_LONG=1 (make test-long) tries many more.
EXAMPLES_MAX = 400 if os.environ.get("TAMAQ_LONG") == "1" else 12

pytestmark = pytest.mark.filterwarnings("ignore::litestar.exceptions.LitestarDeprecationWarning")

with warnings.catch_warnings():
    warnings.simplefilter("ignore", LitestarDeprecationWarning)
    APP = create_app(make_settings("memory://"), background=False)
    with TestClient(APP) as _client:
        seed_school(_client)  # so that generated ids sometimes meet real data (s1, c1, ...)
    # The notification stream holds a connection open for up to `wait_s` seconds by design.
    SCHEMA = schemathesis.openapi.from_asgi("/schema/openapi.json", APP).exclude(
        path_regex="notifications")


@pytest.fixture(scope="module", autouse=True)
def close_app() -> Iterator[None]:
    yield
    APP.state.services.close()


def header(response: schemathesis.Response, name: str) -> str:
    value = response.headers.get(name) or response.headers.get(name.title()) or ""
    return value[0] if isinstance(value, list) else value


@SCHEMA.parametrize()
@settings(max_examples=EXAMPLES_MAX, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_no_generated_request_gets_a_5xx_and_every_4xx_is_problem_details(
        case: schemathesis.Case) -> None:
    response = case.call(headers=ADMIN)
    assert response.status_code < 500, (case.method, case.formatted_path, response.text[:300])
    if 400 <= response.status_code < 500:
        assert header(response, "content-type").startswith(PROBLEM_JSON), (
            case.method, case.formatted_path, response.status_code, response.text[:200])
