"""Public verification at the GS1 Digital Link paths: JSON for machines, a readable page for people."""

from __future__ import annotations

import json
from typing import Any

import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.types import Receive, Scope, Send

from app.api.partner_answers import asks_partner_answer, partner_answer
from app.api.problems import PROBLEM_MEDIA_TYPE, PROBLEM_SCHEMA, domain_problem, status_of
from app.domain.cn_code import CnCode
from app.domain.dl_compression import decompress, is_compressed, uncompressed
from app.domain.errors import DomainError, InvalidCode, NotAuthenticated, NotFound
from app.domain.identifiers import ProductCode, UnitCode, parse_scan_path
from app.domain.resolver import (
    ALL,
    LINKSET_MEDIA_TYPE,
    Link,
    LinkType,
    choose,
    description,
    linkset,
    maker_links,
    normalised_link_type,
    own_links,
)
from app.domain.verdict import SignatureState, Verdict, VerdictKind
from app.services.clock import today, utcnow
from app.services.cn_codes import sales_of, scan_target
from app.services.cn_packages import PackageScan, package_scan
from app.services.passport_scans import ProductScan, reader_of, scan_product, unit_passport
from app.services.runtime import Runtime
from app.services.scans import Observation
from app.services.verification import Verification
from app.web.package_pages import render_package_scan
from app.web.pages import choose_language, render_verification
from app.web.passport_pages import render_product_scan

# One URL, several representations (and a key shows more of the passport): caches must keep them apart.
_VARY = {"Vary": "Accept, Accept-Language, Authorization"}
MIN_COMPRESSED = 10  # the shortest compressed link (a GTIN alone) is 10 characters


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


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotAuthenticated("the Authorization header must be 'Bearer <api key>'", code="invalid_api_key")
    return token.strip()


def _refusal(error: DomainError, html: bool, lang: str, request: Request) -> Response:
    if html:
        page = render_verification(None, error, lang, _page_url(request))
        headers = {"Retry-After": str(error.extra["retry_after"])} if "retry_after" in error.extra else None
        return HTMLResponse(page, status_code=status_of(error), headers=headers)
    return domain_problem(error)


async def verify_unit(request: Request) -> Response:
    """Answer a scanned GS1 Digital Link: a unit's verdict, or a product's or a lot's (with the passport)."""
    raw_path = (request.scope.get("raw_path") or request.url.path.encode()).decode("latin-1")
    return await _scan(request, raw_path, request.scope["query_string"].decode("latin-1"), None)


async def scan_compressed(request: Request) -> Response:
    """A compressed GS1 Digital Link (one base64 path segment): decompressed, then answered as the same path."""
    segment = request.path_params["segment"]
    try:
        if len(segment) < MIN_COMPRESSED or not is_compressed(segment):
            raise InvalidCode("not a compressed GS1 Digital Link")
        path, query = uncompressed(*decompress(segment))
    except InvalidCode as error:
        return domain_problem(NotFound(f"no such page, nor a compressed GS1 Digital Link: {error.detail}"))
    asked = request.scope["query_string"].decode("latin-1")
    base = request.app.state.runtime.settings.base_url
    same_as = f"{base}{path}" + (f"?{query}" if query else "")
    return await _scan(request, path, "&".join(part for part in (query, asked) if part), same_as)


async def scan_anything(request: Request) -> Response:
    """``GET /cn/{code}`` and ``GET /v1/scan?code=``: whatever a scanner read (a 20-digit drug traceability code,
    a Digital Link, an element string with or without brackets, symbology prefix or GS), answered as the Digital
    Link it names, with the code's sales (how often it was sold, as the national insurance app shows)."""
    runtime: Runtime = request.app.state.runtime
    text = request.path_params.get("code") or request.query_params.get("code") or ""
    try:
        target = await anyio.to_thread.run_sync(_scan_target, runtime, text)
    except DomainError as error:
        html = _wants_html(request.headers.get("accept", ""))
        lang = choose_language(request.headers.get("accept-language"), request.query_params.get("lang")) if html else ""
        return _refusal(error, html, lang, request)
    if isinstance(target, PackageScan):  # a box or case code an import registered (docs/cn-drug-codes.md)
        return await _package_answer(request, target)
    if isinstance(target, CnCode):  # no product carries its prefix: a unit nobody registered here
        scan = UnitCode(gtin="", serial=target.code)
        unknown = Verification(scan, Verdict(VerdictKind.UNKNOWN, SignatureState.ABSENT, ("unknown_cn_drug_id",)), None)
        return await _scan(request, "", "", None, sales=True, known=unknown)
    path, query = target
    base = runtime.settings.base_url
    return await _scan(request, path, query, f"{base}{path}" + (f"?{query}" if query else ""), sales=True)


def _scan_target(runtime: Runtime, text: str) -> tuple[str, str] | CnCode | PackageScan:
    with runtime.sessions() as session, session.begin():
        return package_scan(session, text, today()) or scan_target(session, text)


async def _package_answer(request: Request, package: PackageScan) -> Response:
    """A package's verdict, JSON or the zh/en page; counted against the client's scans like any scan."""
    html = _wants_html(request.headers.get("accept", ""))
    lang = choose_language(request.headers.get("accept-language"), request.query_params.get("lang")) if html else ""
    try:
        await request.app.state.verify_limiter.check(request.client.host if request.client else "unknown")
    except DomainError as error:
        return _refusal(error, html, lang, request)
    body = package.as_json()
    if html:
        return HTMLResponse(render_package_scan(body, lang, _page_url(request)), headers=dict(_VARY))
    return Response(json.dumps(body), media_type="application/json", headers=dict(_VARY))


def _sales(runtime: Runtime, unit_id: int | None) -> dict[str, object]:
    with runtime.sessions() as session, session.begin():
        return sales_of(session, unit_id)


async def _scan(
    request: Request, path: str, query: str, same_as: str | None, *, sales: bool = False,
    known: Verification | None = None,
) -> Response:  # fmt: skip
    runtime: Runtime = request.app.state.runtime
    accept = request.headers.get("accept", "")
    html = _wants_html(accept)
    lang = choose_language(request.headers.get("accept-language"), request.query_params.get("lang")) if html else ""
    address = request.client.host if request.client else "unknown"
    try:
        await request.app.state.verify_limiter.check(address)
        if known is None and asks_partner_answer(request):  # a trading partner's (docs/partner-verification.md)
            partner_token = _bearer(request)
            if partner_token is not None:
                return await partner_answer(request, path, query, partner_token)
        scan = known.scan if known is not None else parse_scan_path(path, query)
        token = _bearer(request)
    except DomainError as error:
        return _refusal(error, html, lang, request)
    if isinstance(scan, ProductCode):
        try:
            # A consumer's scan answers from one lookup on the event loop; a key's (or a recall's) reads in a session.
            product = await runtime.passport_scans.scan_product(scan, today()) if token is None else None
            if product is None:
                product = await anyio.to_thread.run_sync(_read_product, runtime, scan, token)
        except DomainError as error:
            return _refusal(error, html, lang, request)
        body, passport = product.as_json(), product.passport
        unit = None
    else:
        result = known if known is not None else await runtime.verifier.verify(scan)
        lat, lon = _position(request)
        runtime.scans.observe(
            Observation(
                scan.gtin,
                scan.serial,
                result.verdict.kind.value,
                result.verdict.reasons,
                runtime.scans.client_id(address),
                utcnow(),
                result.unit_id,
                lat,
                lon,
            )
        )
        passport = None
        if token is None:
            if result.row is not None and result.row.product_has_passport:
                passport = await runtime.passport_scans.unit_passport(scan.gtin, scan.serial, today())
        else:
            try:
                passport = await anyio.to_thread.run_sync(_read_unit_passport, runtime, result, token)
            except DomainError as error:
                return _refusal(error, html, lang, request)
        body = result.as_json()
        body["passport"] = passport
        if sales:
            body["sales"] = await anyio.to_thread.run_sync(_sales, runtime, result.unit_id)
        unit = result
    headers = dict(_VARY)
    canonical = same_as or f"{runtime.settings.base_url}{path}"
    anchor = canonical.partition("?")[0]
    headers["Link"] = f'<{anchor}?linkType=all>; rel="linkset"; type="{LINKSET_MEDIA_TYPE}"'
    if same_as:
        headers["Link"] += f', <{same_as}>; rel="owl:sameAs"'
    makers = maker_links(passport)
    links = [*makers, *own_links(anchor, has_passport=passport is not None, unit=unit is not None)]
    link_type = request.query_params.get("linkType")
    if link_type is not None or LINKSET_MEDIA_TYPE in accept.lower():
        answered = _resolve(request, link_type, makers, links, anchor, body, headers)
        if answered is not None:
            return answered
    if html:
        if unit is not None:
            page = render_verification(unit, None, lang, _page_url(request), passport, body.get("sales"))
            return HTMLResponse(page, headers=headers)
        return HTMLResponse(render_product_scan(body, lang, _page_url(request)), headers=headers)
    return Response(json.dumps(body), media_type="application/json", headers=headers)


def _read_product(runtime: Runtime, scan: ProductCode, token: str | None) -> ProductScan:
    with runtime.sessions() as session, session.begin():
        return scan_product(session, scan, reader_of(session, token), today())


def _read_unit_passport(runtime: Runtime, result: Verification, token: str | None) -> dict[str, Any] | None:
    with runtime.sessions() as session, session.begin():
        reader = reader_of(session, token)
        row = result.row
        if row is None or not row.product_has_passport:
            return None
        return unit_passport(session, result.scan.gtin, row.lot, result.scan.serial, reader, today())


def _resolve(
    request: Request,
    link_type: str | None,
    makers: list[Link],
    links: list[Link],
    anchor: str,
    body: dict[str, Any],
    headers: dict[str, str],
) -> Response | None:
    """GS1 resolver behaviour: a linkset, a redirect to the link asked for, its data, or None for the usual answer."""
    wanted = normalised_link_type(link_type) if link_type else ALL
    if wanted == ALL:
        return Response(json.dumps(linkset(anchor, links)), media_type=LINKSET_MEDIA_TYPE, headers=headers)
    languages = [part.split(";")[0].strip() for part in request.headers.get("accept-language", "").split(",")]
    maker = choose(makers, wanted, languages)
    if maker is not None:
        return RedirectResponse(maker.href, status_code=307, headers=headers)
    if wanted in (LinkType.PIP, LinkType.DEFAULT, LinkType.VERIFICATION_SERVICE):
        return None  # this service's own page (or JSON) is the link
    data = _linked_data(wanted, body)
    if data is not None:
        return Response(json.dumps(data), media_type="application/json", headers=headers)
    known = sorted({link.link_type for link in links})
    error = NotFound(f"no link of type {wanted} for this code; it has: {', '.join(known)}", code="no_such_link")
    return domain_problem(error)


def _linked_data(link_type: str, body: dict[str, Any]) -> dict[str, Any] | None:
    """The data this service answers itself for a link type the maker gave no link for."""
    passport = body.get("passport") or {}
    if link_type == LinkType.RECALL_STATUS:
        return {"verdict": body["verdict"], "recalled": body["verdict"] == "recalled", "recall": body.get("recall"),
                "recalled_lots": body.get("recalled_lots", [])}  # fmt: skip
    if link_type == LinkType.CERTIFICATION_INFO and "certifications" in passport:
        return {"certifications": passport["certifications"]}
    if link_type == LinkType.TRACEABILITY and "journey" in body:
        return {"verdict": body["verdict"], "journey": body["journey"]}
    return None


def resolver_description(request: Request) -> Response:
    """The GS1 resolver description file."""
    settings = request.app.state.runtime.settings
    return Response(json.dumps(description(settings.base_url, "Passport")), media_type="application/json")


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
            ("linkType", "GS1 resolver: the link wanted (gs1:pip, gs1:epil, ..., or all for the linkset)"),
            (
                "context",
                "With linkType=gs1:verificationService and a key: dscsaSaleableReturn, suspectOrIllegitimate "
                "or statusCheck (docs/partner-verification.md)",
            ),
            ("correlationUUID", "With linkType=gs1:verificationService and a key: echoed in the signed answer"),
        )
    ]
    problem = {PROBLEM_MEDIA_TYPE: {"schema": PROBLEM_SCHEMA}, "text/html": {"schema": {"type": "string"}}}
    return {
        "get": {
            "tags": ["verification"],
            "summary": "Answer a scanned GS1 Digital Link: a unit, a lot or a product",
            "description": "JSON for machines; a readable page for a browser (`Accept: text/html`).",
            "operationId": "verify_unit_" + "_".join(path_parameters),
            "parameters": in_path + in_query,
            "responses": {
                "200": {
                    "description": "The verdict",
                    "content": {
                        "application/json": {"schema": {"type": "object"}},
                        "text/html": {},
                        LINKSET_MEDIA_TYPE: {"schema": {"type": "object"}},
                    },
                },
                "307": {"description": "GS1 resolver: to the manufacturer's link of the type asked for"},
                "401": {"description": "A Bearer key that is not valid", "content": problem},
                "403": {
                    "description": "A partner verification of a drug without a licence valid today",
                    "content": problem,
                },
                "404": {"description": "No such path (a control character in it), or no such link", "content": problem},
                "422": {"description": "Not a GS1 Digital Link of a GTIN", "content": problem},
                "429": {"description": "Too many scans from this client", "content": problem},
            },
        }
    }


def _scan_operation(path_parameters: list[str]) -> dict[str, Any]:
    """``/cn/{code}`` and ``/v1/scan?code=``: the verification operation, for whatever a scanner read."""
    operation = _verification_operation(path_parameters)
    get = operation["get"]
    get["operationId"] = "scan_" + ("_".join(path_parameters) or "anything")
    get["summary"] = (
        "Answer whatever a scanner read: a 20-digit drug traceability code, a Digital Link, an element string"
    )
    get["description"] += (
        " The answer adds `sales`: `{count, first_at, region}`; a box or case code an import registered answers"
        " for its contents with `package`: `{code, level, units}` (docs/cn-drug-codes.md)."
    )
    if not path_parameters:
        code = {"name": "code", "in": "query", "required": True, "schema": {"type": "string"}}
        get["parameters"] = [{**code, "description": "The scanned text, as the scanner read it"}, *get["parameters"]]
    return operation


_VERIFICATION_PATHS = {
    "/01/{gtin}": _verification_operation(["gtin"]),
    "/01/{gtin}/10/{lot}": _verification_operation(["gtin", "lot"]),
    "/01/{gtin}/21/{serial}": _verification_operation(["gtin", "serial"]),
    "/01/{gtin}/10/{lot}/21/{serial}": _verification_operation(["gtin", "lot", "serial"]),
    "/cn/{code}": _scan_operation(["code"]),
    "/v1/scan": _scan_operation([]),
}


def install(app: FastAPI) -> None:
    """The hottest path, as a plain Starlette route on the application's own router, tried before the API's routes.

    FastAPI's route machinery (dependency solving, telemetry hooks, and matching twice inside an included router)
    cost about a sixth of a scan, and this route uses none of it: it reads the raw request and answers with its
    own problem documents. FastAPI does not document such a route, so its two forms are added to the document here.
    """
    app.router.add_route("/01/{rest:path}", verify_unit, methods=["GET"], name="verify_unit", include_in_schema=False)
    app.router.add_route("/cn/{code}", scan_anything, methods=["GET"], name="scan_cn", include_in_schema=False)
    app.router.add_route("/v1/scan", scan_anything, methods=["GET"], name="scan_anything", include_in_schema=False)
    app.router.add_route("/.well-known/gs1resolver", resolver_description, methods=["GET"], include_in_schema=False)
    not_found = app.router.default

    async def compressed_or_not_found(scope: Scope, receive: Receive, send: Send) -> None:
        """A compressed Digital Link is a one-segment path no route matched (so it never shadows a page)."""
        path = scope.get("path", "")
        if scope["type"] == "http" and scope.get("method") in ("GET", "HEAD") and path.count("/") == 1:
            segment = path[1:]
            if len(segment) >= MIN_COMPRESSED and is_compressed(segment):
                request = Request(scope, receive)
                request.scope["path_params"] = {"segment": segment}
                await (await scan_compressed(request))(scope, receive, send)
                return
        await not_found(scope, receive, send)

    app.router.default = compressed_or_not_found  # type: ignore[method-assign]
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = generate()
            document["paths"] = {**_VERIFICATION_PATHS, **document["paths"]}
        return app.openapi_schema or document

    app.openapi = openapi  # type: ignore[method-assign]
