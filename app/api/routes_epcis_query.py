"""EPCIS 2.0 query interface: ``GET /epcis/events`` and ``GET /epcis/events/{eventID}``.

JSON-LD by default; EPCIS XML when the client prefers ``application/xml`` or ``text/xml`` (2.0, or 1.2 when it
asks with ``GS1-EPCIS-Version: 1.2``), written by :mod:`app.services.epcis.xml_out` from the same document.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from app.api.deps import PrincipalDep, RuntimeDep, SessionDep
from app.api.problems import KEYED_PROBLEMS, problem_responses
from app.api.schemas import EPCIS_VERSION_HEADERS
from app.domain.errors import NotAcceptable
from app.services.clock import utcnow
from app.services.epcis import query as epcis_query
from app.services.epcis import xml_out

# 400: the standard's QueryParameterException; 413 (in KEYED_PROBLEMS) also its QueryTooLargeException
router = APIRouter(prefix="/epcis", tags=["epcis"], responses={**KEYED_PROBLEMS, **problem_responses(400, 406)})

XML_MEDIA_TYPES = ("application/xml", "text/xml")
XML_VERSIONS = {"": "2.0", "2": "2.0", "2.0": "2.0", "2.0.0": "2.0", "1.2": "1.2", "1.2.0": "1.2"}
_XML_ANSWER: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/xml": {"schema": {"type": "string", "description": "EPCISQueryDocument (XML)"}}}}
}


def _xml_media_type(request: Request) -> str | None:
    """The XML media type the client prefers to JSON (RFC 9110 §12.5.1: highest q, then first listed), if any."""
    best: tuple[float, int, str] | None = None
    for position, part in enumerate(request.headers.get("accept", "").split(",")):
        media_type, *params = (p.strip() for p in part.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality > 0 and (best is None or (quality, -position) > (best[0], best[1])):
            best = (quality, -position, media_type.lower())
    return best[2] if best is not None and best[2] in XML_MEDIA_TYPES else None


def _answer(request: Request, document: dict[str, Any], base_url: str, headers: dict[str, str]) -> Response:
    media_type = _xml_media_type(request)
    if media_type is None:
        return JSONResponse(document, headers=headers)
    asked = request.headers.get("gs1-epcis-version", "").strip()
    version = XML_VERSIONS.get(asked)
    if version is None:
        raise NotAcceptable(
            f"EPCIS version {asked!r} is not written here: ask for 2.0 (the default) or 1.2", code="unsupported_version"
        )
    body = xml_out.query_document_xml(document, version=version, base_url=base_url)
    headers = {**headers, "GS1-EPCIS-Version": f"{version}.0"}
    return Response(body, media_type=f"{media_type}; charset=utf-8", headers=headers)


@router.get("/events", responses=_XML_ANSWER)
def get_events(request: Request, principal: PrincipalDep, session: SessionDep, runtime: RuntimeDep) -> Response:
    """The standard SimpleEventQuery parameters (values separated by ``|``), ``perPage`` (default 30, at most
    1,000) and ``nextPageToken``; the next page is announced in ``Link: <...>; rel="next"``."""
    params = request.query_params.multi_items()
    page = epcis_query.query_events(session, principal, params, base_url=runtime.settings.base_url, now=utcnow())
    headers = dict(EPCIS_VERSION_HEADERS)
    if page.next_token is not None:
        kept = [(k, v) for k, v in params if k != "nextPageToken"] + [("nextPageToken", page.next_token)]
        url = request.url.replace(query=urlencode(kept, quote_via=quote))
        headers["Link"] = f'<{url}>; rel="next"'
    return _answer(request, page.document, runtime.settings.base_url, headers)


@router.get("/events/{event_id:path}", responses=_XML_ANSWER)
def get_event(
    event_id: str, request: Request, principal: PrincipalDep, session: SessionDep, runtime: RuntimeDep
) -> Response:
    """One event (its eventID percent-encoded in the path) and the error declarations about it."""
    if request.url.query and event_id.startswith("ni:"):
        # An event hash sent with its "?ver=CBV2.0" unencoded arrives split into path and query.
        event_id = f"{event_id}?{request.url.query}"
    document = epcis_query.event_by_id(session, principal, event_id, base_url=runtime.settings.base_url, now=utcnow())
    return _answer(request, document, runtime.settings.base_url, dict(EPCIS_VERSION_HEADERS))
