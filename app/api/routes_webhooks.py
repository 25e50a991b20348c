"""Webhook endpoints and their delivery log; recall notices and their acknowledgement."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import Field

from app.api.deps import PrincipalDep, RuntimeDep, SessionDep
from app.api.ids import DeliveryCursor, RecallId
from app.api.problems import KEYED_PROBLEMS
from app.api.schemas import JsonOnly, Strict
from app.services import recalls, webhooks

router = APIRouter(prefix="/v1", responses=KEYED_PROBLEMS, dependencies=[JsonOnly])


class EndpointBody(Strict):
    url: str = Field(min_length=1, max_length=2000)


@router.post("/webhooks", status_code=201, tags=["webhooks"])
def register(body: EndpointBody, principal: PrincipalDep, session: SessionDep, runtime: RuntimeDep) -> dict[str, Any]:
    """Register the organisation's endpoint (replacing any earlier one). The secret is shown only here."""
    endpoint, secret = webhooks.register_endpoint(
        session,
        principal,
        body.url,
        master_key=runtime.keyring.master_key,
        allow_private=runtime.settings.webhook_private_addresses,
    )
    return {**webhooks.endpoint_view(endpoint), "secret": secret}


@router.get("/webhooks", tags=["webhooks"])
def current(principal: PrincipalDep, session: SessionDep) -> dict[str, Any]:
    endpoint = webhooks.active_endpoint(session, principal)
    return {"endpoint": webhooks.endpoint_view(endpoint) if endpoint else None}


@router.delete("/webhooks", status_code=204, tags=["webhooks"])
def disable(principal: PrincipalDep, session: SessionDep) -> Response:
    webhooks.disable_endpoint(session, principal)
    return Response(status_code=204)


@router.get("/webhooks/deliveries", tags=["webhooks"])
def deliveries(
    principal: PrincipalDep,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before_id: DeliveryCursor = None,
) -> dict[str, Any]:
    return {"deliveries": webhooks.list_deliveries(session, principal, limit=limit, before_id=before_id)}


@router.get("/notices", tags=["recalls"])
def my_notices(
    principal: PrincipalDep, session: SessionDep, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> dict[str, Any]:
    return {"notices": webhooks.my_notices(session, principal, limit=limit)}


@router.post("/recalls/{recall_id}/acknowledge", tags=["recalls"])
def acknowledge(recall_id: RecallId, principal: PrincipalDep, session: SessionDep) -> dict[str, Any]:
    notice = webhooks.acknowledge(session, principal, recall_id)
    assert notice.acknowledged_at is not None
    return {"recall_id": notice.recall_id, "acknowledged_at": notice.acknowledged_at.isoformat()}


@router.get("/recalls/{recall_id}/notices", tags=["recalls"])
def notices(recall_id: RecallId, principal: PrincipalDep, session: SessionDep) -> dict[str, Any]:
    return recalls.notices_of_recall(session, principal, recall_id)
