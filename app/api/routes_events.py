"""Custody events, and the unit record and history they build."""

from __future__ import annotations

import email.message
import functools
import json
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import AwareDatetime, Field, TypeAdapter, ValidationError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from app.api.deps import (
    PrincipalDep,
    SessionDep,
    bearer_scheme,
    custody_policy,
    principal_of,
    request_session,
)
from app.api.ids import EventRef
from app.api.problems import KEYED_PROBLEMS, domain_problem
from app.api.schemas import JsonOnly, Region, Strict, json_body, require_json
from app.domain.custody import SALE_ACTIONS, Action
from app.domain.errors import InvalidInput
from app.domain.sale_rules import Prescription
from app.domain.settlement import SettlementIn
from app.services import log, orgs, receipts, units
from app.services.custody import EventIn, record_events
from app.services.orgs import Principal
from app.services.runtime import Runtime

router = APIRouter(prefix="/v1", tags=["custody"], responses=KEYED_PROBLEMS, dependencies=[JsonOnly])

MAX_EVENTS = 1_000
MAX_CODES_PER_EVENT = 10_000


class PrescriptionBody(Strict):
    id: str = Field(min_length=1, max_length=100)
    prescriber: str = Field(min_length=1, max_length=200)
    issued_at: AwareDatetime


class SettlementBody(Strict):
    scheme: Literal["nhsa"]
    ref: str = Field(min_length=1, max_length=100, description="the insurer's settlement reference")


class EventBody(Strict):
    action: str = Field(min_length=1, max_length=20)
    codes: list[str] = Field(default_factory=list, max_length=MAX_CODES_PER_EVENT)
    occurred_at: AwareDatetime | None = None
    to: str | None = Field(
        default=None,
        max_length=32,
        description="The receiving organisation: its id, or its 13-digit GLN (look it up: GET /v1/orgs?gln=).",
    )
    region: Region | None = Field(default=None, max_length=10)
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=200)
    container: str | None = Field(default=None, max_length=300)
    channel: Literal["offline", "online"] | None = None
    platform: str | None = Field(default=None, max_length=32)
    order_ref: str | None = Field(default=None, max_length=100)
    prescription: PrescriptionBody | None = None
    event_id: EventRef | None = None
    settlement: SettlementBody | None = None
    override: str | None = Field(
        default=None,
        min_length=1,
        max_length=500,
        description="receive only: why a returned drug is taken back without a positive dscsaSaleableReturn "
        "verification (recorded and alerted; docs/partner-verification.md)",
    )

    def to_domain(self, ids_by_gln: Mapping[str, str]) -> EventIn:
        prescription = None
        if self.prescription is not None:
            p = self.prescription
            prescription = Prescription(p.id, p.prescriber, p.issued_at)
        return EventIn(
            action=self.action,
            codes=[c.strip() for c in self.codes],
            occurred_at=self.occurred_at,
            to=ids_by_gln.get(self.to, self.to) if self.to else self.to,
            region=self.region,
            idempotency_key=self.idempotency_key,
            container=self.container,
            channel=self.channel,
            platform=self.platform,
            order_ref=self.order_ref,
            prescription=prescription,
            event_id=self.event_id,
            settlement=SettlementIn(self.settlement.scheme, self.settlement.ref) if self.settlement else None,
            override=self.override,
        )


class EventListBody(Strict):
    events: list[EventBody] = Field(min_length=1, max_length=MAX_EVENTS)
    atomic: bool = True


_NOT_SALES = frozenset(a.value for a in Action) - {a.value for a in SALE_ACTIONS}
_single = TypeAdapter(EventBody)
_many = TypeAdapter(EventListBody)


def _validation_problem(error: ValidationError) -> InvalidInput:
    first = error.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    return InvalidInput(f"{where}: {first['msg']}", code="validation_error")


# The bearer scheme is declared in the document, not as a dependency (``BearerDep``): solving it was up to a fifth
# of the CPU of a request refused after authentication (docs/benchmarks.md); it never refused anything itself.
# This route documents POST /v1/events (and serves it for an application built without ``install``); requests are
# served by ``post_events_lean`` below, a plain Starlette route tried first, with the same contract.
@router.post(
    "/events",
    status_code=201,
    openapi_extra={**json_body(EventBody | EventListBody), "security": [{bearer_scheme.scheme_name: []}]},
)
async def post_events(request: Request, body: Annotated[Any, Body()]) -> Response:
    """One event object, or ``{"events": [...], "atomic": true|false}`` (up to 1,000 events)."""
    # The busiest write (a till, a scanner gun posts one event per request): the session, the key and the events
    # run in one worker thread. As dependencies (SessionDep, PrincipalDep) they took three more thread hops and
    # FastAPI's dependency solving, most of a single event's CPU (docs/benchmarks.md). Same rules: the request's
    # session (deps.request_session), committed before the response goes out; a failed commit is never a 2xx.
    return await run_in_threadpool(_post_events, request, body)


_NO_BODY = object()


async def post_events_lean(request: Request) -> Response:
    """``POST /v1/events`` without FastAPI's route machinery (included routers matched twice, the handler's
    telemetry hooks, dependency solving for the content check and the body): a plain Starlette route on the
    application's router, as the public scan is (routes_public.install). The same contract as ``post_events``,
    checked in the same order as FastAPI does: a JSON body that does not parse (422 ``invalid_json``, or 400 for
    a body that cannot be read as text), then the content type (415, ``require_json``), then a missing body (422);
    the same errors through the same handlers (app/api/problems.py), the same work in one worker thread."""
    body = await _json_or_bytes(request)
    await require_json(request)
    if body is _NO_BODY:
        raise RequestValidationError([{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}])
    return await run_in_threadpool(_post_events, request, body)


async def _json_or_bytes(request: Request) -> Any:
    """The body as FastAPI reads a ``Body()`` parameter (fastapi/routing.py, strict content type): parsed when
    its content type is JSON, otherwise its bytes (the content check then refuses it), ``_NO_BODY`` when empty."""
    try:
        raw = await request.body()
        if not raw:
            return _NO_BODY
        content_type = request.headers.get("content-type")
        if not content_type:
            return raw
        if content_type == "application/json":  # what a till sends: no header parsing (the same answer)
            return json.loads(raw)
        message = email.message.Message()
        message["content-type"] = content_type
        subtype = message.get_content_subtype()
        if message.get_content_maintype() == "application" and (subtype == "json" or subtype.endswith("+json")):
            return json.loads(raw)
        return raw
    except json.JSONDecodeError as error:
        problem = {"type": "json_invalid", "loc": ("body", error.pos), "msg": "JSON decode error", "input": {}}
        raise RequestValidationError([{**problem, "ctx": {"error": error.msg}}], body=error.doc) from error
    except HTTPException:
        raise
    except Exception as error:  # invalid UTF-8, nesting past the recursion limit, a body over the limit (BodyLimit)
        raise HTTPException(status_code=400, detail="There was an error parsing the body") from error


def install(app: FastAPI) -> None:
    """Serve ``POST /v1/events`` by ``post_events_lean``, tried right after the public scan's routes (a GET never
    matches it; a GET to /v1/events still answers 405 as before). ``router`` keeps documenting the route."""
    app.router.add_route("/v1/events", post_events_lean, methods=["POST"], name="post_events", include_in_schema=False)


def _post_events(request: Request, body: Any) -> Response:
    runtime: Runtime = request.app.state.runtime
    with request_session(request, runtime) as session:
        response = _record(principal_of(request, session), session, runtime, body)
        session.commit()
    return response


def _record(principal: Principal, session: Session, runtime: Runtime, body: Any) -> Response:
    try:
        if isinstance(body, dict) and "events" in body:
            parsed = _many.validate_python(body)
            events, atomic = parsed.events, parsed.atomic
        else:
            events, atomic = [_single.validate_python(body)], True
    except ValidationError as error:
        raise _validation_problem(error) from None
    total = sum(len(e.codes) for e in events)
    if total > 5 * MAX_CODES_PER_EVENT:
        raise InvalidInput(f"at most {5 * MAX_CODES_PER_EVENT} codes per request; got {total}", code="too_many_codes")
    policy = custody_policy(runtime.settings)
    glns = orgs.ids_by_gln(session, (e.to for e in events if e.to and orgs.is_gln(e.to)))
    outcome = record_events(
        session, principal, [e.to_domain(glns) for e in events], atomic=atomic, policy=policy, alone=True
    )
    if outcome.error is not None:
        return domain_problem(outcome.error)  # alerts it raised are committed with the request
    results = [r.as_json() for r in outcome.results]
    # PostgreSQL: commit, then the events' leaves get their indices (app/services/log.py, docs/log.md#sequencing)
    indices = log.publish(session, [r["event_id"] for r in results if r["log_index"] is None and r["event_id"]])
    for result in results:
        if result["event_id"] in indices:
            result["log_index"] = indices[result["event_id"]]
    signer = functools.partial(runtime.keyring.current_signer, session)
    # only a sale or a dispensing has receipts: an accepted event of another action needs no query (a duplicate
    # may replay a sale whatever this body says, so it is always looked up)
    may_sign = [
        r["event_id"]
        for e, r in zip(events, results, strict=True)
        if r["event_id"] is not None and (r["status"] != "accepted" or e.action not in _NOT_SALES)
    ]
    issued = receipts.receipts_for(session, may_sign, signer, runtime.settings.base_url) if may_sign else {}
    for result in results:  # a sale's units each get a signed receipt (docs/receipts.md), a replayed sale too
        if result["event_id"] in issued:
            result["receipts"] = issued[result["event_id"]]
    return JSONResponse({"results": results}, status_code=201)


@router.get("/units/{gtin}/{serial}")
def get_unit(gtin: str, serial: str, principal: PrincipalDep, session: SessionDep) -> dict[str, Any]:
    return units.unit_record(session, principal, gtin, serial)


@router.get("/units/{gtin}/{serial}/history")
def get_history(gtin: str, serial: str, principal: PrincipalDep, session: SessionDep) -> dict[str, Any]:
    return units.unit_history(session, principal, gtin, serial)
