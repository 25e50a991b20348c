"""Input no database or parser can take: ids beyond their column, bodies over the limit (with or without
Content-Length), JSON that is malformed, not UTF-8 or nested 10,000 deep. Each is the client's mistake and
answers 404, 413 or 422 as problem+json, never 400 or a 5xx."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Iterator
from typing import Any

import httpx2
import pytest
from fastapi import FastAPI
from fastapi.dependencies.utils import get_flat_params
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from pydantic.fields import FieldInfo

from app.api.routes_pages import COOKIE
from app.main import create_app
from app.services.runtime import Runtime
from tests.helpers import GTIN, Org, serving, settings_for

PROBLEM = "application/problem+json"
# Ids no row has: PostgreSQL INTEGER ends at 2**31 - 1, BIGINT (and SQLite) at 2**63 - 1.
BEYOND = (0, -1, 2**31, 2**63, 10**30)
INT64_MAX = 2**63 - 1
LIMIT = 2048  # bytes, for the body-limit tests (the settings' minimum is 1024)


def _routes(routes: Iterable[Any]) -> Iterator[APIRoute]:
    """Every route of the app, including those of included routers (kept apart by FastAPI until matched)."""
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from _routes(included.routes)
        elif isinstance(route, APIRoute):
            yield route


def _bound(info: FieldInfo, kind: str) -> int | None:
    return next((getattr(m, kind) for m in info.metadata if hasattr(m, kind)), None)


def _is_int(info: FieldInfo) -> bool:
    return info.annotation in (int, int | None)


def int_parameters(app: FastAPI) -> list[tuple[str, str, str, str, FieldInfo]]:
    """(method, path, parameter, 'path' | 'query', field) for every integer path and query parameter."""
    found = []
    for route in _routes(app.routes):
        dependant_params = get_flat_params(route.dependant)
        path_names = {p.name for p in route.dependant.path_params}
        for param in dependant_params:
            if _is_int(param.field_info):
                where = "path" if param.name in path_names else "query"
                found.extend((method, route.path, param.name, where, param.field_info) for method in route.methods)
    return sorted(found, key=lambda f: f[:3])


def _url(app: FastAPI, path: str, method: str, name: str, where: str, value: int) -> str:
    """The route's path with ``name`` = value and every other parameter given a plausible value."""
    route = next(r for r in _routes(app.routes) if r.path == path and method in r.methods)
    query = {}
    for param in get_flat_params(route.dependant):
        if param.name == name:
            continue
        in_path = "{" + param.name + "}" in path or "{" + param.name + ":" in path
        filler = "1" if _is_int(param.field_info) else (GTIN if param.name == "gtin" else "X")
        if in_path:
            path = path.replace("{" + param.name + "}", filler)
        elif param.field_info.is_required():
            query[param.name] = filler
    if where == "path":
        path = path.replace("{" + name + "}", str(value))
    else:
        query[name] = str(value)
    return path + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


# A valid body where a route needs one, so that only the id can be wrong.
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("PATCH", "/v1/alerts/{alert_id}"): {"status": "open"},
    ("POST", "/v1/batches/{batch_id}/codes"): {"count": 1},
}


def _send(client: TestClient, org: Org, method: str, url: str, path: str = "") -> httpx2.Response:
    if url.startswith("/regulator/"):  # the console signs in by cookie and wants this site as Origin on a POST
        headers = {"Cookie": f"{COOKIE}={org.api_key}", "Origin": "http://testserver"}
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        return client.request(method, url, headers={**headers, **form}, content="status=open", follow_redirects=False)
    body = BODIES.get((method, path), {}) if method in ("POST", "PUT", "PATCH") else None
    return client.request(method, url, headers=org.headers, json=body)


# --- ids --------------------------------------------------------------------------------------------------------


def test_every_integer_parameter_is_found(client):
    """The walk below must see the routes it is about (a FastAPI change in how routes are kept would empty it)."""
    found = {(method, path, name) for method, path, name, _, _ in int_parameters(client.app)}
    assert ("GET", "/v1/batches/{batch_id}", "batch_id") in found
    assert ("PATCH", "/v1/alerts/{alert_id}", "alert_id") in found
    assert ("POST", "/regulator/alerts/{alert_id}", "alert_id") in found
    assert ("GET", "/v1/log/entries", "end") in found
    assert len(found) >= 25


def test_ids_beyond_any_row_are_not_found_on_every_route(client, make_org):
    """Every integer path id, on every route, with ids no row can have: 404 (the API's problem, the console's
    page), the same code as for a missing row; never a 5xx from a database refusing the number."""
    regulator = make_org("regulator")
    wrong = []
    for method, path, name, where, _ in int_parameters(client.app):
        if where != "path":
            continue
        for value in BEYOND:
            url = _url(client.app, path, method, name, where, value)
            response = _send(client, regulator, method, url, path)
            page = path.startswith("/regulator/")
            expected_type = "text/html" if page else PROBLEM
            if response.status_code != 404 or not response.headers["content-type"].startswith(expected_type):
                wrong.append(f"{method} {url}: {response.status_code} {response.text[:200]}")
            elif not page and not response.json()["code"].endswith("_not_found"):
                wrong.append(f"{method} {url}: code {response.json()['code']}")
    assert not wrong, "\n".join(wrong)


def test_query_values_beyond_their_column_are_invalid_on_every_route(client, make_org):
    """Every integer query parameter declares bounds its column can hold; a value outside them is 422, and no
    value (in bounds or not) is a 5xx."""
    regulator = make_org("regulator")
    wrong = []
    for method, path, name, where, info in int_parameters(client.app):
        if where != "query":
            continue
        low, high = _bound(info, "ge"), _bound(info, "le")
        if low is None or high is None or high > INT64_MAX:
            wrong.append(f"{method} {path}?{name}: unbounded ({low}..{high})")
            continue
        for value in (*BEYOND, high, high + 1, low - 1):
            url = _url(client.app, path, method, name, where, value)
            response = _send(client, regulator, method, url, path)
            outside = not low <= value <= high
            if response.status_code >= 500 or (outside and response.status_code != 422):
                wrong.append(f"{method} {url}: {response.status_code} {response.text[:200]}")
            elif outside and response.headers["content-type"] != PROBLEM:
                wrong.append(f"{method} {url}: {response.headers['content-type']}")
    assert not wrong, "\n".join(wrong)


def test_a_missing_row_and_an_impossible_id_answer_alike(client, maker):
    missing = client.get("/v1/batches/2147483647", headers=maker.headers)
    beyond = client.get("/v1/batches/2147483648", headers=maker.headers)
    assert missing.status_code == beyond.status_code == 404
    assert missing.json()["code"] == beyond.json()["code"] == "batch_not_found"
    assert beyond.json()["detail"] == "no batch 2147483648"


def test_a_malformed_path_id_is_invalid(client, maker):
    response = client.get("/v1/batches/twelve", headers=maker.headers)
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM


def test_the_console_alert_cursor_beyond_any_alert_is_invalid(client, make_org):
    regulator = make_org("regulator")
    cookie = {"Cookie": f"{COOKIE}={regulator.api_key}"}
    for before in ("9223372036854775808", "²", "-3", "0"):
        response = client.get(f"/regulator/alerts?before={before}", headers=cookie, follow_redirects=False)
        assert response.status_code == 422, (before, response.text[:300])
        assert "is not an alert id" in response.text
    assert client.get("/regulator/alerts?before=9223372036854775807", headers=cookie).status_code == 200


def test_an_undo_naming_an_impossible_event_is_invalid(client, maker):
    for event_id in (2**63, 0):
        response = client.post("/v1/events", json={"action": "undo", "event_id": event_id}, headers=maker.headers)
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == PROBLEM
        assert "event_id" in response.json()["detail"]


def test_the_openapi_document_gives_the_range_of_path_ids(client):
    parameters = client.get("/openapi.json").json()["paths"]["/v1/batches/{batch_id}"]["get"]["parameters"]
    schema = next(p["schema"] for p in parameters if p["name"] == "batch_id")
    assert (schema["minimum"], schema["maximum"]) == (1, 2**31 - 1)


# --- bodies -----------------------------------------------------------------------------------------------------

PRODUCT = {"gtin": GTIN, "name": "Paracetamol 500 mg", "category": "drug_otc"}
EPCIS = {"type": "EPCISDocument", "schemaVersion": "2.0", "creationDate": "2026-11-23T08:00:00Z"}
JSON_ROUTES = (
    ("/v1/products", "application/json"),  # parsed by FastAPI into a model
    ("/v1/events", "application/json"),  # parsed by FastAPI as any JSON, validated by the route
    ("/epcis/capture", "application/ld+json"),  # read as bytes by the route
)


def _post(client: TestClient, org: Org, path: str, media_type: str, content: bytes) -> httpx2.Response:
    return client.post(path, content=content, headers={**org.headers, "Content-Type": media_type})


def _problem(response: httpx2.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text[:500]
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["code"] == code and body["status"] == status
    return body


@pytest.mark.parametrize(("path", "media_type"), JSON_ROUTES)
def test_a_json_syntax_error_says_what_and_where(client, maker, path, media_type):
    text = '{"gtin": "09506000134352",\n "name": "Paracetamol" "category": "drug_otc"}'
    body = _problem(_post(client, maker, path, media_type, text.encode()), 422, "invalid_json")
    assert body["detail"] == "the body is not valid JSON: Expecting ',' delimiter at line 2 column 24"


@pytest.mark.parametrize(("path", "media_type"), JSON_ROUTES)
def test_a_body_that_is_not_utf8_says_which_byte(client, maker, path, media_type):
    content = b'{"name": "Parac\xe9tamol"}'
    body = _problem(_post(client, maker, path, media_type, content), 422, "invalid_json")
    assert body["detail"] == "the body is not valid UTF-8 (byte 0xe9 at position 15)"


@pytest.mark.parametrize(("path", "media_type"), JSON_ROUTES)
@pytest.mark.parametrize("depth", [10_000, 1_000])
def test_deeply_nested_json_is_refused(client, maker, path, media_type, depth):
    for content in ("[" * depth + "]" * depth, '{"a":' * depth + "1" + "}" * depth):
        body = _problem(_post(client, maker, path, media_type, content.encode()), 422, "invalid_json")
        assert "nested deeper than" in body["detail"]


def test_epcis_capture_refuses_nesting_the_parser_could_take(client, maker):
    """Below the interpreter's recursion limit a hand-read body is still refused past 100 levels, before schema
    validation or hashing could recurse through it."""
    deep: Any = "x"
    for _ in range(300):
        deep = {"example:deeper": deep}
    document = {**EPCIS, "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"]}
    document["epcisBody"] = {"eventList": [{"type": "ObjectEvent", "example:ext": deep}]}
    response = _post(client, maker, "/epcis/capture", "application/json", json.dumps(document).encode())
    assert "nested deeper than 100 levels" in _problem(response, 422, "invalid_json")["detail"]


def test_a_huge_integer_in_json_is_invalid_not_a_parse_failure(client, maker):
    content = b'{"gtin": ' + b"9" * 5000 + b"}"
    body = _problem(_post(client, maker, "/v1/products", "application/json", content), 422, "invalid_json")
    assert "the body is not valid JSON" in body["detail"]


# --- body limits ------------------------------------------------------------------------------------------------


@pytest.fixture
def small_limits(database_url: str) -> Iterator[FastAPI]:
    settings = settings_for(
        database_url, max_body_bytes=LIMIT, max_event_body_bytes=LIMIT, epcis_capture_max_bytes=LIMIT
    )
    runtime = Runtime.start(settings)
    try:
        yield create_app(settings, runtime)
    finally:
        runtime.close()


def _chunks(total: int) -> Iterator[bytes]:
    """A JSON body of ``total`` bytes, sent in chunks with no Content-Length (chunked transfer encoding)."""
    yield b'{"name": "'
    for _ in range((total - 12) // 100):
        yield b"x" * 100
    yield b'"}'


@pytest.mark.parametrize("path", ["/v1/products", "/v1/events", "/epcis/capture"])
def test_a_chunked_body_over_the_limit_is_too_large(small_limits, make_org, path):
    maker = make_org("manufacturer", "drug_manufacturing")
    with serving(small_limits) as url, httpx2.Client(base_url=url, timeout=30) as http:
        headers = {**maker.headers, "Content-Type": "application/json"}
        request = http.build_request("POST", path, content=_chunks(LIMIT * 50), headers=headers)
        assert "content-length" not in request.headers and request.headers["transfer-encoding"] == "chunked"
        body = _problem(http.send(request), 413, "payload_too_large")
        assert f"limited to {LIMIT} bytes" in body["detail"]
        # The connection is still usable, and a small chunked body is read as usual.
        small = http.post(path, content=iter([b"{", b"}"]), headers=headers)
        assert small.status_code in (201, 202, 409, 422), small.text


@pytest.mark.parametrize("path", ["/v1/products", "/v1/events", "/epcis/capture"])
def test_a_body_over_the_limit_is_too_large_with_or_without_length(small_limits, make_org, path):
    maker = make_org("manufacturer", "drug_manufacturing")
    headers = {**maker.headers, "Content-Type": "application/json"}
    with TestClient(small_limits) as client:
        declared = client.post(path, content=b"".join(_chunks(LIMIT + 100)), headers=headers)
        _problem(declared, 413, "payload_too_large")
        streamed = client.post(path, content=_chunks(LIMIT + 100), headers=headers)
        _problem(streamed, 413, "payload_too_large")
        exact = client.post(path, content=b"[" + b" " * (LIMIT - 2) + b"]", headers=headers)
        assert exact.status_code != 413


def test_an_epcis_page_token_nested_10000_deep_is_invalid(client, maker):
    token = base64.urlsafe_b64encode(b"[" * 10_000 + b"]" * 10_000).decode().rstrip("=")
    response = client.get(f"/epcis/events?nextPageToken={token}", headers=maker.headers)
    assert "nextPageToken" in _problem(response, 400, "invalid_query_parameter")["detail"]
