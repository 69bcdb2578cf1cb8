"""schemathesis against the app's own OpenAPI document: for every operation, generated
requests (valid and invalid) never get a 5xx, and every answer conforms to the spec
(status code declared, content type, body schema, headers).

The caller is a participant holding every role, so generated requests reach past the role
checks into the chain calls; session 1 exists and takes bids. The server-sent event
stream (GET /events) never ends and is left out. The short run (~20 examples per
operation) is part of the suite; `-m slow` runs 200 per operation.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.auth import TokenBuckets
from api.main import create_app
from tests.api.conftest import open_far_session, participant

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    negative_data_rejection,
]
# starlette's test client and httpx deprecations about how schemathesis hands it the body
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
ROLES = ("ADMIN", "DSO", "TSO", "BRP", "AGGREGATOR", "ORACLE", "VALIDATOR", "METERING")


@pytest.fixture(scope="module")
def fuzz(api: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """A caller with every role, a session in bidding, and no rate limit in the way."""
    admin = participant(api, 0)
    admin.sign_in()
    for role in ROLES[1:]:
        admin.grant_role(admin.address, role)
    admin.mint(admin.address, 10**12)
    admin.deposit(10**11)
    admin.register_zone("T1", 100_000)
    open_far_session(admin, "fuzz", phase_s=10_000, slot_count=4)
    state = api["app"].state
    saved = state.token_buckets, state.ip_buckets
    state.token_buckets = state.ip_buckets = TokenBuckets(1e9, 10**9)
    yield {"client": api["client"], "headers": {"Authorization": f"Bearer {admin.token}"}}
    state.token_buckets, state.ip_buckets = saved


# The document only: building it starts no chain (that is the app's lifespan).
schema = schemathesis.openapi.from_dict(create_app().openapi()).exclude(path="/events")


def _run(case: Any, fuzz: dict[str, Any]) -> None:
    kwargs = case.as_transport_kwargs(base_url="http://testserver", headers=fuzz["headers"])
    kwargs.pop("base_url", None)
    response = fuzz["client"].request(**kwargs)
    case.validate_response(response, checks=CHECKS)


@schema.parametrize()
@settings(
    max_examples=20, deadline=None, derandomize=True, database=None,
    suppress_health_check=list(HealthCheck),
)  # fmt: skip
def test_no_server_errors_and_no_schema_violations(case: Any, fuzz: dict[str, Any]) -> None:
    _run(case, fuzz)


@pytest.mark.slow
@schema.parametrize()
@settings(
    max_examples=200, deadline=None, database=None, suppress_health_check=list(HealthCheck)
)  # fmt: skip
def test_no_server_errors_and_no_schema_violations_long(case: Any, fuzz: dict[str, Any]) -> None:
    _run(case, fuzz)
