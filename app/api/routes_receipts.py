"""Sale receipts: the buyer's check (``GET /r/{token}``, JSON or a zh/en page), the receipt's QR for a till, and a
seller's receipts of one of its sales (docs/receipts.md)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse

from app.api.deps import PrincipalDep, RuntimeDep, SessionDep
from app.api.ids import EventId
from app.api.problems import KEYED_PROBLEMS, PUBLIC_PROBLEMS, domain_problem, problem_responses
from app.domain.errors import DomainError, InvalidInput
from app.domain.receipts import key_tag_of
from app.services import log, printing, receipts
from app.services.runtime import Runtime
from app.web.pages import choose_language, render_verification
from app.web.receipt_pages import render_receipt

router = APIRouter(tags=["receipts"])

PNG = "image/png"
SVG = "image/svg+xml"
_VARY = {"Vary": "Accept, Accept-Language", "Cache-Control": "no-store"}  # a receipt's standing changes
_SVG_POLICY = "default-src 'none'; style-src 'unsafe-inline'"
ModulePx = Annotated[
    int, Query(ge=printing.MIN_MODULE_PX, le=printing.MAX_MODULE_PX, description="Module size in image pixels.")
]
_CHECK_DESCRIPTION = (
    "Whether the receipt is valid (else `reason`: malformed, wrong_type, unknown_key, bad_signature, bad_claims), "
    "what its sale stands as now (sold_once, returned, sold_again = suspect, dispensed_from_open_pack, undone, "
    "not_found) and the sale's leaf's inclusion proof against the newest checkpoint. JSON, or a zh/en page for "
    "`Accept: text/html`."
)


def _wants_html(request: Request) -> bool:
    accept = request.headers.get("accept", "").lower()  # as the scan pages negotiate (routes_public)
    return "text/html" in accept and "application/json" not in accept


def _page_url(request: Request) -> str:
    path = (request.scope.get("raw_path") or request.url.path.encode()).decode("latin-1")
    query = request.scope["query_string"].decode("latin-1")
    return f"{path}?{query}" if query else path


def _check(runtime: Runtime, token: str) -> dict[str, Any]:
    keys = runtime.keyring.public_keys(missing=key_tag_of(token))
    return receipts.check_now(runtime.sessions, token, keys, runtime.sign_checkpoint).as_json()


@router.get(
    "/r/{token}",
    responses={
        **PUBLIC_PROBLEMS,
        **problem_responses(429),
        200: {"description": _CHECK_DESCRIPTION, "content": {"text/html": {}}},
    },
)
async def check_receipt(request: Request, token: str) -> Response:
    """A buyer's receipt, checked: never a server error for a bad token (``valid: false`` with the reason)."""
    runtime: Runtime = request.app.state.runtime
    html = _wants_html(request)
    lang = choose_language(request.headers.get("accept-language"), request.query_params.get("lang")) if html else ""
    try:
        await request.app.state.verify_limiter.check(request.client.host if request.client else "unknown")
    except DomainError as error:
        if html:
            return HTMLResponse(render_verification(None, error, lang, _page_url(request)), status_code=429)
        return domain_problem(error)
    body = await anyio.to_thread.run_sync(_check, runtime, token)
    if html:
        return HTMLResponse(render_receipt(body, lang, _page_url(request)), headers=_VARY)
    return Response(json.dumps(body), media_type="application/json", headers=_VARY)


def _valid_uri(runtime: Runtime, token: str) -> str:
    """The receipt's URL, for a token that is a valid receipt (the QR endpoints draw nothing else)."""
    keys = runtime.keyring.public_keys(missing=key_tag_of(token))
    with runtime.sessions() as session, session.begin():
        found = receipts.check_receipt(session, token, keys)
    if found.invalid is not None:
        raise InvalidInput(f"not a valid receipt: {found.invalid.detail}", code="invalid_receipt")
    return f"{runtime.settings.base_url}/r/{token}"


def _qr_headers(svg: bool) -> dict[str, str]:
    headers = {"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"}
    if svg:
        headers["Content-Security-Policy"] = _SVG_POLICY
    return headers


@router.get(
    "/r/{token}/qr.png",
    response_class=Response,
    responses={**PUBLIC_PROBLEMS, 200: {"content": {PNG: {}}, "description": "The receipt's URL as a QR Code"}},
)
def receipt_qr_png(token: str, runtime: RuntimeDep, size: ModulePx = printing.DEFAULT_MODULE_PX) -> Response:
    """For a till: the QR Code of ``/r/{token}``, to print on the buyer's receipt."""
    return Response(
        printing.render_png(_valid_uri(runtime, token), module_px=size), media_type=PNG, headers=_qr_headers(False)
    )


@router.get(
    "/r/{token}/qr.svg",
    response_class=Response,
    responses={**PUBLIC_PROBLEMS, 200: {"content": {SVG: {}}, "description": "The receipt's URL as a QR Code"}},
)
def receipt_qr_svg(token: str, runtime: RuntimeDep) -> Response:
    return Response(printing.render_uri_svg(_valid_uri(runtime, token)), media_type=SVG, headers=_qr_headers(True))


@router.get("/v1/events/{event_id}/receipts", responses=KEYED_PROBLEMS)
def get_event_receipts(
    event_id: EventId, principal: PrincipalDep, session: SessionDep, runtime: RuntimeDep
) -> dict[str, Any]:
    """The receipts of one of the caller's sales or dispensings, however it was recorded (an EPCIS capture's
    sale, a till asking again): the same tokens the sale's answer carried, while the signing key is the same."""
    signer = runtime.keyring.current_signer(session)
    issued = receipts.event_receipts(
        session, principal, event_id, signer, runtime.settings.base_url, lambda: log.integrate(runtime.engine)
    )
    return {"event_id": event_id, "receipts": issued}
