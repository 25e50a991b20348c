"""Recalls and their trace; alerts and their triage."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import AwareDatetime, Field

from app.api.deps import PrincipalDep, SessionDep
from app.api.ids import AlertCursor, AlertId, RecallId, RecallOrderCursor
from app.api.problems import KEYED_PROBLEMS
from app.api.schemas import JsonOnly, Strict
from app.services import alerts, recall_relay, recalls

router = APIRouter(prefix="/v1", responses=KEYED_PROBLEMS, dependencies=[JsonOnly])


class RecallBody(Strict):
    gtin: str = Field(min_length=1, max_length=14)
    lots: list[str] = Field(default_factory=list, max_length=1000)
    serials: list[str] = Field(default_factory=list, max_length=100_000)
    reason: str = Field(min_length=1, max_length=1000)
    recall_class: Literal["I", "II", "III"] = Field(alias="class")
    instructions: str | None = Field(default=None, max_length=1000)


class ExtendBody(Strict):
    lots: list[str] = Field(default_factory=list, max_length=1000)
    serials: list[str] = Field(default_factory=list, max_length=100_000)


OrderRef = Annotated[str, Field(min_length=1, max_length=100)]


class OrderAckBody(Strict):
    order_refs: list[OrderRef] = Field(min_length=1, max_length=1000)


class TriageBody(Strict):
    status: Literal["open", "investigating", "closed"]
    root_cause: str | None = Field(default=None, max_length=1000)


@router.post("/recalls", status_code=201, tags=["recalls"])
def create_recall(body: RecallBody, principal: PrincipalDep, session: SessionDep) -> dict[str, Any]:
    recall = recalls.create_recall(
        session,
        principal,
        gtin=body.gtin,
        lots=body.lots,
        serials=body.serials,
        reason=body.reason,
        recall_class=body.recall_class,
        instructions=body.instructions,
    )
    return recalls.recall_view(recall)


@router.get("/recalls", tags=["recalls"])
def list_recalls(principal: PrincipalDep, session: SessionDep) -> dict[str, Any]:
    return {"recalls": [recalls.recall_view(r) for r in recalls.list_recalls(session, principal)]}


@router.get("/recalls/{recall_id}", tags=["recalls"])
def get_recall(recall_id: RecallId, principal: PrincipalDep, session: SessionDep) -> dict[str, Any]:
    return recalls.recall_view(recalls.get_recall(session, principal, recall_id))


@router.post("/recalls/{recall_id}/extend", tags=["recalls"])
def extend_recall(
    recall_id: RecallId, body: ExtendBody, principal: PrincipalDep, session: SessionDep
) -> dict[str, Any]:
    recall = recalls.extend_recall(session, principal, recall_id, lots=body.lots, serials=body.serials)
    return recalls.recall_view(recall)


@router.post("/recalls/{recall_id}/complete", tags=["recalls"])
def complete_recall(recall_id: RecallId, principal: PrincipalDep, session: SessionDep) -> dict[str, Any]:
    return recalls.recall_view(recalls.complete_recall(session, principal, recall_id))


@router.get("/recalls/{recall_id}/trace", tags=["recalls"])
def trace(recall_id: RecallId, principal: PrincipalDep, session: SessionDep) -> dict[str, Any]:
    return recalls.trace(session, principal, recall_id)


@router.get("/recalls/{recall_id}/orders", tags=["recalls"])
def recall_orders(
    recall_id: RecallId,
    principal: PrincipalDep,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    after: RecallOrderCursor = None,
) -> dict[str, Any]:
    """The online orders the recall relayed: to a platform its own, to a regulator every platform's."""
    return recall_relay.orders_of(session, principal, recall_id, limit=limit, after=after)


@router.post("/recalls/{recall_id}/orders/ack", tags=["recalls"])
def acknowledge_orders(
    recall_id: RecallId, body: OrderAckBody, principal: PrincipalDep, session: SessionDep
) -> dict[str, Any]:
    """A platform acknowledges that it told the buyers of these orders (its own only; idempotent)."""
    return recall_relay.acknowledge_orders(session, principal, recall_id, body.order_refs)


@router.get(
    "/recalls/{recall_id}/holders.csv",
    tags=["recalls"],
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}, "description": "Who holds the recalled units"}},
)
def holders_csv(recall_id: RecallId, principal: PrincipalDep, session: SessionDep) -> Response:
    return Response(
        recalls.holders_csv(session, principal, recall_id),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="recall-{recall_id}-holders.csv"'},
    )


@router.get("/alerts", tags=["alerts"])
def list_alerts(
    principal: PrincipalDep,
    session: SessionDep,
    type: Annotated[str | None, Query(max_length=40)] = None,
    status: Annotated[str | None, Query(max_length=20)] = None,
    region: Annotated[str | None, Query(max_length=10)] = None,
    org: Annotated[str | None, Query(max_length=32)] = None,
    since: AwareDatetime | None = None,
    until: AwareDatetime | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before_id: AlertCursor = None,
) -> dict[str, Any]:
    found = alerts.list_alerts(
        session,
        principal,
        type_=type,
        status=status,
        region=region,
        org=org,
        since=since,
        until=until,
        limit=limit,
        before_id=before_id,
    )
    return {"alerts": [alerts.alert_view(a) for a in found]}


@router.get("/alerts/{alert_id}", tags=["alerts"])
def get_alert(alert_id: AlertId, principal: PrincipalDep, session: SessionDep) -> dict[str, Any]:
    return alerts.alert_view(alerts.get_alert(session, principal, alert_id))


@router.patch("/alerts/{alert_id}", tags=["alerts"])
def triage_alert(alert_id: AlertId, body: TriageBody, principal: PrincipalDep, session: SessionDep) -> dict[str, Any]:
    return alerts.alert_view(
        alerts.triage(session, principal, alert_id, status=body.status, root_cause=body.root_cause)
    )
