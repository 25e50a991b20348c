"""Recall notices and signed webhooks.

Every organisation that holds units a recall covers, or has them in transit to it, gets a notice: a row it can
read and acknowledge through the API. Organisations that registered an endpoint are also pushed the notice, an
outbox row (``WebhookDelivery``) written in the recall's own transaction and sent afterwards by ``deliver_due``,
retried with exponential back-off until the endpoint answers 2xx or the attempts run out.

Signature scheme, version 1 (the shape Stripe and Standard Webhooks use)::

    Content-Type: application/json
    Passport-Delivery: <delivery id>        the same on every retry of one delivery: deduplicate on it
    Passport-Event: recall.created          or recall.extended (an organisation the extension brought in)
                                            or recall.orders (to a platform: app/services/recall_relay.py)
                                            or epcis.subscription (an EPCISQueryDocument to a subscription's
                                            dest, also signed in GS1-Signature; unsigned without signatureToken)
    Passport-Timestamp: <unix seconds>      when this attempt was made
    Passport-Signature: v1=<hex>            HMAC-SHA256(key=secret, message=f"{timestamp}.".encode() + body)

``secret`` is the ``whsec_...`` string returned once at registration, used as the HMAC key as its ASCII bytes;
``body`` is the raw request body (UTF-8 JSON, identical on every retry). A receiver recomputes the HMAC over the
bytes it read, compares in constant time, and refuses a timestamp far from its own clock (five minutes, say), so a
captured request cannot be replayed later. Delivery is at least once: an attempt cut short by a crash is retried
with the same ``Passport-Delivery``. Only a 2xx answer counts; redirects are not followed. Endpoints on the
service's own network are refused unless the deployment allows them (``app.services.webhook_http``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Select, select, update
from sqlalchemy.orm import Session, sessionmaker

from app.db.engine import WRITE_OPTIONS
from app.db.models import (
    EpcisSubscription,
    Organisation,
    Product,
    Recall,
    RecallNotice,
    WebhookDelivery,
    WebhookEndpoint,
)
from app.db.trace import custody_counts, scope_of
from app.domain.addresses import NotAnAddress, host_address, is_local_name, is_public
from app.domain.custody import Status
from app.domain.errors import InvalidInput, NotFound
from app.domain.recall import HOLDING
from app.services.clock import utcnow
from app.services.orgs import Principal
from app.services.webhook_http import http_post

MAX_ATTEMPTS = 8
SUBSCRIPTION_EVENT = "epcis.subscription"  # an EPCIS query subscription's delivery (app.services.epcis.subscriptions)
_FIRST_DELAY_SECONDS = 30  # after attempt n the next waits 30 s * 2**n: 1 min, 2 min ... about 2 h in all
_MAX_DELAY_SECONDS = 6 * 3600

HttpPost = Callable[[str, bytes, Mapping[str, str]], int]


# --- endpoints -----------------------------------------------------------------------------------------------


def _associated_data(org_id: str) -> bytes:
    # Binds a sealed secret to its organisation: a row copied onto another organisation's endpoint will not open.
    return b"passport webhook secret " + org_id.encode()


def seal(master_key: bytes, org_id: str, secret: str) -> bytes:
    """A signing secret kept under the master key, bound to its organisation (also EPCIS subscriptions' tokens)."""
    nonce = secrets.token_bytes(12)
    return nonce + AESGCM(master_key).encrypt(nonce, secret.encode(), _associated_data(org_id))


def unseal(master_key: bytes, org_id: str, sealed: bytes) -> str:
    return AESGCM(master_key).decrypt(sealed[:12], sealed[12:], _associated_data(org_id)).decode()


def validate_url(url: str, *, allow_private: bool = False) -> str:
    try:
        parts = urlsplit(url)  # raises on a bracketed host that is not an IPv6 address
    except ValueError:
        raise InvalidInput("the webhook URL's host is not an address", code="invalid_webhook_url") from None
    try:
        parts.port  # noqa: B018 (raises on a port that is not a number in range)
    except ValueError:
        raise InvalidInput("the webhook URL's port is not valid", code="invalid_webhook_url") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput("a webhook URL must be an absolute http:// or https:// URL", code="invalid_webhook_url")
    if parts.username is not None or parts.password is not None:
        raise InvalidInput("a webhook URL must not carry credentials", code="invalid_webhook_url")
    host = parts.hostname
    try:
        address = host_address(host)
    except NotAnAddress:
        raise InvalidInput(
            f"the webhook URL's host {host} looks numeric but is not an address", code="invalid_webhook_url"
        ) from None
    if allow_private:
        return url
    if is_local_name(host):
        raise InvalidInput("a webhook URL must name a public host, not localhost", code="invalid_webhook_url")
    if address is not None and not is_public(address):
        raise InvalidInput(
            f"a webhook URL must name a public host: {host} is the address {address}, which is private, loopback, "
            "link-local or otherwise not routable on the internet",
            code="invalid_webhook_url",
        )
    return url


def register_endpoint(
    session: Session, principal: Principal, url: str, *, master_key: bytes, allow_private: bool = False
) -> tuple[WebhookEndpoint, str]:
    """Register (or replace) the caller's endpoint. Returns it with its secret, which is never shown again."""
    validate_url(url, allow_private=allow_private)
    # Serialises registrations of one organisation, so "one active endpoint" holds under concurrency.
    session.scalar(select(Organisation.id).where(Organisation.id == principal.org_id).with_for_update())
    now = utcnow()
    previous = list(
        session.scalars(
            select(WebhookEndpoint).where(
                WebhookEndpoint.org_id == principal.org_id, WebhookEndpoint.disabled_at.is_(None)
            )
        )
    )
    for old in previous:
        old.disabled_at = now
    session.flush()
    secret = "whsec_" + secrets.token_urlsafe(32)
    endpoint = WebhookEndpoint(
        org_id=principal.org_id, url=url, sealed_secret=seal(master_key, principal.org_id, secret), created_at=now
    )
    session.add(endpoint)
    session.flush()
    if previous:
        # What was still owed to the old endpoint goes to the new one, signed with the new secret.
        session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.endpoint_id.in_([old.id for old in previous]), WebhookDelivery.status == "pending")
            .values(endpoint_id=endpoint.id)
        )
    return endpoint, secret


def active_endpoint(session: Session, principal: Principal) -> WebhookEndpoint | None:
    return session.scalar(
        select(WebhookEndpoint).where(WebhookEndpoint.org_id == principal.org_id, WebhookEndpoint.disabled_at.is_(None))
    )


def disable_endpoint(session: Session, principal: Principal) -> None:
    endpoint = active_endpoint(session, principal)
    if endpoint is None:
        raise NotFound("your organisation has no webhook endpoint", code="webhook_not_found")
    endpoint.disabled_at = utcnow()


def endpoint_view(endpoint: WebhookEndpoint) -> dict[str, Any]:
    return {"id": endpoint.id, "url": endpoint.url, "created_at": endpoint.created_at.isoformat()}


# --- notices -------------------------------------------------------------------------------------------------


def _recipients(session: Session, recall: Recall, manufacturer_id: str) -> dict[str, tuple[int, int]]:
    """Organisation -> (units on hand, units in transit to it), for the units the recall covers."""
    conn = session.connection()
    scope = scope_of(conn, recall.gtin, recall.lots, recall.serials)
    on_hand: Counter[str] = Counter()
    arriving: Counter[str] = Counter()
    for (status, holder, to), n in custody_counts(conn, scope).items():
        if Status(status) in HOLDING:
            on_hand[holder or manufacturer_id] += n
        elif Status(status) is Status.IN_TRANSIT and to is not None:
            arriving[to] += n
    return {org: (on_hand[org], arriving[org]) for org in on_hand.keys() | arriving.keys()}


def recall_summary(recall: Recall, product: Product) -> dict[str, Any]:
    """The recall as every webhook about it names it (holders' notices here, platforms' orders in recall_relay)."""
    return {
        "id": recall.id,
        "gtin": recall.gtin,
        "product": product.name,
        "lots": list(recall.lots),
        "serials": list(recall.serials),
        "class": recall.recall_class,
        "reason": recall.reason,
        "instructions": recall.instructions,
        "created_at": recall.created_at.isoformat(),
    }


def _payload(
    recall: Recall, product: Product, event_type: str, org_id: str, units: tuple[int, int], now: datetime
) -> dict[str, Any]:
    on_hand, arriving = units
    return {
        "event": event_type,
        "recall": recall_summary(recall, product),
        "org": org_id,
        "units": on_hand + arriving,
        "units_in_transit_to_you": arriving,
        "notified_at": now.isoformat(),
        "acknowledge": f"/v1/recalls/{recall.id}/acknowledge",
    }


def notify_recall(session: Session, recall_id: int, *, event_type: str = "recall.created") -> list[RecallNotice]:
    """Notify every holder of the recall's units not notified yet, in the caller's transaction.

    Idempotent per (recall, organisation): after an extension only the organisations it brought in are told.
    The organisation that opened the recall is not notified of its own recall.
    """
    # The row lock makes concurrent extensions of one recall notify one after the other (PostgreSQL).
    recall = session.get(Recall, recall_id, with_for_update=True)
    if recall is None:
        raise NotFound(f"no recall {recall_id}", code="recall_not_found")
    product = session.get(Product, recall.gtin)
    assert product is not None
    holders = _recipients(session, recall, product.manufacturer_id)
    holders.pop(recall.created_by, None)
    told = set(session.scalars(select(RecallNotice.org_id).where(RecallNotice.recall_id == recall.id)))
    new = sorted(org for org in holders if org not in told)
    if not new:
        return []
    now = utcnow()
    endpoints = dict(
        session.execute(
            select(WebhookEndpoint.org_id, WebhookEndpoint.id).where(
                WebhookEndpoint.org_id.in_(new), WebhookEndpoint.disabled_at.is_(None)
            )
        ).all()
    )
    deliveries = {
        org: WebhookDelivery(
            endpoint_id=endpoints[org],
            event_type=event_type,
            payload=_payload(recall, product, event_type, org, holders[org], now),
            attempts=0,
            status="pending",
            next_attempt_at=now,
            created_at=now,
        )
        for org in new
        if org in endpoints
    }
    session.add_all(deliveries.values())
    session.flush()
    notices = [
        RecallNotice(
            recall_id=recall.id,
            org_id=org,
            units=sum(holders[org]),
            notified_at=now,
            delivery_id=deliveries[org].id if org in deliveries else None,
        )
        for org in new
    ]
    session.add_all(notices)
    session.flush()
    return notices


def holders(session: Session, gtin: str, lots: list[str], serials: list[str], manufacturer_id: str) -> dict[str, int]:
    """Organisation -> units it holds or has in transit to it, of the given lots and serials (a case's scope)."""
    return {org: sum(n) for org, n in _holdings(session, gtin, lots, serials, manufacturer_id).items()}


def _holdings(
    session: Session, gtin: str, lots: list[str], serials: list[str], manufacturer_id: str
) -> dict[str, tuple[int, int]]:
    conn = session.connection()
    on_hand: Counter[str] = Counter()
    arriving: Counter[str] = Counter()
    for (status, holder, to), n in custody_counts(conn, scope_of(conn, gtin, lots, serials)).items():
        if n <= 0:
            continue
        if Status(status) in HOLDING:
            on_hand[holder or manufacturer_id] += n
        elif Status(status) is Status.IN_TRANSIT and to is not None:
            arriving[to] += n
    return {org: (on_hand[org], arriving[org]) for org in on_hand.keys() | arriving.keys()}


def queue(session: Session, event_type: str, payloads: Mapping[str, dict[str, Any]], now: datetime) -> dict[str, int]:
    """Queue one signed delivery per organisation that has an active endpoint, in the caller's transaction (one
    query for the endpoints, one bulk insert); organisation -> delivery id. The others read their notices."""
    if not payloads:
        return {}
    endpoints = dict(
        session.execute(
            select(WebhookEndpoint.org_id, WebhookEndpoint.id).where(
                WebhookEndpoint.org_id.in_(sorted(payloads)), WebhookEndpoint.disabled_at.is_(None)
            )
        ).all()
    )
    deliveries = {
        org: WebhookDelivery(
            endpoint_id=endpoints[org],
            event_type=event_type,
            payload=payload,
            attempts=0,
            status="pending",
            next_attempt_at=now,
            created_at=now,
        )
        for org, payload in payloads.items()
        if org in endpoints
    }
    session.add_all(deliveries.values())
    session.flush()
    return {org: delivery.id for org, delivery in deliveries.items()}


def acknowledge(session: Session, principal: Principal, recall_id: int) -> RecallNotice:
    """Record that the caller received the recall notice (idempotent: the first acknowledgement stands)."""
    if session.get(Recall, recall_id) is None:
        raise NotFound(f"no recall {recall_id}", code="recall_not_found")
    notice = session.scalar(
        select(RecallNotice)
        .where(RecallNotice.recall_id == recall_id, RecallNotice.org_id == principal.org_id)
        .with_for_update()
    )
    if notice is None:
        raise NotFound(f"your organisation was not notified of recall {recall_id}", code="not_notified")
    if notice.acknowledged_at is None:
        notice.acknowledged_at = utcnow()
    return notice


def notices_of_recall(session: Session, recall: Recall) -> dict[str, Any]:
    """Who was notified of a recall and who acknowledged; the caller has checked who may see it
    (``app.services.recalls.notices_of_recall``)."""
    rows = session.execute(
        select(RecallNotice, Organisation.name, WebhookDelivery)
        .join(Organisation, Organisation.id == RecallNotice.org_id)
        .outerjoin(WebhookDelivery, WebhookDelivery.id == RecallNotice.delivery_id)
        .where(RecallNotice.recall_id == recall.id)
        .order_by(RecallNotice.notified_at, RecallNotice.org_id)
    ).all()
    notices = [
        {
            "org": {"id": notice.org_id, "name": name},
            "units": notice.units,
            "notified_at": notice.notified_at.isoformat(),
            "acknowledged_at": _iso(notice.acknowledged_at),
            "webhook": _delivery_summary(delivery),
        }
        for notice, name, delivery in rows
    ]
    return {
        "recall_id": recall.id,
        "notified": len(notices),
        "acknowledged": sum(1 for n in notices if n["acknowledged_at"] is not None),
        "notices": notices,
    }


def _delivery_summary(delivery: WebhookDelivery | None) -> dict[str, Any] | None:
    if delivery is None:
        return None
    return {"status": delivery.status, "attempts": delivery.attempts, "delivered_at": _iso(delivery.delivered_at)}


def my_notices(session: Session, principal: Principal, *, limit: int = 100) -> list[dict[str, Any]]:
    """The caller's recall notices, newest first: the inbox of an organisation with no endpoint."""
    rows = session.execute(
        select(RecallNotice, Recall)
        .join(Recall, Recall.id == RecallNotice.recall_id)
        .where(RecallNotice.org_id == principal.org_id)
        .order_by(RecallNotice.id.desc())
        .limit(limit)
    ).all()
    return [
        {
            "recall": {
                "id": recall.id,
                "gtin": recall.gtin,
                "lots": recall.lots,
                "serials": recall.serials,
                "class": recall.recall_class,
                "reason": recall.reason,
                "instructions": recall.instructions,
                "status": recall.status,
            },
            "units": notice.units,
            "notified_at": notice.notified_at.isoformat(),
            "acknowledged_at": _iso(notice.acknowledged_at),
        }
        for notice, recall in rows
    ]


# --- deliveries ----------------------------------------------------------------------------------------------


def signature(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"v1={digest}"


def backoff(attempts: int) -> timedelta:
    """How long to wait after the given number of attempts: doubling from a minute, capped, plus up to 10 %
    jitter so endpoints that came back up are not hit by every retry at once."""
    delay = min(_FIRST_DELAY_SECONDS * 2**attempts, _MAX_DELAY_SECONDS)
    return timedelta(seconds=delay, milliseconds=secrets.randbelow(delay * 100 + 1))


@dataclass(frozen=True, slots=True)
class _Attempt:
    delivery_id: int
    event_type: str
    url: str
    secret: str | None  # an EPCIS subscription may have no signatureToken: its deliveries go unsigned
    body: bytes


def _body(payload: Mapping[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()


def _claim(sessions: sessionmaker[Session], master_key: bytes, delivery_id: int, now: datetime) -> _Attempt | str:
    """Count an attempt and push the next one out by the back-off, committed before anything is sent: another
    worker will not pick the delivery up meanwhile, and a crash mid-send is a failed attempt, retried later."""
    with sessions.begin() as session:
        session.connection(execution_options=WRITE_OPTIONS)
        delivery = session.scalar(
            select(WebhookDelivery)
            .where(
                WebhookDelivery.id == delivery_id,
                WebhookDelivery.status == "pending",
                WebhookDelivery.next_attempt_at <= now,
            )
            .with_for_update(skip_locked=True)
        )
        if delivery is None:
            return "skipped"  # another worker has it
        url, secret, gone = _destination(session, master_key, delivery)
        if gone is not None or delivery.attempts >= MAX_ATTEMPTS:
            delivery.status = "failed"
            delivery.last_error = gone or "the last attempt never finished"
            return "failed"
        delivery.attempts += 1
        delivery.next_attempt_at = now + backoff(delivery.attempts)
        return _Attempt(delivery.id, delivery.event_type, url, secret, _body(delivery.payload))


def _destination(session: Session, master_key: bytes, delivery: WebhookDelivery) -> tuple[str, str | None, str | None]:
    """Where a delivery goes and the secret it is signed with, or why it can no longer go anywhere."""
    if delivery.subscription_id is not None:
        subscription = session.get(EpcisSubscription, delivery.subscription_id)
        assert subscription is not None
        token = subscription.sealed_token
        secret = unseal(master_key, subscription.org_id, token) if token is not None else None
        return subscription.dest, secret, "subscription ended" if subscription.ended_at is not None else None
    endpoint = session.get(WebhookEndpoint, delivery.endpoint_id)
    assert endpoint is not None
    secret = unseal(master_key, endpoint.org_id, endpoint.sealed_secret)
    return endpoint.url, secret, "endpoint disabled" if endpoint.disabled_at is not None else None


def _send(post: HttpPost, attempt: _Attempt, now: datetime) -> tuple[int | None, str | None]:
    timestamp = int(now.timestamp())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Passport-Webhooks/1",
        "Passport-Delivery": str(attempt.delivery_id),
        "Passport-Event": attempt.event_type,
        "Passport-Timestamp": str(timestamp),
    }
    if attempt.secret is not None:
        headers["Passport-Signature"] = signature(attempt.secret, timestamp, attempt.body)
        if attempt.event_type == SUBSCRIPTION_EVENT:  # the EPCIS REST binding's header, same value
            headers["GS1-Signature"] = headers["Passport-Signature"]
    try:
        status = post(attempt.url, attempt.body, headers)
    except Exception as error:  # the endpoint's failure, whatever it is, is this attempt's outcome
        return None, f"{type(error).__name__}: {error}"[:500]
    return status, None if 200 <= status < 300 else f"HTTP {status}"


def _record(
    sessions: sessionmaker[Session], delivery_id: int, now: datetime, status: int | None, error: str | None
) -> str:
    with sessions.begin() as session:
        session.connection(execution_options=WRITE_OPTIONS)
        delivery = session.get(WebhookDelivery, delivery_id, with_for_update=True)
        assert delivery is not None
        delivery.last_status_code = status
        delivery.last_error = error
        if error is None:
            delivery.status = "delivered"
            delivery.delivered_at = now
            return "delivered"
        if delivery.attempts >= MAX_ATTEMPTS:
            delivery.status = "failed"
            return "failed"
        return "retrying"


def _due(now: datetime, limit: int) -> Select[tuple[int]]:
    return (
        select(WebhookDelivery.id)
        .where(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now)
        .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
        .limit(limit)
    )


def deliver_due(
    sessions: sessionmaker[Session],
    master_key: bytes,
    *,
    post: HttpPost | None = None,
    allow_private: bool = False,
    now: datetime | None = None,
    limit: int = 100,
    keep_going: Callable[[], bool] = lambda: True,
) -> dict[str, int]:
    """Send up to ``limit`` deliveries that are due, one transaction per step, and count the outcomes. ``post``
    defaults to ``http_post``, refusing private addresses unless ``allow_private``."""
    post = post or partial(http_post, allow_private=allow_private)
    now = now or utcnow()
    with sessions.begin() as session:  # ended by COMMIT: see "Periodic reads" in app/db/engine.py
        due = list(session.scalars(_due(now, limit)))
    outcomes: Counter[str] = Counter()
    for delivery_id in due:
        if not keep_going():
            break
        attempt = _claim(sessions, master_key, delivery_id, now)
        if isinstance(attempt, str):
            outcomes[attempt] += 1
            continue
        status, error = _send(post, attempt, now)
        outcomes[_record(sessions, delivery_id, now, status, error)] += 1
    return {key: outcomes[key] for key in ("delivered", "retrying", "failed")}


def list_deliveries(
    session: Session, principal: Principal, *, limit: int = 100, before_id: int | None = None
) -> list[dict[str, Any]]:
    query = (
        select(WebhookDelivery, WebhookEndpoint.url)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where(WebhookEndpoint.org_id == principal.org_id)
        .order_by(WebhookDelivery.id.desc())
        .limit(limit)
    )
    if before_id is not None:
        query = query.where(WebhookDelivery.id < before_id)
    return [
        {
            "id": d.id,
            "event": d.event_type,
            "url": url,
            "status": d.status,
            "attempts": d.attempts,
            "next_attempt_at": d.next_attempt_at.isoformat() if d.status == "pending" else None,
            "last_status_code": d.last_status_code,
            "last_error": d.last_error,
            "delivered_at": _iso(d.delivered_at),
            "created_at": d.created_at.isoformat(),
            "payload": d.payload,
        }
        for d, url in session.execute(query).all()
    ]


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
