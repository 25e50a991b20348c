"""EPCIS 2.0 named queries: ``POST /epcis/queries``, ``GET /epcis/queries[/{name}]``, ``DELETE
/epcis/queries/{name}`` and ``GET /epcis/queries/{name}/events`` (the REST binding's ``/queries``), per organisation."""

from __future__ import annotations

from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from app.api.deps import PrincipalDep, RuntimeDep, SessionDep
from app.api.problems import KEYED_PROBLEMS, problem_responses
from app.api.schemas import EPCIS_VERSION_HEADERS, NamedQueryIn
from app.services.clock import utcnow
from app.services.epcis import named

router = APIRouter(prefix="/epcis/queries", tags=["epcis"], responses={**KEYED_PROBLEMS, **problem_responses(400)})


@router.post("", status_code=201)
def create_query(body: NamedQueryIn, principal: PrincipalDep, session: SessionDep) -> JSONResponse:
    """Keep a query under a name (409 ``query_exists`` if the organisation has one by that name); its
    parameters are checked as ``GET /epcis/events`` checks them (400 QueryParameterException)."""
    definition = named.create_query(session, principal, body.name, body.query, now=utcnow())
    headers = {**EPCIS_VERSION_HEADERS, "Location": f"/epcis/queries/{quote(body.name, safe='')}"}
    return JSONResponse(definition, status_code=201, headers=headers)


@router.get("")
def list_queries(principal: PrincipalDep, session: SessionDep) -> JSONResponse:
    return JSONResponse(named.list_queries(session, principal), headers=EPCIS_VERSION_HEADERS)


@router.get("/{name}")
def get_query(name: str, principal: PrincipalDep, session: SessionDep) -> JSONResponse:
    return JSONResponse(named.get_query(session, principal, name), headers=EPCIS_VERSION_HEADERS)


@router.delete("/{name}", status_code=204)
def delete_query(name: str, principal: PrincipalDep, session: SessionDep) -> Response:
    named.delete_query(session, principal, name, now=utcnow())
    return Response(status_code=204, headers=EPCIS_VERSION_HEADERS)


@router.get("/{name}/events")
def query_events(
    name: str, request: Request, principal: PrincipalDep, session: SessionDep, runtime: RuntimeDep
) -> JSONResponse:
    """The named query's events, paged like ``GET /epcis/events`` (``perPage``, ``nextPageToken``, ``Link``)."""
    paging = request.query_params.multi_items()
    page = named.run_query(session, principal, name, paging, base_url=runtime.settings.base_url, now=utcnow())
    headers = dict(EPCIS_VERSION_HEADERS)
    if page.next_token is not None:
        kept = [(k, v) for k, v in paging if k != "nextPageToken"] + [("nextPageToken", page.next_token)]
        headers["Link"] = f'<{request.url.replace(query=urlencode(kept, quote_via=quote))}>; rel="next"'
    return JSONResponse(page.document, headers=headers)
