"""The partner answer on a unit's Digital Link: ``linkType=gs1:verificationService`` with a Bearer key.

``routes_public`` hands such a request here before it parses the code, so a malformed code or one of another
scheme still gets the LMS answer shape (``verified: false``), never a problem document or a 5xx.
"""

from __future__ import annotations

import json
from typing import Any

import anyio.to_thread
from fastapi import Request
from fastapi.responses import Response

from app.db.engine import WRITE_OPTIONS
from app.domain.errors import InvalidCode, RateLimited
from app.domain.identifiers import UnitCode, parse_scan_path
from app.domain.resolver import LinkType, normalised_link_type
from app.services.clock import utcnow
from app.services.orgs import authenticate
from app.services.partner_verification import (
    PartnerRequest,
    correlation_of,
    parse_context,
    verify_for_partner,
)
from app.services.runtime import Runtime
from app.services.verification import Verification


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
    body = await anyio.to_thread.run_sync(_answer, runtime, asked, verification, token)
    return Response(json.dumps(body), media_type="application/json", headers={"Cache-Control": "no-store"})


def _answer(runtime: Runtime, asked: PartnerRequest, verification: Verification | None, token: str) -> dict[str, Any]:
    refused: RateLimited | None = None
    with runtime.sessions() as session:
        with session.begin():
            session.connection(execution_options=WRITE_OPTIONS)
            principal = authenticate(session, token)
            try:
                return verify_for_partner(
                    session,
                    principal=principal,
                    request=asked,
                    verification=verification,
                    signer=runtime.keyring.current_signer(session),
                    now=utcnow(),
                    responder_url=runtime.settings.base_url,
                    unheld_per_hour=runtime.settings.partner_unheld_per_hour,
                )
            except RateLimited as error:
                refused = error  # the alert it raised is committed with this transaction
        assert refused is not None
        raise refused
