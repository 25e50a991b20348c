"""Recording custody events: resolve the codes, decide through the state machine and the sale rules, persist.

A list is all-or-nothing (one savepoint) unless ``atomic`` is false; then events are applied in the order they
happened, each in its own savepoint, with a result apiece. A refusal that the rules alert on leaves its alert
even though the event itself is rolled back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db import lot_counters
from app.db.alerts import raise_alert
from app.db.custody import (
    close_containment,
    container_chain,
    last_sale,
    latest_item,
    load_containers,
    load_units,
    lock_everything,
)
from app.db.log import log_index_of
from app.db.lot_counters import NONE, CustodyKey, Tally
from app.db.models import (
    Batch,
    Container,
    Containment,
    Event,
    EventItem,
    Organisation,
    Prescription,
    Product,
    Unit,
)
from app.domain.custody import SALE_ACTIONS, UNDOABLE_ACTIONS, Action, Custody, Refused, Status, apply
from app.domain.errors import DomainError, Forbidden, InvalidInput, NotFound
from app.domain.identifiers import ContainerCode, UnitCode, parse_code
from app.domain.leaf import LeafEvent, LeafItem
from app.domain.recall import RecallScope
from app.domain.sale_rules import ALERT_FOR, Sale, check_sale
from app.domain.sale_rules import Prescription as PrescriptionFacts
from app.domain.triage import near_serials
from app.services import log
from app.services.orgs import Principal
from app.services.recalls import scopes_for

SEVERITY = {
    "repeat_sale": "high",
    "custody_violation": "medium",
    "unlicensed_sale": "high",
    "prescription_missing": "high",
    "expired_sale_attempt": "medium",
    "recalled_sale_attempt": "high",
}
UNIT_ONLY_ACTIONS = frozenset({Action.SELL, Action.DISPENSE, Action.OPEN, Action.RETURN, Action.RECYCLE})


@dataclass(frozen=True, slots=True)
class EventIn:
    action: str
    codes: list[str] = field(default_factory=list)
    occurred_at: datetime | None = None
    to: str | None = None
    region: str | None = None
    idempotency_key: str | None = None
    container: str | None = None
    channel: str | None = None
    platform: str | None = None
    order_ref: str | None = None
    prescription: PrescriptionFacts | None = None
    event_id: int | None = None


@dataclass(slots=True)
class Result:
    status: str  # accepted | duplicate | rejected
    event_id: int | None = None
    problem: DomainError | None = None
    log_index: int | None = None

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"status": self.status, "event_id": self.event_id, "log_index": self.log_index}
        if self.problem is not None:
            body["problem"] = {"code": self.problem.code, "detail": self.problem.detail, **self.problem.extra}
        return body


@dataclass(slots=True)
class Outcome:
    results: list[Result]
    error: DomainError | None = None  # an atomic list refused as a whole


@dataclass(frozen=True, slots=True)
class Policy:
    now: datetime
    undo_window: timedelta
    duplicate_window: timedelta


class _Duplicate(Exception):
    def __init__(self, event_id: int, log_index: int | None) -> None:
        self.event_id = event_id
        self.log_index = log_index


def _custody_of(row: Unit | Container, manufacturer: str | None) -> Custody:
    return Custody(
        Status(row.state),
        holder=row.holder_id or manufacturer,
        to=row.to_id,
        previous=Status(row.previous) if row.previous else None,
    )


def _store(row: Unit | Container, custody: Custody) -> None:
    row.state = custody.status.value
    row.holder_id = custody.holder
    row.to_id = custody.to
    row.previous = custody.previous.value if custody.previous else None


def _key(custody: Custody) -> CustodyKey:
    return (custody.status.value, custody.holder or NONE, custody.to or NONE)


def _as_json(custody: Custody) -> dict[str, Any]:
    return {
        "status": custody.status.value,
        "holder": custody.holder,
        "to": custody.to,
        "previous": custody.previous.value if custody.previous else None,
    }


def _from_json(data: dict[str, Any]) -> Custody:
    return Custody(
        Status(data["status"]),
        data["holder"],
        data["to"],
        Status(data["previous"]) if data["previous"] else None,
    )


@dataclass
class _Subject:
    text: str
    unit: Unit | None = None
    container: Container | None = None

    @property
    def row(self) -> Unit | Container:
        row = self.unit if self.unit is not None else self.container
        assert row is not None
        return row

    @property
    def parent(self) -> str | None:
        return self.unit.container_sscc if self.unit is not None else self.container.parent_sscc  # type: ignore[union-attr]


class _Recorder:
    """Records the events of one request; caches what several events of a list share."""

    def __init__(self, session: Session, principal: Principal, policy: Policy) -> None:
        self.session = session
        self.principal = principal
        self.policy = policy
        self._products: dict[str, Product] = {}
        self._batches: dict[int, Batch] = {}
        self._orgs: dict[str, Organisation | None] = {}
        self._leaf_items: list[LeafItem] = []
        self._recalls: dict[str, list[RecallScope]] = {}
        self.locked_units: dict[tuple[str, str], Unit] = {}
        self.tally = Tally()  # the lot counters' changes of the event being recorded
        # Units whose standing sales of one kind change: (unit, sale event, +1 sold / -1 undone), counted once
        # the event's items are written (a unit already sold that way, an open pack dispensed again, is not new).
        self._sales: list[tuple[Unit, Event, int]] = []

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

    def manufacturer_of(self, subject: _Subject) -> str | None:
        return self.product(subject.unit.gtin).manufacturer_id if subject.unit is not None else None

    def custody(self, subject: _Subject) -> Custody:
        """Effective custody: the outermost container's record for anything packed."""
        if subject.parent is not None:
            root = container_chain(self.session, subject.parent)[-1]
            return _custody_of(root, None)
        return _custody_of(subject.row, self.manufacturer_of(subject))

    # ----------------------------------------------------------------------------------------- subjects

    def resolve(self, codes: list[str]) -> list[_Subject]:
        parsed: list[tuple[str, UnitCode | ContainerCode]] = []
        for text in codes:
            try:
                parsed.append((text, parse_code(text)))
            except InvalidInput as error:
                raise type(error)(f"code {text!r}: {error.detail}", code=error.code) from None
        keys = [c.key for _, c in parsed if isinstance(c, UnitCode)]
        units = {k: self.locked_units[k] for k in keys if k in self.locked_units}
        units.update(load_units(self.session, [k for k in keys if k not in units]))
        containers = load_containers(self.session, [c.sscc for _, c in parsed if isinstance(c, ContainerCode)])
        subjects: list[_Subject] = []
        seen: set[object] = set()
        for text, code in parsed:
            key = code.key if isinstance(code, UnitCode) else code.sscc
            if key in seen:
                raise InvalidInput(f"code {text!r} is listed twice in one event", code="duplicate_code")
            seen.add(key)
            if isinstance(code, UnitCode):
                unit = units.get(code.key)
                if unit is None:
                    raise self._unknown(text, code)
                subjects.append(_Subject(text, unit=unit))
            else:
                container = containers.get(code.sscc)
                if container is None:
                    raise NotFound(f"container {code.sscc} is unknown", code="unknown_container", unit=text)
                subjects.append(_Subject(text, container=container))
        return subjects

    def _unknown(self, text: str, code: UnitCode) -> NotFound:
        """An event naming a code never issued: a mis-scan one slip away from a real serial is said as such and
        raises no alert; otherwise, for a product registered here, it is an ``unknown_code`` alert."""
        near = near_serials(code.serial)
        hits = self.session.scalars(select(Unit.serial).where(Unit.gtin == code.gtin, Unit.serial.in_(near))).all()
        if hits:
            return NotFound(
                f"code {text!r} was never issued; it is one slip away from a serial that was "
                "(a mis-scan? scan the pack again)",
                code="unknown_code",
                unit=text,
                triage="misscan",
            )
        error = NotFound(f"code {text!r} was never issued", code="unknown_code", unit=text)
        if self.session.get(Product, code.gtin) is not None:
            error.alerts = [  # type: ignore[attr-defined]
                {
                    "type": "unknown_code",
                    "unit": None,
                    "gtin": code.gtin,
                    "serial": code.serial,
                    "details": {
                        "reason": "an event named a code of a registered product that was never issued, and "
                        "not one slip away from an issued serial",
                        "code": text,
                        "attempted_by": self.principal.org_id,
                        "candidates_checked": len(near),
                    },
                }
            ]
        return error

    def lots(self, subject: _Subject) -> dict[int, int]:
        """Units of each lot the subject stands for: a unit its own, a container everything inside it."""
        if subject.unit is not None:
            return {subject.unit.batch_id: 1}
        assert subject.container is not None
        sscc = subject.container.sscc
        found = lot_counters.container_lots(self.session.connection(), sscc)
        for batch_id, n in self.tally.pending(sscc).items():
            found[batch_id] = found.get(batch_id, 0) + n
        return {batch_id: n for batch_id, n in found.items() if n}

    def detach(self, subject: _Subject, event_id: int) -> None:
        """Take a unit or container out of its container, carrying the container's custody with it."""
        if subject.parent is None:
            return
        chain = container_chain(self.session, subject.parent)
        custody = _custody_of(chain[-1], None)
        self.tally.pack([c.sscc for c in chain], self.lots(subject), -1)
        if subject.unit is not None:
            close_containment(self.session, event_id=event_id, unit_id=subject.unit.id)
            subject.unit.container_sscc = None
        else:
            assert subject.container is not None
            close_containment(self.session, event_id=event_id, sscc=subject.container.sscc)
            subject.container.parent_sscc = None
        _store(subject.row, custody)

    # ----------------------------------------------------------------------------------------- events

    def record(self, ev: EventIn) -> Result:
        try:
            action = Action(ev.action)
        except ValueError:
            raise InvalidInput(f"unknown action {ev.action!r}", code="invalid_action") from None
        if ev.idempotency_key:
            prior = self.session.scalar(
                select(Event.id).where(
                    Event.org_id == self.principal.org_id, Event.idempotency_key == ev.idempotency_key
                )
            )
            if prior is not None:
                return Result("duplicate", prior, log_index=log_index_of(self.session, prior))
        occurred_at = ev.occurred_at or self.policy.now
        if occurred_at > self.policy.now + timedelta(minutes=5):
            raise InvalidInput("occurred_at is in the future", code="occurred_in_future")
        if occurred_at.year < 2000:
            raise InvalidInput("occurred_at is before the year 2000", code="occurred_too_early")
        self.tally.clear()
        self._sales = []
        if action is Action.UNDO:
            return self._undo(ev, occurred_at)
        if not ev.codes:
            raise InvalidInput("an event needs at least one code", code="codes_required")
        self._check_event_fields(action, ev)
        subjects = self.resolve(ev.codes)
        event = self._event_row(action, ev, occurred_at)
        try:
            for subject in subjects:
                self._apply(event, action, ev, subject, occurred_at)
        except Refused as refusal:
            self._maybe_duplicate(action, subjects, occurred_at)
            raise refusal
        return self._logged(event)

    def _check_event_fields(self, action: Action, ev: EventIn) -> None:
        if action is Action.SHIP:
            if not ev.to:
                raise InvalidInput(
                    "a shipment needs 'to': the receiving organisation's id", code="destination_required"
                )
            if self.org(ev.to) is None:
                raise NotFound(f"no organisation {ev.to}", code="org_not_found")
        if action is Action.PACK and not ev.container:
            raise InvalidInput("pack needs 'container': the SSCC of the case or pallet", code="container_required")
        if action is Action.SELL:
            if ev.channel not in ("offline", "online"):
                raise InvalidInput("a sale needs 'channel': 'offline' or 'online'", code="channel_required")
            if ev.channel == "online" and (not ev.platform or not ev.order_ref):
                raise InvalidInput("an online sale needs 'platform' and 'order_ref'", code="online_details_required")
        if ev.prescription is not None and ev.prescription.issued_at.tzinfo is None:
            raise InvalidInput("prescription.issued_at needs a time zone", code="invalid_time")

    def _event_row(self, action: Action, ev: EventIn, occurred_at: datetime) -> Event:
        me = self.org(self.principal.org_id)
        event = Event(
            org_id=self.principal.org_id,
            action=action.value,
            occurred_at=occurred_at,
            recorded_at=self.policy.now,
            region=ev.region or (me.region if me else None),
            to_id=ev.to,
            container_sscc=None,
            channel=ev.channel if action is Action.SELL else ("offline" if action is Action.DISPENSE else None),
            platform_id=ev.platform,
            order_ref=ev.order_ref,
            prescription_id=ev.prescription.id if ev.prescription else None,
            idempotency_key=ev.idempotency_key,
            payload=_payload(ev),
        )
        self.session.add(event)
        self.session.flush()
        self._leaf_items = []
        return event

    def _add_item(
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

    def _logged(self, event: Event) -> Result:
        """Append the accepted event to the Merkle log, from what this request just wrote; then write the lot
        counters (holding the log's size row by then: see app/db/lot_counters.py)."""
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
        return Result("accepted", event.id, log_index=index)

    def _count_sales(self) -> None:
        conn = self.session.connection()
        kinds: dict[tuple[int, int], list[Unit]] = {}
        for unit, sale, sign in self._sales:
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

    def _count(self, event: Event, action: Action, subject: _Subject, before: Custody, after: Custody) -> None:
        lots = self.lots(subject)
        self.tally.move(lots, _key(before), _key(after))
        if action is Action.SHIP:
            self.tally.ship(lots, self.principal.org_id, event.to_id or NONE)
        elif action.value in lot_counters.RECOVERY_ACTIONS:
            self.tally.recover(lots, action.value)
        elif action in SALE_ACTIONS and subject.unit is not None:
            self._sales.append((subject.unit, event, 1))

    def _apply(self, event: Event, action: Action, ev: EventIn, subject: _Subject, occurred_at: datetime) -> None:
        if action in UNIT_ONLY_ACTIONS and subject.unit is None:
            raise InvalidInput(f"{action.value} applies to units, not to container {subject.text}", code="not_a_unit")
        before = self.custody(subject)
        try:
            if action is Action.PACK:
                after = self._pack(event, ev, subject, before)
            elif action is Action.UNPACK:
                after = self._unpack(event, subject, before)
            else:
                after = apply(before, action, self.principal.org_id, ev.to)
                if action in SALE_ACTIONS:
                    self._check_sale(event, action, ev, subject, occurred_at)
                self.detach(subject, event.id)
                _store(subject.row, after)
                self._count(event, action, subject, before, after)
        except Refused as refusal:
            refusal.extra.setdefault("unit", subject.text)
            refusal.detail = f"{subject.text}: {refusal.detail}"
            self._alert_for(refusal, action, subject)
            raise
        self._add_item(
            event,
            subject.unit,
            subject.container.sscc if subject.container is not None else None,
            _as_json(before),
            _as_json(after),
        )

    def _pack(self, event: Event, ev: EventIn, subject: _Subject, before: Custody) -> Custody:
        code = parse_code(ev.container or "")
        if not isinstance(code, ContainerCode):
            raise InvalidInput("'container' must be an SSCC: (00){sscc} or https://host/00/{sscc}", code="invalid_sscc")
        event.container_sscc = code.sscc
        target = self.session.get(Container, code.sscc)
        chain: list[Container]
        if target is None:
            target = Container(
                sscc=code.sscc,
                state=Status.HELD.value,
                holder_id=self.principal.org_id,
                created_at=self.policy.now,
            )
            self.session.add(target)
            self.session.flush()
            chain = [target]
        else:
            chain = container_chain(self.session, code.sscc)
            apply(_custody_of(chain[-1], None), Action.PACK, self.principal.org_id)
            if subject.container is not None and subject.container.sscc in {c.sscc for c in chain}:
                raise Refused(f"container {code.sscc} cannot go inside itself", code="container_cycle")
        if subject.parent == code.sscc:
            raise Refused(f"{subject.text} is already in container {code.sscc}", code="already_packed")
        apply(before, Action.PACK, self.principal.org_id)
        self.detach(subject, event.id)
        lots = self.lots(subject)
        self.tally.pack([c.sscc for c in chain], lots, 1)
        self.tally.move(lots, _key(before), _key(_custody_of(chain[-1], None)))  # now the outermost one's
        if subject.unit is not None:
            subject.unit.container_sscc = code.sscc
        else:
            assert subject.container is not None
            subject.container.parent_sscc = code.sscc
        self.session.add(
            Containment(
                unit_id=subject.unit.id if subject.unit is not None else None,
                child_sscc=subject.container.sscc if subject.container is not None else None,
                parent_sscc=code.sscc,
                packed_event_id=event.id,
                batch_id=subject.unit.batch_id if subject.unit is not None else None,
            )
        )
        return before

    def _unpack(self, event: Event, subject: _Subject, before: Custody) -> Custody:
        if subject.container is None:
            raise InvalidInput(f"unpack takes a container; {subject.text} is a unit", code="not_a_container")
        apply(before, Action.UNPACK, self.principal.org_id)
        self.detach(subject, event.id)
        sscc = subject.container.sscc
        self.tally.empty(sscc, self.lots(subject))  # what was inside keeps its custody, now on its own
        for unit in self.session.scalars(select(Unit).where(Unit.container_sscc == sscc).with_for_update()):
            unit.container_sscc = None
            _store(unit, before)
        for child in self.session.scalars(select(Container).where(Container.parent_sscc == sscc).with_for_update()):
            child.parent_sscc = None
            _store(child, before)
        self.session.flush()
        open_links = select(Containment).where(Containment.parent_sscc == sscc, Containment.unpacked_event_id.is_(None))
        for link in self.session.scalars(open_links):
            link.unpacked_event_id = event.id
        return before

    def _check_sale(self, event: Event, action: Action, ev: EventIn, subject: _Subject, occurred_at: datetime) -> None:
        unit = subject.unit
        assert unit is not None
        platform = self.org(ev.platform) if ev.platform else None
        batch = self.batch(unit.batch_id)
        if self.recalls_of(unit.gtin, batch.lot, unit.serial):
            raise Refused("this unit is recalled and may not be sold or dispensed", code="recalled")
        recorded = self.session.get(Prescription, ev.prescription.id) if ev.prescription is not None else None
        used = recorded is not None and recorded.event_id != event.id
        check_sale(
            Sale(
                action=action,
                category=self.product(unit.gtin).category,
                expires_on=self.batch(unit.batch_id).expires_on,
                occurred_at=occurred_at,
                seller_licences=self.principal.licences,
                channel=ev.channel or "offline",
                platform_role=platform.role if platform else None,
                platform_named=bool(ev.platform),
                prescription=ev.prescription,
                prescription_used_elsewhere=used,
            )
        )
        if ev.prescription is not None and recorded is None:
            self.session.add(
                Prescription(
                    id=ev.prescription.id,
                    prescriber=ev.prescription.prescriber,
                    issued_at=ev.prescription.issued_at,
                    event_id=event.id,
                )
            )
            self.session.flush()

    def _maybe_duplicate(self, action: Action, subjects: list[_Subject], occurred_at: datetime) -> None:
        """A refusal caused by the same organisation repeating itself within seconds is a duplicate.

        "Within seconds" is measured between the two events' own times, so a till replaying a day of
        offline sales is judged by when each sale happened, not by when it arrived."""
        earlier: set[tuple[int, int | None]] = set()
        for subject in subjects:
            found = latest_item(
                self.session,
                unit_id=subject.unit.id if subject.unit is not None else None,
                sscc=subject.container.sscc if subject.container is not None else None,
            )
            if found is None:
                return
            _, event = found
            recent = abs(occurred_at - event.occurred_at) <= self.policy.duplicate_window
            if event.org_id != self.principal.org_id or event.action != action.value or not recent:
                return
            earlier.add((event.id, log_index_of(self.session, event.id)))
        if len(earlier) == 1:
            raise _Duplicate(*earlier.pop())

    def _alert_for(self, refusal: Refused, action: Action, subject: _Subject) -> None:
        kind = ALERT_FOR.get(refusal.code)
        # The sale alerts are about sale attempts (a ship refused as already_sold is not a resale); custody
        # violations are a sale by someone who never held the unit, or a receipt nobody shipped.
        allowed = (*SALE_ACTIONS, Action.RECEIVE) if kind == "custody_violation" else SALE_ACTIONS
        if kind is None or action not in allowed:
            return
        details: dict[str, Any] = {
            "reason": refusal.detail,
            "refusal": refusal.code,
            "action": action.value,
            "attempted_by": self.principal.org_id,
            "code": subject.text,
        }
        if kind == "repeat_sale" and subject.unit is not None:
            first = last_sale(self.session, subject.unit.id)
            if first is not None:
                details["first_sale"] = {
                    "at": first.occurred_at.isoformat(),
                    "channel": first.channel,
                    "region": first.region,
                    "event_id": first.id,
                }
        refusal.alerts = [  # type: ignore[attr-defined]
            {"type": kind, "unit": subject.unit, "details": details}
        ]

    # ----------------------------------------------------------------------------------------- undo

    def _undo(self, ev: EventIn, occurred_at: datetime) -> Result:
        if ev.event_id is None:
            raise InvalidInput("undo needs 'event_id'", code="event_id_required")
        target = self.session.get(Event, ev.event_id)
        if target is None:
            raise NotFound(f"no event {ev.event_id}", code="event_not_found")
        if target.org_id != self.principal.org_id:
            raise Forbidden("only the organisation that recorded an event may undo it", code="foreign_event")
        if Action(target.action) not in UNDOABLE_ACTIONS:
            raise Refused(f"a {target.action} event cannot be undone", code="not_undoable")
        if target.undone_by_event_id is not None:
            raise Refused(f"event {target.id} is already undone", code="already_undone")
        if self.policy.now - target.recorded_at > self.policy.undo_window:
            raise Refused(f"event {target.id} is older than the undo window", code="undo_window_passed")
        items = self.session.scalars(select(EventItem).where(EventItem.event_id == target.id).order_by(EventItem.id))
        event = self._event_row(Action.UNDO, ev, occurred_at)
        for item in list(items):
            unit = (
                self.session.scalar(select(Unit).where(Unit.id == item.unit_id).with_for_update())
                if item.unit_id
                else None
            )
            container = self.session.get(Container, item.container_sscc) if item.container_sscc else None
            subject = _Subject(unit.serial if unit else str(item.container_sscc), unit=unit, container=container)
            current = self.custody(subject)
            if current != _from_json(item.after):
                raise Refused(f"{subject.text} has moved on since event {target.id}", code="superseded")
            if unit is not None and self.batch(unit.batch_id).expires_on < occurred_at.date():
                raise Refused(f"{subject.text} has expired; its decommissioning stands", code="expired")
            restored = _from_json(item.before)
            self.detach(subject, event.id)
            _store(subject.row, restored)
            self.tally.move(self.lots(subject), _key(current), _key(restored))
            if unit is not None and Action(target.action) in SALE_ACTIONS:
                self._sales.append((unit, target, -1))
            self._add_item(event, unit, item.container_sscc, item.after, item.before)
        target.undone_by_event_id = event.id
        event.undoes_event_id = target.id
        if target.prescription_id:
            prescription = self.session.get(Prescription, target.prescription_id)
            if prescription is not None:
                self.session.delete(prescription)
        return self._logged(event)


def _payload(ev: EventIn) -> dict[str, Any]:
    body: dict[str, Any] = {"action": ev.action}
    for name in (
        "codes",
        "to",
        "region",
        "idempotency_key",
        "container",
        "channel",
        "platform",
        "order_ref",
        "event_id",
    ):
        value = getattr(ev, name)
        if value not in (None, []):
            body[name] = value
    if ev.occurred_at is not None:
        body["occurred_at"] = ev.occurred_at.isoformat()
    if ev.prescription is not None:
        body["prescription"] = {
            "id": ev.prescription.id,
            "prescriber": ev.prescription.prescriber,
            "issued_at": ev.prescription.issued_at.isoformat(),
        }
    return body


def write_alerts(session: Session, principal: Principal, error: DomainError, now: datetime) -> None:
    alerts = getattr(error, "alerts", ())
    if not alerts:
        return
    region = session.scalar(select(Organisation.region).where(Organisation.id == principal.org_id))
    for alert in alerts:
        unit: Unit | None = alert["unit"]
        alert_id = raise_alert(  # a repeat of an open alert of the same code and kind counts on that alert
            session,
            type_=alert["type"],
            severity=SEVERITY.get(alert["type"], "medium"),
            at=now,
            details=alert["details"],
            unit_id=unit.id if unit is not None else None,
            gtin=unit.gtin if unit is not None else alert.get("gtin"),
            serial=unit.serial if unit is not None else alert.get("serial"),
            org_id=principal.org_id,
            region=alert["details"].get("region") or region,
        )
        error.extra.setdefault("alert_id", alert_id)


def _record_one(session: Session, recorder: _Recorder, ev: EventIn) -> Result:
    savepoint = session.begin_nested()
    try:
        result = recorder.record(ev)
    except _Duplicate as duplicate:
        savepoint.rollback()
        return Result("duplicate", duplicate.event_id, log_index=duplicate.log_index)
    except BaseException:
        savepoint.rollback()
        raise
    savepoint.commit()
    return result


def _lock_rows(session: Session, events: list[EventIn]) -> dict[tuple[str, str], Unit]:
    unit_keys: list[tuple[str, str]] = []
    ssccs: list[str] = []
    for ev in events:
        for text in [*ev.codes, *([ev.container] if ev.container else [])]:
            try:
                code = parse_code(text)
            except InvalidInput:
                continue  # reported when the event is recorded
            if isinstance(code, UnitCode):
                unit_keys.append(code.key)
            else:
                ssccs.append(code.sscc)
    return lock_everything(session, unit_keys, ssccs)


def record_events(
    session: Session,
    principal: Principal,
    events: list[EventIn],
    *,
    atomic: bool,
    policy: Policy,
    locked: dict[tuple[str, str], Unit] | None = None,
) -> Outcome:
    """``locked``: the units a caller already locked with ``lock_everything`` for these events (EPCIS capture
    locks a whole document's rows at once); otherwise they are locked here."""
    recorder = _Recorder(session, principal, policy)
    recorder.locked_units = locked if locked is not None else _lock_rows(session, events)
    if atomic:
        results: list[Result] = []
        savepoint = session.begin_nested()
        try:
            for ev in events:
                results.append(_record_one(session, recorder, ev))
        except DomainError as error:
            savepoint.rollback()
            if len(events) > 1:
                error.extra.setdefault("index", len(results))
            write_alerts(session, principal, error, policy.now)
            return Outcome(results=[], error=error)
        savepoint.commit()
        return Outcome(results)

    by_index: dict[int, Result] = {}
    for index in sorted(range(len(events)), key=lambda i: (events[i].occurred_at or policy.now, i)):
        try:
            by_index[index] = _record_one(session, recorder, events[index])
        except DomainError as error:
            write_alerts(session, principal, error, policy.now)
            by_index[index] = Result("rejected", problem=error)
    return Outcome([by_index[i] for i in range(len(events))])
