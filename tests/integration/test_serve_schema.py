"""Schemathesis over the read API's own OpenAPI document: no generated input gets a 5xx.

Every HTTP operation of `/openapi.json` is called with inputs generated from its schema (valid
ones, and in the negative mode malformed ones), against the real API process on the real
Postgres of the session stack. Checks: `not_a_server_error` always; for valid input also that
the status code is documented and the body has the documented type and shape; for any error,
our one error body. Bounded (MAX_EXAMPLES per operation and mode, no deadline) so the module
stays well under a minute on 2 cores.

The operations are listed at collection time from `create_app().openapi()` (nothing connects),
and each test runs the operation of the document the running server answers, so a route added
later is fuzzed without editing this file. The WebSocket route is not in the OpenAPI document
(FastAPI leaves websockets out); `test_serve_ws.py` covers it. schemathesis' own pytest plugin
(`from_fixture`) is not used: it reads a private attribute pytest 9 no longer has.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from transitstream.config import Settings, get_settings
from transitstream.serve.app import create_app
from transitstream.serve.client import running_api

pytestmark = pytest.mark.integration

MAX_EXAMPLES = 50
DOCUMENT = create_app(get_settings()).openapi()
LABELS = [f"{method.upper()} {path}" for path, item in DOCUMENT["paths"].items() for method in item]
WITH_QUERY = {
    f"{method.upper()} {path}"
    for path, item in DOCUMENT["paths"].items()
    for method, op in item.items()
    if any(p["in"] == "query" for p in op.get("parameters", ()))
}
"""Malformed input exists only for query parameters: a path segment is any string (the
negative mode cannot break one), and an operation without parameters has nothing to break."""
CASES = [(label, GenerationMode.POSITIVE) for label in LABELS] + [
    (label, GenerationMode.NEGATIVE) for label in LABELS if label in WITH_QUERY
]
POSITIVE_CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def api_schema(stack: Settings) -> Iterator[schemathesis.BaseSchema]:
    with running_api(stack) as url:
        yield schemathesis.openapi.from_url(f"{url}/openapi.json", wait_for_schema=30)


def test_every_http_route_is_in_the_document() -> None:
    """What this module fuzzes is what the document lists: fail loudly if a resource drops out."""
    expected = {"GET /eta", "GET /vehicles", "GET /vehicles/{vehicle_id}", "GET /stops",
                "GET /routes", "GET /shapes", "GET /gtfs-rt/vehicle-positions",
                "GET /gtfs-rt/trip-updates", "GET /healthz"}  # fmt: skip
    assert expected <= set(LABELS), f"not in /openapi.json: {sorted(expected - set(LABELS))}"


@pytest.mark.parametrize(("label", "mode"), CASES, ids=[f"{lb}-{m.value}" for lb, m in CASES])
def test_no_server_error(
    api_schema: schemathesis.BaseSchema, label: str, mode: GenerationMode
) -> None:
    operation = api_schema.find_operation_by_label(label)
    assert operation is not None, f"{label} is not in the running server's /openapi.json"
    checks = POSITIVE_CHECKS if mode == GenerationMode.POSITIVE else [not_a_server_error]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def call(case: schemathesis.Case) -> None:
        response = case.call(timeout=30)
        case.validate_response(response, checks=checks)
        if response.status_code >= 400:  # one error shape, whoever raised it
            error = response.json()["error"]
            assert error["code"] and error["message"], response.text

    call()
