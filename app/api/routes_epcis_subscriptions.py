"""EPCIS 2.0 query subscriptions: ``POST/GET /epcis/queries/{name}/subscriptions`` and ``GET/DELETE
/epcis/queries/{name}/subscriptions/{subscriptionID}`` (the REST binding's webhook subscriptions), per organisation."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from app.api.deps import PrincipalDep, RuntimeDep, SessionDep
from app.api.problems import KEYED_PROBLEMS, problem_responses
from app.api.schemas import EPCIS_VERSION_HEADERS, json_body
from app.services.clock import utcnow
from app.services.epcis import subscriptions

router = APIRouter(prefix="/epcis/queries", tags=["epcis"], responses={**KEYED_PROBLEMS, **problem_responses(400)})


class SubscriptionIn(BaseModel):
    """The standard's subscription request (read and checked by app.domain.epcis_subscription, so that every
    refusal is the standard's 400 SubscriptionControlsException); this model only describes it."""

    dest: str = Field(examples=["https://client.example.com/queryCallback"])
    signatureToken: str | None = Field(default=None, min_length=16, max_length=500)
    stream: Literal[True] | None = None
    schedule: dict[str, str] | None = Field(default=None, examples=[{"hour": "1", "minute": "5"}])
    reportIfEmpty: bool = False
    initialRecordTime: str | None = None


@router.post("/{name}/subscriptions", status_code=201, openapi_extra=json_body(SubscriptionIn))
def subscribe(
    name: str, principal: PrincipalDep, session: SessionDep, runtime: RuntimeDep, body: Annotated[Any, Body()]
) -> JSONResponse:
    """Subscribe to the named query: ``dest`` (a public http(s) URL), an optional ``signatureToken`` (the key of
    ``GS1-Signature``), and either ``"stream": true`` or a ``schedule``; ``reportIfEmpty`` and
    ``initialRecordTime`` as the standard says. 400 SubscriptionControlsException for anything else."""
    settings = runtime.settings
    view = subscriptions.subscribe(
        session,
        principal,
        name,
        body,
        master_key=runtime.keyring.master_key,
        allow_private=settings.webhook_private_addresses,
        now=utcnow(),
    )
    location = f"/epcis/queries/{name}/subscriptions/{view['subscriptionID']}"
    return JSONResponse(view, status_code=201, headers={**EPCIS_VERSION_HEADERS, "Location": location})


@router.get("/{name}/subscriptions")
def list_subscriptions(name: str, principal: PrincipalDep, session: SessionDep) -> JSONResponse:
    return JSONResponse(subscriptions.list_subscriptions(session, principal, name), headers=EPCIS_VERSION_HEADERS)


@router.get("/{name}/subscriptions/{subscription_id}")
def get_subscription(name: str, subscription_id: str, principal: PrincipalDep, session: SessionDep) -> JSONResponse:
    view = subscriptions.get_subscription(session, principal, name, subscription_id)
    return JSONResponse(view, headers=EPCIS_VERSION_HEADERS)


@router.delete("/{name}/subscriptions/{subscription_id}", status_code=204)
def unsubscribe(name: str, subscription_id: str, principal: PrincipalDep, session: SessionDep) -> Response:
    subscriptions.unsubscribe(session, principal, name, subscription_id, now=utcnow())
    return Response(status_code=204, headers=EPCIS_VERSION_HEADERS)
