"""The partner answer on a unit's Digital Link: ``linkType=gs1:verificationService`` with a Bearer key.

``routes_public`` hands such a request here before it parses the code, so a malformed code or one of another
scheme still gets the LMS answer shape (``verified: false``), never a problem document or a 5xx.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response

from app.domain.errors import InvalidCode
from app.domain.identifiers import UnitCode, parse_scan_path
from app.domain.resolver import LinkType, normalised_link_type
from app.services.partner_verification import PartnerRequest, correlation_of, parse_context
from app.services.runtime import Runtime


def asks_partner_answer(request: Request) -> bool:
    link_type = request.query_params.get("linkType")
    return (
        link_type is not None
        and "authorization" in request.headers
        and normalised_link_type(link_type) == LinkType.VERIFICATION_SERVICE
    )


async def partner_answer(request: Request, path: str, query: str, token: str) -> Response:
    """Raises DomainError for the requester's own mistakes (key, context, correlation UUID, licence, oracle guard)."""
    runtime: Runtime = request.app.state.runtime
    params = request.query_params
    context = parse_context(params.get("context"))
    correlation = correlation_of(params.get("correlationUUID"))
    scan: UnitCode | None = None
    error = None
    try:
        parsed = parse_scan_path(path, query)
    except InvalidCode as refused:
        error = refused.detail
    else:
        if isinstance(parsed, UnitCode):
            scan = parsed
        else:
            error = "not a unit: the Digital Link names no serial (/21/)"
    asked = PartnerRequest(path, query, scan, context, correlation, error)
    verification = await runtime.verifier.verify(scan) if scan is not None else None
    body = await runtime.partner_desk.answer(token, asked, verification)
    return Response(body, media_type="application/json", headers={"Cache-Control": "no-store"})
