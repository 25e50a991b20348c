"""EPCIS 2.0 capture interface: ``POST /epcis/capture`` (202 and a capture job), the jobs, and discovery.

The document is checked as a whole before the 202 (JSON, document type, size and count limits, the header
against the schema); its events are captured after the response, in a job whose status says, per event,
what was captured and what was wrong.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from fastapi import APIRouter, BackgroundTasks, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from app.api.deps import PrincipalDep, RuntimeDep, SessionDep, custody_policy
from app.api.problems import KEYED_PROBLEMS, PUBLIC_PROBLEMS, problem_responses
from app.api.schemas import EPCIS_VERSION_HEADERS
from app.domain.errors import InvalidInput, UnsupportedMediaType
from app.services.clock import utcnow
from app.services.epcis import jobs, run, xml_in

router = APIRouter(prefix="/epcis", tags=["epcis"], responses=PUBLIC_PROBLEMS)

MEDIA_TYPES = ("application/json", "application/ld+json")
XML_MEDIA_TYPES = ("application/xml", "text/xml")  # EPCIS 2.0 or 1.2 XML, read by app/services/epcis/xml_in.py

# The body as the OpenAPI document describes it: the route reads it by hand and checks the whole document (header
# and events) against the GS1 EPCIS 2.0 JSON Schema (app/services/epcis/schema/), which is too large to repeat here.
EPCIS_DOCUMENT_SCHEMA: dict[str, Any] = {
    "title": "EPCISDocument",
    "description": "An EPCIS 2.0 EPCISDocument or EPCISQueryDocument, checked against the GS1 EPCIS 2.0 JSON Schema.",
    "type": "object",
    "required": ["@context", "type", "schemaVersion", "creationDate"],
    "properties": {
        "@context": {},
        "type": {"enum": ["EPCISDocument", "EPCISQueryDocument"]},
        "schemaVersion": {"type": "string"},
        "creationDate": {"type": "string", "format": "date-time"},
        "epcisBody": {"type": "object"},
    },
}
_CAPTURE_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            **{media_type: {"schema": EPCIS_DOCUMENT_SCHEMA} for media_type in MEDIA_TYPES},
            **{
                media_type: {
                    "schema": {
                        "type": "string",
                        "description": "An EPCIS 2.0 or 1.2 XML EPCISDocument or EPCISQueryDocument, checked "
                        "against GS1's XML Schema of its version (no DTD, no entities).",
                    }
                }
                for media_type in XML_MEDIA_TYPES
            },
        },
    }
}


def _standard_headers(runtime: Any) -> dict[str, str]:
    settings = runtime.settings
    return {
        **EPCIS_VERSION_HEADERS,
        "GS1-EPCIS-Capture-Limit": str(settings.epcis_capture_limit),
        "GS1-EPCIS-Capture-File-Size-Limit": str(settings.epcis_capture_max_bytes),
        "GS1-Capture-Error-Behaviour": "rollback, proceed",
    }


@router.options("/capture", status_code=204, response_class=Response)
def capture_discovery(runtime: RuntimeDep) -> Response:
    """What this capture interface accepts: versions, limits and error behaviours."""
    headers = _standard_headers(runtime)
    headers["Allow"] = "OPTIONS, GET, POST"
    return Response(status_code=204, headers=headers)


@router.post(
    "/capture", status_code=202, responses={**KEYED_PROBLEMS, **problem_responses(415)}, openapi_extra=_CAPTURE_BODY
)
async def capture(
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
    runtime: RuntimeDep,
    background: BackgroundTasks,
) -> Response:
    """Capture an EPCISDocument or EPCISQueryDocument (JSON or JSON-LD; or XML, EPCIS 2.0 or 1.2)."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in MEDIA_TYPES + XML_MEDIA_TYPES:
        raise UnsupportedMediaType(
            "send the document as application/json, application/ld+json, application/xml or text/xml, "
            f"not {media_type or 'nothing'}"
        )
    raw = await request.body()
    xml = media_type in XML_MEDIA_TYPES
    if not raw:
        raise InvalidInput("the body is empty: send an EPCIS document", code="invalid_xml" if xml else "invalid_json")
    behaviour = request.headers.get("gs1-capture-error-behaviour")
    limit, now = runtime.settings.epcis_capture_limit, utcnow()
    if xml:
        document = await run_in_threadpool(xml_in.read_document, raw)
        opened = await run_in_threadpool(
            partial(run.open_document, session, principal, document, behaviour, limit=limit, now=now)
        )
    else:
        opened = await run_in_threadpool(
            partial(run.open_capture, session, principal, raw, behaviour, limit=limit, now=now)
        )
    view = jobs.job_view(opened.job)
    background.add_task(
        run.run_capture,
        runtime.sessions,
        principal,
        opened.job.id,
        opened.document,
        opened.events,
        partial(custody_policy, runtime.settings),
        schema_checked=xml,
    )
    headers = _standard_headers(runtime)
    headers["Location"] = f"/epcis/capture/{opened.job.id}"
    return JSONResponse(view, status_code=202, headers=headers)


@router.get("/capture", responses=KEYED_PROBLEMS)
def list_captures(principal: PrincipalDep, session: SessionDep) -> list[dict[str, Any]]:
    """The organisation's capture jobs, newest first."""
    return [jobs.job_view(job) for job in jobs.list_captures(session, principal)]


@router.get("/capture/{capture_id}", responses=KEYED_PROBLEMS)
def get_capture(capture_id: str, principal: PrincipalDep, session: SessionDep) -> dict[str, Any]:
    return jobs.job_view(jobs.get_capture(session, principal, capture_id))
