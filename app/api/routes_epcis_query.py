"""EPCIS 2.0 query interface: ``GET /epcis/events`` and ``GET /epcis/events/{eventID}``."""

from __future__ import annotations

from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from app.api.deps import PrincipalDep, RuntimeDep, SessionDep
from app.api.problems import KEYED_PROBLEMS
from app.api.schemas import EPCIS_VERSION_HEADERS
from app.services.clock import utcnow
from app.services.epcis import query as epcis_query

router = APIRouter(prefix="/epcis", tags=["epcis"], responses=KEYED_PROBLEMS)


@router.get("/events")
def get_events(request: Request, principal: PrincipalDep, session: SessionDep, runtime: RuntimeDep) -> JSONResponse:
    """The standard SimpleEventQuery parameters (values separated by ``|``), ``perPage`` (default 30, at most
    1,000) and ``nextPageToken``; the next page is announced in ``Link: <...>; rel="next"``."""
    params = request.query_params.multi_items()
    page = epcis_query.query_events(session, principal, params, base_url=runtime.settings.base_url, now=utcnow())
    headers = dict(EPCIS_VERSION_HEADERS)
    if page.next_token is not None:
        kept = [(k, v) for k, v in params if k != "nextPageToken"] + [("nextPageToken", page.next_token)]
        url = request.url.replace(query=urlencode(kept, quote_via=quote))
        headers["Link"] = f'<{url}>; rel="next"'
    return JSONResponse(page.document, headers=headers)


@router.get("/events/{event_id:path}")
def get_event(
    event_id: str, request: Request, principal: PrincipalDep, session: SessionDep, runtime: RuntimeDep
) -> JSONResponse:
    """One event (its eventID percent-encoded in the path) and the error declarations about it."""
    if request.url.query and event_id.startswith("ni:"):
        # An event hash sent with its "?ver=CBV2.0" unencoded arrives split into path and query.
        event_id = f"{event_id}?{request.url.query}"
    document = epcis_query.event_by_id(session, principal, event_id, base_url=runtime.settings.base_url, now=utcnow())
    return JSONResponse(document, headers=EPCIS_VERSION_HEADERS)
