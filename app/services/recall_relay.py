"""Recall relay to online buyers: the platforms of online sales are told which of their orders a recall covers.

A recall reaches the organisations holding recalled units (``app.services.webhooks``); a unit sold online is with
a buyer only its platform can reach. So when a recall is opened or extended, every unit in its scope that is now
with an online buyer is relayed to the platform of its sale, grouped by order: a ``recall.orders`` webhook
(signed, retried and SSRF-guarded like every delivery) and rows the platform reads and acknowledges per order.

- **With an online buyer**: the unit's custody status is ``sold`` and its latest standing sale (not undone) was
  ``channel: online``. A unit returned, recycled or sold again offline since is not relayed.
- **Its platform**: the organisation the sale named as ``platform`` (every online sale must name an organisation
  with the platform role, ``app.domain.sale_rules``); a sale recorded without one (none can be today) is relayed to
  its seller, which then acted as its own platform.
- **Once per unit**: an extension relays only units not relayed before. An order already relayed that gains units
  is relayed again with only the new ones, and waits for a new acknowledgement (the first covered fewer units).
- **Acknowledgement**: by the platform, per order, all or nothing; acknowledging again keeps the first time.

Webhook body (``Passport-Event: recall.orders``; at most ``ORDERS_PER_DELIVERY`` orders in one delivery)::

    {"type": "recall.orders", "recall": {...}, "platform": "<org id>",
     "orders": [{"order_ref", "seller", "sold_at", "units": [{"gtin", "lot", "serial"}]}],
     "acknowledge": "/v1/recalls/<id>/orders/ack"}
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy.orm import Session

from app.db.models import Batch, Event, EventItem, Organisation, Product, Recall, RecallOrder, RecallOrderUnit, Unit
from app.db.trace import Scope, scope_of
from app.domain.custody import Action, Status
from app.domain.errors import Forbidden, InvalidInput, NotFound
from app.domain.orgs import Role
from app.services import webhooks
from app.services.clock import utcnow
from app.services.orgs import Principal

EVENT_TYPE = "recall.orders"
ORDERS_PER_DELIVERY = 500
_CHUNK = 500


class _Sold(NamedTuple):
    """A unit in scope now with an online buyer, and the sale that put it there."""

    unit_id: int
    gtin: str
    lot: str
    serial: str
    platform: str
    order_ref: str
    seller: str
    sold_at: datetime


@dataclass
class _Order:
    platform: str
    order_ref: str
    seller: str
    sold_at: datetime
    units: list[_Sold] = field(default_factory=list)


def _chunks(values: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


def online_buyers(conn: Connection, scope: Scope) -> list[_Sold]:
    """The units in scope now with an online buyer, each with the online sale that stands (its latest).

    Two steps, each by an index: the sold units of the scope (the unit index on gtin, lot and state), then their
    standing sales, 500 units a statement (the event item index on unit). One join of the three tables let
    PostgreSQL hash a million event items."""
    sold: dict[int, tuple[str, str]] = {}
    units = (
        select(Unit.id, Batch.lot, Unit.serial)
        .join(Batch, Batch.id == Unit.batch_id)
        .where(Unit.gtin == scope.gtin, Unit.state == Status.SOLD.value)
    )
    statements = [units.where(Unit.batch_id.in_(chunk)) for chunk in _chunks(list(scope.batch_ids))]
    statements += [units.where(Unit.serial.in_(chunk)) for chunk in _chunks(list(scope.serials))]
    for statement in statements:
        sold.update((unit_id, (lot, serial)) for unit_id, lot, serial in conn.execute(statement))
    sales = (
        select(
            EventItem.unit_id,
            Event.id,
            Event.channel,
            Event.platform_id,
            Event.org_id,
            Event.order_ref,
            Event.occurred_at,
        )
        .join(Event, Event.id == EventItem.event_id)
        .where(Event.action == Action.SELL.value, Event.undone_by_event_id.is_(None))
    )
    latest: dict[int, Any] = {}
    for chunk in _chunks(sorted(sold)):
        for row in conn.execute(sales.where(EventItem.unit_id.in_(chunk))):
            seen = latest.get(row[0])
            if seen is None or row[1] > seen[1]:
                latest[row[0]] = row
    return [
        _Sold(unit_id, scope.gtin, *sold[unit_id], platform or seller, order_ref or f"event-{event_id}", seller, at)
        for unit_id, (_, event_id, channel, platform, seller, order_ref, at) in sorted(latest.items())
        if channel == "online"
    ]


def _order_json(order: _Order) -> dict[str, Any]:
    return {
        "order_ref": order.order_ref,
        "seller": order.seller,
        "sold_at": order.sold_at.isoformat(),
        "units": [{"gtin": u.gtin, "lot": u.lot, "serial": u.serial} for u in order.units],
    }


def relay_orders(session: Session, recall: Recall) -> int:
    """Relay to their platforms the units in the recall's scope with an online buyer that were not relayed yet,
    in the caller's transaction; the number of orders relayed. The caller holds the recall's row lock
    (``webhooks.notify_recall`` takes it), so concurrent extensions relay one after the other."""
    conn = session.connection()
    relayed = set(session.scalars(select(RecallOrderUnit.unit_id).where(RecallOrderUnit.recall_id == recall.id)))
    fresh = [
        sold
        for sold in online_buyers(conn, scope_of(conn, recall.gtin, recall.lots, recall.serials))
        if sold.unit_id not in relayed
    ]
    if not fresh:
        return 0
    orders: dict[tuple[str, str], _Order] = {}
    for sold in fresh:
        key = (sold.platform, sold.order_ref)
        orders.setdefault(key, _Order(sold.platform, sold.order_ref, sold.seller, sold.sold_at)).units.append(sold)
    now = utcnow()
    product = session.get(Product, recall.gtin)
    assert product is not None
    by_platform: dict[str, list[_Order]] = defaultdict(list)
    for order in orders.values():
        by_platform[order.platform].append(order)
    delivery_of: dict[tuple[str, str], int] = {}
    for start in range(0, max(len(o) for o in by_platform.values()), ORDERS_PER_DELIVERY):
        payloads = {
            platform: {
                "type": EVENT_TYPE,
                "recall": webhooks.recall_summary(recall, product),
                "platform": platform,
                "orders": [_order_json(o) for o in listed[start : start + ORDERS_PER_DELIVERY]],
                "acknowledge": f"/v1/recalls/{recall.id}/orders/ack",
            }
            for platform, listed in sorted(by_platform.items())
            if len(listed) > start
        }
        for platform, delivery_id in webhooks.queue(session, EVENT_TYPE, payloads, now).items():
            for order in by_platform[platform][start : start + ORDERS_PER_DELIVERY]:
                delivery_of[(platform, order.order_ref)] = delivery_id
    rows = _order_rows(session, recall.id, orders, delivery_of, now)
    for units in _chunks(fresh):
        # RETURNING makes SQLAlchemy batch the rows into multi-row INSERTs ("insertmanyvalues") on both databases;
        # a plain executemany is one statement per row on PostgreSQL.
        session.execute(
            insert(RecallOrderUnit.__table__).returning(RecallOrderUnit.id),
            [
                {"recall_id": recall.id, "order_id": rows[(s.platform, s.order_ref)], "unit_id": s.unit_id}
                for s in units
            ],
        ).all()
    return len(orders)


def _order_rows(
    session: Session,
    recall_id: int,
    orders: dict[tuple[str, str], _Order],
    delivery_of: dict[tuple[str, str], int],
    now: datetime,
) -> dict[tuple[str, str], int]:
    """Create the orders relayed for the first time, and mark those relayed again as unacknowledged; (platform,
    order_ref) -> row id."""
    # The recall's orders so far (none on its first relay), by the unique index's leading column.
    existing = session.execute(
        select(RecallOrder.id, RecallOrder.platform_id, RecallOrder.order_ref).where(RecallOrder.recall_id == recall_id)
    )
    known = {(platform, ref): row_id for row_id, platform, ref in existing if (platform, ref) in orders}
    if known:  # bulk UPDATE by primary key
        session.execute(
            update(RecallOrder),
            [
                {"id": row_id, "relayed_at": now, "acknowledged_at": None, "delivery_id": delivery_of.get(key)}
                for key, row_id in sorted(known.items())
            ],
        )
    new = [
        {
            "recall_id": recall_id,
            "platform_id": order.platform,
            "order_ref": order.order_ref,
            "seller_id": order.seller,
            "sold_at": order.sold_at,
            "notified_at": now,
            "relayed_at": now,
            "acknowledged_at": None,
            "delivery_id": delivery_of.get(key),
        }
        for key, order in sorted(orders.items())
        if key not in known
    ]
    created: dict[tuple[str, str], int] = {}
    for chunk in _chunks(new):
        # Batched into multi-row INSERTs on both databases (see above); rows come back in any order, so each
        # carries its key (in parameter order SQLite would go one row at a time).
        returned = session.execute(
            insert(RecallOrder.__table__).returning(RecallOrder.id, RecallOrder.platform_id, RecallOrder.order_ref),
            chunk,
        )
        created.update(((platform, ref), row_id) for row_id, platform, ref in returned)
    return known | created


# --- reading and acknowledging ---------------------------------------------------------------------------------


def _recall(session: Session, recall_id: int) -> Recall:
    recall = session.get(Recall, recall_id)
    if recall is None:
        raise NotFound(f"no recall {recall_id}", code="recall_not_found")
    return recall


def acknowledge_orders(session: Session, principal: Principal, recall_id: int, order_refs: list[str]) -> dict[str, Any]:
    """The platform acknowledges that it passed the recall on to the buyers of these orders: all or nothing.
    Orders relayed to another platform are refused (403); references relayed to nobody are refused (422)."""
    recall = _recall(session, recall_id)
    refs = sorted(set(order_refs))
    mine: dict[str, int] = {}
    elsewhere: set[str] = set()
    for chunk in _chunks(refs):
        for row_id, platform, ref in session.execute(
            select(RecallOrder.id, RecallOrder.platform_id, RecallOrder.order_ref).where(
                RecallOrder.recall_id == recall.id, RecallOrder.order_ref.in_(chunk)
            )
        ):
            if platform == principal.org_id:
                mine[ref] = row_id
            else:
                elsewhere.add(ref)
    foreign = [ref for ref in refs if ref in elsewhere and ref not in mine]
    if foreign:
        raise Forbidden(
            f"order {foreign[0]} of recall {recall.id} was relayed to another platform; a platform acknowledges "
            "only its own orders",
            code="foreign_order",
            order_refs=foreign,
        )
    unknown = [ref for ref in refs if ref not in mine]
    if unknown:
        raise InvalidInput(
            f"recall {recall.id} relayed no order {unknown[0]} to your organisation",
            code="unknown_order_ref",
            order_refs=unknown,
        )
    now = utcnow()
    ids = sorted(mine.values())
    for chunk in _chunks(ids):
        # The first acknowledgement stands: a concurrent one finds the row acknowledged and leaves it (PostgreSQL
        # re-reads the row after the other transaction's lock is released).
        session.execute(
            update(RecallOrder)
            .where(RecallOrder.id.in_(chunk), RecallOrder.acknowledged_at.is_(None))
            .values(acknowledged_at=now)
        )
    return {
        "recall_id": recall.id,
        "acknowledged": [
            {"order_ref": row.order_ref, "acknowledged_at": _iso(row.acknowledged_at)}
            for chunk in _chunks(ids)
            for row in session.scalars(
                select(RecallOrder)
                .where(RecallOrder.id.in_(chunk))
                .order_by(RecallOrder.order_ref)
                .execution_options(populate_existing=True)
            )
        ],
        "online_orders": counts(session, recall.id, platform=principal.org_id),
    }


def counts(session: Session, recall_id: int, *, platform: str | None = None) -> dict[str, int]:
    """``{"total", "acknowledged"}``: orders relayed and acknowledged, of one platform or of every one."""
    query = select(func.count(), func.count(RecallOrder.acknowledged_at)).where(RecallOrder.recall_id == recall_id)
    if platform is not None:
        query = query.where(RecallOrder.platform_id == platform)
    total, acknowledged = session.execute(query).one()
    return {"total": int(total), "acknowledged": int(acknowledged)}


def counts_by_platform(session: Session, recall_id: int) -> list[dict[str, Any]]:
    """Per platform: ``{"platform": {"id", "name"}, "total", "acknowledged"}``, most orders first."""
    rows = session.execute(
        select(RecallOrder.platform_id, Organisation.name, func.count(), func.count(RecallOrder.acknowledged_at))
        .join(Organisation, Organisation.id == RecallOrder.platform_id)
        .where(RecallOrder.recall_id == recall_id)
        .group_by(RecallOrder.platform_id, Organisation.name)
    ).all()
    return [
        {"platform": {"id": org, "name": name}, "total": int(total), "acknowledged": int(acked)}
        for org, name, total, acked in sorted(rows, key=lambda r: (-r[2], r[0]))
    ]


def orders_of(
    session: Session, principal: Principal, recall_id: int, *, limit: int, after: int | None
) -> dict[str, Any]:
    """The relayed orders with their units, oldest first, a page of ``limit`` after the row id ``after``: a
    regulator reads every platform's, any other organisation the orders relayed to it (none, for most)."""
    _recall(session, recall_id)
    query = select(RecallOrder).where(RecallOrder.recall_id == recall_id)
    if principal.role is not Role.REGULATOR:
        query = query.where(RecallOrder.platform_id == principal.org_id)
    if after is not None:
        query = query.where(RecallOrder.id > after)
    orders = list(session.scalars(query.order_by(RecallOrder.id).limit(limit)))
    # Two lookups by key, not one join: a planner that misjudges a freshly filled recall_order_unit would hash
    # the whole unit table (seconds at a million units on PostgreSQL).
    members: list[tuple[int, int]] = []
    for chunk in _chunks([o.id for o in orders]):
        members += [
            (order_id, unit_id)
            for order_id, unit_id in session.execute(
                select(RecallOrderUnit.order_id, RecallOrderUnit.unit_id)
                .where(RecallOrderUnit.order_id.in_(chunk))
                .order_by(RecallOrderUnit.id)
            )
        ]
    codes: dict[int, dict[str, str]] = {}
    for chunk in _chunks(sorted({unit_id for _, unit_id in members})):
        for unit_id, gtin, lot, serial in session.execute(
            select(Unit.id, Unit.gtin, Batch.lot, Unit.serial)
            .join(Batch, Batch.id == Unit.batch_id)
            .where(Unit.id.in_(chunk))
        ):
            codes[unit_id] = {"gtin": gtin, "lot": lot, "serial": serial}
    units: dict[int, list[dict[str, str]]] = defaultdict(list)
    for order_id, unit_id in members:
        units[order_id].append(codes[unit_id])
    return {
        "recall_id": recall_id,
        "orders": [
            {
                "id": o.id,
                "platform": o.platform_id,
                "order_ref": o.order_ref,
                "seller": o.seller_id,
                "sold_at": o.sold_at.isoformat(),
                "units": units[o.id],
                "notified_at": o.notified_at.isoformat(),
                "relayed_at": o.relayed_at.isoformat(),
                "acknowledged_at": _iso(o.acknowledged_at),
                "webhook": o.delivery_id is not None,
            }
            for o in orders
        ],
        "next_after": orders[-1].id if len(orders) == limit else None,
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
