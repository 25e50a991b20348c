"""One request's recording: what several of its events share (products, lots, organisations, recalls, the lot
counters' changes), and the writing of an accepted event: its row, its items, its log leaf, its counters."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from app.db import lot_counters
from app.db.lot_counters import Tally
from app.db.models import Batch, Event, EventItem, Organisation, Product, Unit
from app.domain.custody import Action, Custody
from app.domain.event_rules import EventIn, Policy, payload, sale_channel
from app.domain.leaf import LeafEvent, LeafItem
from app.domain.licences import LicenceTerm
from app.domain.recall import RecallScope
from app.services import log
from app.services.custody.subjects import Subject, effective_custody
from app.services.orgs import Principal, licence_terms
from app.services.recalls import scopes_for


@dataclass(frozen=True, slots=True)
class Occurrence:
    """The event being recorded: its row, its action, what was asked, and when it happened."""

    event: Event
    action: Action
    ev: EventIn
    at: datetime


class Recorder:
    """Records the events of one request; caches what several events of a list share."""

    def __init__(self, session: Session, principal: Principal, policy: Policy) -> None:
        self.session = session
        self.principal = principal
        self.policy = policy
        self._products: dict[str, Product] = {}
        self._batches: dict[int, Batch] = {}
        self._orgs: dict[str, Organisation | None] = {}
        self._licences: dict[str, list[LicenceTerm]] = {}
        self._recalls: dict[str, list[RecallScope]] = {}
        self._leaf_items: list[LeafItem] = []
        self.locked_units: dict[tuple[str, str], Unit] = {}
        self.tally = Tally()  # the lot counters' changes of the event being recorded
        # Units whose standing sales of one kind change: (unit, sale event, +1 sold / -1 undone), counted once
        # the event's items are written (a unit already sold that way, an open pack dispensed again, is not new).
        self.sales: list[tuple[Unit, Event, int]] = []
        # Of the units the event being recorded names loose, read for the whole event at once (not per unit):
        # those coming back to a receiver that shipped them (receive), those an active case names (sale).
        self.returning: set[int] = set()
        self.investigated: set[int] = set()

    @property
    def actor(self) -> str:
        return self.principal.org_id

    # ----------------------------------------------------------------------------------------- lookups

    def product(self, gtin: str) -> Product:
        if gtin not in self._products:
            product = self.session.get(Product, gtin)
            assert product is not None
            self._products[gtin] = product
        return self._products[gtin]

    def batch(self, batch_id: int) -> Batch:
        if batch_id not in self._batches:
            batch = self.session.get(Batch, batch_id)
            assert batch is not None
            self._batches[batch_id] = batch
        return self._batches[batch_id]

    def recalls_of(self, gtin: str, lot: str, serial: str) -> list[RecallScope]:
        if gtin not in self._recalls:
            self._recalls[gtin] = scopes_for(self.session.connection(), gtin)
        return [scope for scope in self._recalls[gtin] if scope.covers(lot, serial)]

    def org(self, org_id: str) -> Organisation | None:
        if org_id not in self._orgs:
            self._orgs[org_id] = self.session.get(Organisation, org_id)
        return self._orgs[org_id]

    def licence_terms(self, org_id: str) -> list[LicenceTerm]:
        if org_id not in self._licences:
            self._licences[org_id] = licence_terms(self.session, org_id)
        return self._licences[org_id]

    def custody(self, subject: Subject) -> Custody:
        """Effective custody: the outermost container's record for anything packed."""
        manufacturer = self.product(subject.unit.gtin).manufacturer_id if subject.unit is not None else None
        return effective_custody(self.session, subject, manufacturer)

    # ----------------------------------------------------------------------------------------- writing

    def start(self) -> None:
        """Forget the counted changes of the previous event."""
        self.tally.clear()
        self.sales = []
        self.returning = set()
        self.investigated = set()

    def event_row(self, action: Action, ev: EventIn, occurred_at: datetime) -> Event:
        me = self.org(self.actor)
        event = Event(
            org_id=self.actor,
            action=action.value,
            occurred_at=occurred_at,
            recorded_at=self.policy.now,
            region=ev.region or (me.region if me else None),
            to_id=ev.to,
            container_sscc=None,
            channel=sale_channel(action, ev),
            platform_id=ev.platform,
            order_ref=ev.order_ref,
            prescription_id=ev.prescription.id if ev.prescription else None,
            idempotency_key=ev.idempotency_key,
            payload=payload(ev),
        )
        self.session.add(event)
        self.session.flush()
        self._leaf_items = []
        return event

    def add_item(
        self, event: Event, unit: Unit | None, sscc: str | None, before: dict[str, Any], after: dict[str, Any]
    ) -> None:
        self.session.add(
            EventItem(
                event_id=event.id,
                unit_id=unit.id if unit is not None else None,
                container_sscc=sscc,
                before=before,
                after=after,
            )
        )
        self._leaf_items.append(
            LeafItem(f"{unit.gtin}/{unit.serial}" if unit is not None else None, sscc, before, after)
        )

    def logged(self, event: Event) -> int:
        """Append the accepted event to the Merkle log, from what this request just wrote; then write the lot
        counters (holding the log's size row by then: see app/db/lot_counters.py). The event's log index."""
        self.session.flush()
        self._count_sales()
        leaf = LeafEvent(
            event_id=event.id,
            org=event.org_id,
            action=event.action,
            occurred_at=event.occurred_at,
            recorded_at=event.recorded_at,
            region=event.region,
            to=event.to_id,
            container=event.container_sscc,
            channel=event.channel,
            platform=event.platform_id,
            order_ref=event.order_ref,
            prescription=event.prescription_id,
            undoes=event.undoes_event_id,
            items=self._leaf_items,
        )
        index = log.append(self.session, leaf, event)
        self.tally.flush(self.session.connection())
        return index

    def _count_sales(self) -> None:
        conn = self.session.connection()
        kinds: dict[tuple[int, int], list[Unit]] = {}
        for unit, sale, sign in self.sales:
            kinds.setdefault((sale.id, sign), []).append(unit)
        for (sale_id, sign), units in kinds.items():
            sale = self.session.get(Event, sale_id)
            assert sale is not None
            standing = lot_counters.with_standing_sale(
                conn,
                [u.id for u in units],
                action=sale.action,
                channel=sale.channel,
                platform=sale.platform_id,
                other_than=sale.id,
            )
            for unit in units:
                if unit.id not in standing:
                    self.tally.sale(unit.batch_id, sale.action, sale.channel, sale.platform_id, sign)
