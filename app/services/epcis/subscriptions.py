"""EPCIS query subscriptions (the REST binding's ``/queries/{name}/subscriptions``): a named query's new events
pushed to the subscriber's own ``dest`` as signed webhook deliveries.

Subscribing copies the named query's parameters and keeps a cursor: the merged query order's position of the last
event pushed (recordTime ascending, app.domain.epcis_query.Position). :func:`run_due`, run every
``PASSPORT_EPCIS_SUBSCRIPTION_INTERVAL_SECONDS`` by the server (app.main), reads each due subscription's next
events *as its organisation may see them* (the same visibility as ``GET /epcis/events``), writes them as one
``WebhookDelivery`` per :data:`CHUNK` events and moves the cursor, in one transaction: an event is queued once,
and sent at least once by ``app.services.webhooks.deliver_due`` (same retries, signatures and SSRF guard as recall
notices; ``GS1-Signature`` as the standard names it, keyed by the subscriber's ``signatureToken``).

A stream is due at every run and pushes events recorded at least :data:`SETTLE` ago, so a transaction that took
its recordTime earlier but committed a moment later is still caught; a schedule is due at the times it names
(app.domain.epcis_subscription) and pushes what was recorded since its previous run, or an empty document when
``reportIfEmpty``. A subscription row is locked while it runs (``SKIP LOCKED`` on PostgreSQL), so several server
processes never push the same events twice. Deleting the subscription, or its named query, ends it: deliveries
still pending for it fail as "subscription ended".
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from app.db.engine import WRITE_OPTIONS
from app.db.models import EpcisSubscription, Organisation, WebhookDelivery
from app.domain.epcis_query import ORDER_PARAMS, Position, Source, query_document
from app.domain.epcis_subscription import check_request, next_run
from app.domain.errors import InvalidInput, NotFound, SubscriptionError
from app.services import webhooks
from app.services.clock import utcnow
from app.services.epcis import named
from app.services.epcis.query import events_after
from app.services.orgs import Principal
from app.services.webhooks import SUBSCRIPTION_EVENT, seal, validate_url

CHUNK = 500  # events per delivery
MAX_CHUNKS_PER_RUN = 20  # a subscription far behind catches up over several runs, not in one long transaction
SETTLE = timedelta(seconds=1)


def _row(session: Session, principal: Principal, name: str, subscription_id: str) -> EpcisSubscription:
    row = session.scalar(
        select(EpcisSubscription).where(
            EpcisSubscription.subscription_id == subscription_id,
            EpcisSubscription.org_id == principal.org_id,
            EpcisSubscription.query_name == name,
            EpcisSubscription.ended_at.is_(None),
        )
    )
    if row is None:
        raise NotFound(f"no subscription {subscription_id!r} to the query {name!r}", code="subscription_not_found")
    return row


def _last_notified(session: Session, ids: Sequence[int]) -> dict[int, datetime]:
    rows = session.execute(
        select(WebhookDelivery.subscription_id, func.max(WebhookDelivery.delivered_at))
        .where(WebhookDelivery.subscription_id.in_(ids), WebhookDelivery.status == "delivered")
        .group_by(WebhookDelivery.subscription_id)
    )
    return {sub: when for sub, when in rows if sub is not None and when is not None}


def _view(row: EpcisSubscription, last_notified: datetime | None) -> dict[str, Any]:
    """The standard's subscription response; the signatureToken is never shown again, only whether one is kept."""
    view: dict[str, Any] = {
        "subscriptionID": row.subscription_id,
        "queryName": row.query_name,
        "dest": row.dest,
        "signed": row.sealed_token is not None,
        "createdAt": row.created_at.isoformat(),
        "initialRecordTime": row.initial_record_time.isoformat(),
        "minRecordTime": (row.cursor_time or row.initial_record_time).isoformat(),
        "lastNotifiedAt": last_notified.isoformat() if last_notified else None,
    }
    if row.schedule is None:
        view["stream"] = True
    else:
        view["schedule"] = row.schedule
        view["reportIfEmpty"] = row.report_if_empty
        view["nextRunAt"] = row.next_run_at.isoformat() if row.next_run_at else None
    return view


def subscribe(
    session: Session,
    principal: Principal,
    name: str,
    body: Any,
    *,
    master_key: bytes,
    allow_private: bool,
    now: datetime,
) -> dict[str, Any]:
    query = named.get_query(session, principal, name)["query"]  # 404 query_not_found for a name it does not own
    if not isinstance(body, dict):
        raise SubscriptionError("the body must be a JSON object with dest and either stream or schedule")
    dest = body.get("dest")
    if not isinstance(dest, str) or not dest:
        raise SubscriptionError("dest: the URL to push the events to is missing")
    try:
        validate_url(dest, allow_private=allow_private)
    except InvalidInput as error:
        raise SubscriptionError(f"dest: {error.detail}") from None
    ordering = sorted(set(query) & set(ORDER_PARAMS))
    if ordering:
        raise SubscriptionError(
            f"the query {name!r} has {', '.join(ordering)}: a subscription pushes events in the order they are "
            "recorded, so its query may not order or cap them"
        )
    request = check_request(body, dest)
    row = EpcisSubscription(
        subscription_id=str(uuid.uuid4()),
        org_id=principal.org_id,
        query_name=name,
        query=query,
        dest=dest,
        sealed_token=seal(master_key, principal.org_id, request.signature_token) if request.signature_token else None,
        schedule=request.schedule,
        report_if_empty=request.report_if_empty,
        initial_record_time=request.initial_record_time or now,
        next_run_at=now if request.schedule is None else next_run(request.schedule, now),
        created_at=now,
    )
    session.add(row)
    session.flush()
    return _view(row, None)


def list_subscriptions(session: Session, principal: Principal, name: str) -> list[dict[str, Any]]:
    named.get_query(session, principal, name)
    rows = list(
        session.scalars(
            select(EpcisSubscription)
            .where(
                EpcisSubscription.org_id == principal.org_id,
                EpcisSubscription.query_name == name,
                EpcisSubscription.ended_at.is_(None),
            )
            .order_by(EpcisSubscription.id)
        )
    )
    notified = _last_notified(session, [row.id for row in rows])
    return [_view(row, notified.get(row.id)) for row in rows]


def get_subscription(session: Session, principal: Principal, name: str, subscription_id: str) -> dict[str, Any]:
    row = _row(session, principal, name, subscription_id)
    return _view(row, _last_notified(session, [row.id]).get(row.id))


def unsubscribe(session: Session, principal: Principal, name: str, subscription_id: str, *, now: datetime) -> None:
    _row(session, principal, name, subscription_id).ended_at = now


# --- pushing --------------------------------------------------------------------------------------------------


def run_due(sessions: sessionmaker[Session], *, base_url: str, now: datetime | None = None, limit: int = 100) -> int:
    """Run every subscription that is due, one transaction each; returns the deliveries queued."""
    now = now or utcnow()
    with sessions.begin() as session:  # ended by COMMIT: see "Periodic reads" in app/db/engine.py
        due = list(
            session.scalars(
                select(EpcisSubscription.id)
                .where(EpcisSubscription.ended_at.is_(None), EpcisSubscription.next_run_at <= now)
                .order_by(EpcisSubscription.next_run_at, EpcisSubscription.id)
                .limit(limit)
            )
        )
    return sum(_run(sessions, subscription_id, base_url, now) for subscription_id in due)


def push_due(
    sessions: sessionmaker[Session],
    master_key: bytes,
    *,
    base_url: str,
    deliver: bool,
    allow_private: bool,
    keep_going: Callable[[], bool] = lambda: True,
) -> int:
    """The server's periodic job: run the due subscriptions and, when this process delivers webhooks at all,
    send what they queued at once rather than at the next webhook round."""
    queued = run_due(sessions, base_url=base_url)
    if queued and deliver:
        webhooks.deliver_due(sessions, master_key, allow_private=allow_private, keep_going=keep_going)
    return queued


def _principal(session: Session, org_id: str) -> Principal:
    org = session.get(Organisation, org_id)
    assert org is not None
    return Principal(org.id, org.name, org.role, frozenset())  # licences do not widen what a query sees


def _run(sessions: sessionmaker[Session], subscription_id: int, base_url: str, now: datetime) -> int:
    with sessions.begin() as session:
        session.connection(execution_options=WRITE_OPTIONS)
        row = session.scalar(
            select(EpcisSubscription)
            .where(
                EpcisSubscription.id == subscription_id,
                EpcisSubscription.ended_at.is_(None),
                EpcisSubscription.next_run_at <= now,
            )
            .with_for_update(skip_locked=True)
        )
        if row is None:
            return 0  # ended, not due any more, or another process runs it
        stream = row.schedule is None
        after = (
            Position(row.cursor_time, Source(row.cursor_source), row.cursor_row)
            if row.cursor_time is not None and row.cursor_source is not None and row.cursor_row is not None
            else Position(row.initial_record_time, Source.CAPTURED, 0)  # row ids start at 1: all from that time
        )
        principal = _principal(session, row.org_id)
        params = named.query_parameters(row.query)
        before = now - SETTLE if stream else now
        queued = 0
        for _ in range(MAX_CHUNKS_PER_RUN):
            positions, document = events_after(
                session, principal, params, after, before, limit=CHUNK, base_url=base_url, now=now
            )
            if not positions:
                break
            _queue(session, row, document, now)
            queued += 1
            after = positions[-1]
            if len(positions) < CHUNK:
                break
        if queued == 0 and row.report_if_empty:
            _queue(session, row, query_document([], [], base_url=base_url, now=now), now)
            queued = 1
        row.cursor_time, row.cursor_source, row.cursor_row = after.key, int(after.source), after.row_id
        row.last_run_at = now
        row.next_run_at = now if stream else (next_run(row.schedule, now) if row.schedule else None)
        return queued


def _queue(session: Session, row: EpcisSubscription, document: dict[str, Any], now: datetime) -> None:
    results = document["epcisBody"]["queryResults"]
    results["queryName"] = row.query_name
    results["subscriptionID"] = row.subscription_id
    session.add(
        WebhookDelivery(
            subscription_id=row.id,
            event_type=SUBSCRIPTION_EVENT,
            payload=document,
            attempts=0,
            status="pending",
            next_attempt_at=now,
            created_at=now,
        )
    )
