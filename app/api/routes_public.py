"""Public verification at the GS1 Digital Link paths: JSON for machines, a readable page for people."""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response

from app.api.problems import PROBLEM_MEDIA_TYPE, PROBLEM_SCHEMA, domain_problem, status_of
from app.domain.errors import DomainError, InvalidCode
from app.domain.identifiers import ContainerCode, parse_digital_link_path
from app.services.clock import utcnow
from app.services.runtime import Runtime
from app.services.scans import Observation
from app.web.pages import choose_language, render_verification

_VARY = {"Vary": "Accept, Accept-Language"}  # one URL, several representations: caches must keep them apart


def _position(request: Request) -> tuple[float | None, float | None]:
    """Where a scanning app says it is (optional ``lat``/``lon`` query parameters, degrees); else unknown."""
    if b"lat=" not in request.scope["query_string"]:  # most scans: no need to parse the query again
        return None, None
    try:
        lat, lon = float(request.query_params["lat"]), float(request.query_params["lon"])
    except (KeyError, ValueError):
        return None, None
    return (lat, lon) if -90 <= lat <= 90 and -180 <= lon <= 180 else (None, None)


def _wants_html(accept: str) -> bool:
    accept = accept.lower()
    return "text/html" in accept and "application/json" not in accept


def _page_url(request: Request) -> str:
    """The URL as requested (still percent-encoded), so the page's language links keep the code intact."""
    path = (request.scope.get("raw_path") or request.url.path.encode()).decode("latin-1")
    query = request.scope["query_string"].decode("latin-1")
    return f"{path}?{query}" if query else path


async def verify_unit(request: Request) -> Response:
    """Verify a scanned unit code (GS1 Digital Link)."""
    runtime: Runtime = request.app.state.runtime
    html = _wants_html(request.headers.get("accept", ""))
    lang = choose_language(request.headers.get("accept-language"), request.query_params.get("lang")) if html else ""
    address = request.client.host if request.client else "unknown"
    try:
        await request.app.state.verify_limiter.check(address)
        raw_path = request.scope.get("raw_path") or request.url.path.encode()
        scan = parse_digital_link_path(raw_path.decode("latin-1"), request.scope["query_string"].decode("latin-1"))
        if isinstance(scan, ContainerCode):  # pragma: no cover - the route only matches /01/
            raise InvalidCode("an SSCC is not a unit code")
    except DomainError as error:
        if html:
            page = render_verification(None, error, lang, _page_url(request))
            headers = {"Retry-After": str(error.extra["retry_after"])} if "retry_after" in error.extra else None
            return HTMLResponse(page, status_code=status_of(error), headers=headers)
        return domain_problem(error)
    result = await runtime.verifier.verify(scan)
    lat, lon = _position(request)
    runtime.scans.observe(
        Observation(
            scan.gtin,
            scan.serial,
            result.verdict.verdict,
            result.verdict.reasons,
            runtime.scans.client_id(address),
            utcnow(),
            result.unit_id,
            lat,
            lon,
        )
    )
    if html:
        page = HTMLResponse(render_verification(result, None, lang, _page_url(request)), headers=_VARY)
        return page
    return Response(json.dumps(result.as_json()), media_type="application/json", headers=_VARY)


def _verification_operation(path_parameters: list[str]) -> dict[str, Any]:
    """The route as the OpenAPI document describes it (the contract's "Public verification")."""
    in_path = [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}} for name in path_parameters]
    in_query = [
        {"name": name, "in": "query", "required": False, "schema": {"type": "string"}, "description": text}
        for name, text in (
            ("17", "Expiry date (YYMMDD), as the code carries it"),
            ("8030", "The signature, as the code carries it"),
            ("lat", "Where the scan happened (degrees), optional"),
            ("lon", "Where the scan happened (degrees), optional"),
        )
    ]
    problem = {PROBLEM_MEDIA_TYPE: {"schema": PROBLEM_SCHEMA}, "text/html": {"schema": {"type": "string"}}}
    return {
        "get": {
            "tags": ["verification"],
            "summary": "Verify a scanned unit code (GS1 Digital Link)",
            "description": "JSON for machines; a readable page for a browser (`Accept: text/html`).",
            "operationId": "verify_unit_" + "_".join(path_parameters),
            "parameters": in_path + in_query,
            "responses": {
                "200": {
                    "description": "The verdict",
                    "content": {"application/json": {"schema": {"type": "object"}}, "text/html": {}},
                },
                "404": {"description": "No such path (a control character in it)", "content": problem},
                "422": {"description": "Not a unit code", "content": problem},
                "429": {"description": "Too many scans from this client", "content": problem},
            },
        }
    }


_VERIFICATION_PATHS = {
    "/01/{gtin}/21/{serial}": _verification_operation(["gtin", "serial"]),
    "/01/{gtin}/10/{lot}/21/{serial}": _verification_operation(["gtin", "lot", "serial"]),
}


def install(app: FastAPI) -> None:
    """The hottest path, as a plain Starlette route on the application's own router, tried before the API's routes.

    FastAPI's route machinery (dependency solving, telemetry hooks, and matching twice inside an included router)
    cost about a sixth of a scan, and this route uses none of it: it reads the raw request and answers with its
    own problem documents. FastAPI does not document such a route, so its two forms are added to the document here.
    """
    app.router.add_route("/01/{rest:path}", verify_unit, methods=["GET"], name="verify_unit", include_in_schema=False)
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = generate()
            document["paths"] = {**_VERIFICATION_PATHS, **document["paths"]}
        return app.openapi_schema or document

    app.openapi = openapi  # type: ignore[method-assign]
