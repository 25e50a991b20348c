"""Schemathesis over the service's own OpenAPI document, on SQLite and PostgreSQL (see docs/fuzzing.md).

Every documented operation gets generated requests (valid and invalid, boundary values included), sent in-process
through the suite's TestClient with a real manufacturer's or regulator's key, so the routes behind the key are
exercised beyond 401. Each answer must not be a 5xx, and its status, content type and body must be the ones the
document declares for the operation. Bounded for CI: a fixed number of examples per operation
(``PASSPORT_FUZZ_EXAMPLES``, default 10) in Hypothesis' derandomized mode, so a CI run replays the same requests.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Callable
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.helpers import Org

EXAMPLES = int(os.environ.get("PASSPORT_FUZZ_EXAMPLES", "10"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture
def keys(make_org: Callable[..., Org], maker: Org, batch: dict[str, Any]) -> list[Org]:
    """A manufacturer with a product and a batch (id 1: small ids hit data), and a regulator."""
    return [maker, make_org("regulator")]


def _send(client: TestClient, case: schemathesis.Case) -> Any:
    """The case as schemathesis would send it (its requests-style arguments), through the suite's TestClient."""
    kwargs = case.as_transport_kwargs(base_url=str(client.base_url))
    body: dict[str, Any] = {}
    if kwargs.get("json") is not None:
        body["json"] = kwargs["json"]
    elif kwargs.get("data") is not None:
        data = kwargs["data"]
        body["content" if isinstance(data, bytes | str) else "data"] = data
    if kwargs.get("files"):
        body["files"] = kwargs["files"]
    return client.request(
        kwargs["method"],
        kwargs["url"],
        params=kwargs.get("params"),
        headers=kwargs.get("headers"),
        **body,
    )


def _fuzz(
    operation: schemathesis.APIOperation,
    mode: schemathesis.GenerationMode,
    client: TestClient,
    keys: list[Org],
    seen: dict[str, set[int]],
) -> Callable[[], None]:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        derandomize=True,  # the same requests on every run: CI never fails on an example nobody has seen
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
    )
    def run(case: schemathesis.Case) -> None:
        # The key a request carries follows from the request itself, so Hypothesis replays a failure exactly. One
        # in three keeps whatever Authorization the generator made (none, or a wrong one: the 401 path).
        drawn = repr((case.path_parameters, case.query, case.body, case.headers)).encode()
        choice = zlib.crc32(drawn) % (len(keys) + 1)
        if choice < len(keys):
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {keys[choice].api_key}"}
        response = _send(client, case)
        seen.setdefault(operation.label, set()).add(response.status_code)
        case.validate_response(response, checks=CHECKS)

    return run


def test_every_operation_answers_as_documented(client: TestClient, keys: list[Org]) -> None:
    schema = schemathesis.openapi.from_dict(client.app.openapi())  # type: ignore[attr-defined]
    failures: list[str] = []
    seen: dict[str, set[int]] = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
            try:
                _fuzz(operation, mode, client, keys, seen)()
            except Unsatisfiable:
                assert mode is schemathesis.GenerationMode.NEGATIVE  # nothing to get wrong: no parameters, no body
            except (Exception, FailureGroup) as error:  # FailureGroup: several checks failed at once
                failures.append(f"{operation.label} ({mode.value}): {error}")
    assert not failures, f"{len(failures)} operation(s) answered outside the document:\n\n" + "\n\n".join(failures)
    # The keys work: no operation was only ever refused for want of one.
    assert len(seen) >= 45
    assert not [label for label, statuses in seen.items() if statuses == {401}]
