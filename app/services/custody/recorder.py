"""One request's recording: what several of its events share (products, lots, organisations, recalls, the lot
counters' changes), and the writing of an accepted event: its row, its items, its log leaf, its counters."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from app.db import lot_counters
from app.db.bulk import copy_rows
from app.db.custody import (
    BatchRow,
    EventRow,
    OrgRow,
    ProductRow,
    UnitRow,
    WriteBatch,
    batch_row,
    insert_event,
    int_array,
    orgs_and_licences,
    pack_units,
    product_row,
    set_container,
    set_custody,
)
from app.db.log import try_sequencer_with
from app.db.lot_counters import Tally
from app.db.models import Container, Event, EventItem, Unit
from app.domain.custody import Action, Custody
from app.domain.event_rules import EventIn, Policy, payload, sale_channel
from app.domain.identifiers import ContainerCode, UnitCode
from app.domain.leaf import LeafEvent, LeafItem
from app.domain.licences import LicenceTerm
from app.domain.recall import RecallScope
from app.services import log
from app.services.custody.subjects import Subject, effective_custody
from app.services.orgs import Principal, licence_terms
from app.services.recalls import scopes_for

Recorded = Event | EventRow  # an event the recorder wrote


@dataclass(frozen=True, slots=True)
class Occurrence:
    """The event being recorded: its row, its action, what was asked, and when it happened."""

    event: Recorded
    action: Action
    ev: EventIn
    at: datetime


class Recorder:
    """Records the events of one request; caches what several events of a list share."""

    def __init__(self, session: Session, principal: Principal, policy: Policy) -> None:
        self.session = session
        self.principal = principal
        self.policy = policy
        # products, lots and organisations as plain rows (app/db/custody.py), not ORM objects: the rules read a
        # few columns of each, and nothing in a custody request changes them
        self._products: dict[str, ProductRow] = {}
        self._batches: dict[int, BatchRow] = {}
        self._orgs: dict[str, OrgRow | None] = {}
        self._licences: dict[str, list[LicenceTerm]] = {}
        self._recalls: dict[str, list[RecallScope]] = {}
        self._leaf_items: list[LeafItem] = []
        # The units the request locked, by code: plain rows (``UnitRow``) until an event on the per-unit lane takes
        # them as ORM objects (``unit_objects``), or ORM objects a caller locked (EPCIS capture).
        self.locked_units: dict[tuple[str, str], Unit | UnitRow] = {}
        self.codes: dict[str, UnitCode | ContainerCode] = {}  # the codes of the request, read once
        self.tally = Tally()  # the lot counters' changes of the event being recorded
        # Units whose standing sales of one kind change: (unit, sale event, +1 sold / -1 undone), counted once
        # the event's items are written (a unit already sold that way, an open pack dispensed again, is not new).
        self.sales: list[tuple[Unit, Recorded, int]] = []
        # Of the units the event being recorded names loose, read for the whole event at once (not per unit):
        # those coming back to a receiver that shipped them (receive), those an active case names (sale).
        self.returning: set[int] = set()
        self.investigated: set[int] = set()
        # The bulk lane (an event naming loose units only, see record.py): the unit rows' changes are staged here
        # and written set-based when the event is logged, one UPDATE per distinct record after (not per unit),
        # the event's items and containment rows by COPY / executemany. ``passed``: what the rules accepted for
        # this event, keyed by everything the rule reads, so a list repeats a decision, not the rule's queries.
        self.bulk = False
        self.passed: set[tuple[Any, ...]] = set()
        self._staged_custody: dict[Custody, list[Unit | UnitRow]] = {}
        self._staged_packing: dict[str, list[Unit | UnitRow]] = {}
        self._staged_items: list[tuple[int | None, str | None, str, str]] = []
        self._staged_links: list[tuple[int, str, int, int]] = []
        self._json: dict[Custody, tuple[dict[str, Any], str]] = {}
        self.chains: dict[str, list[Container]] = {}  # bulk lane: the containers packed into, with their parents
        # Bulk lane: the units decided together with the one being decided (itself first), as everything the rules
        # read of them is the same (record.py, ``_decide_list``); what the decision stages is staged for them all.
        self.alike: list[Unit | UnitRow] = []
        # Units the bulk lane wrote: ORM objects given their new values as committed state, and plain rows given
        # them (see forget_written).
        self._written: list[Unit | UnitRow] = []
        # The event being recorded is the transaction's last write before its commit (``POST /v1/events``' single
        # event, record.py ``_record_alone``): on PostgreSQL its writes try the log's sequencer lock too.
        self.last_writes = False
        self._events: list[Event] = []  # the event rows this recorder inserted (``event_row``, ``forget_events``)

    @property
    def actor(self) -> str:
        return self.principal.org_id

    # ----------------------------------------------------------------------------------------- lookups

    def product(self, gtin: str) -> ProductRow:
        found = self._products.get(gtin)
        if found is None:
            found = product_row(self.session.connection(), gtin)
            assert found is not None
            self._products[gtin] = found
        return found

    def know_product(self, product: ProductRow) -> None:
        """A product read with the request's unit lock (record.py ``_lock_rows``)."""
        self._products[product.gtin] = product

    def batch(self, batch_id: int) -> BatchRow:
        found = self._batches.get(batch_id)
        if found is None:
            found = batch_row(self.session.connection(), batch_id)
            assert found is not None
            self._batches[batch_id] = found
        return found

    def recalls_of(self, gtin: str, lot: str, serial: str) -> list[RecallScope]:
        return [scope for scope in self._recall_scopes(gtin) if scope.covers(lot, serial)]

    def has_recalls(self, gtin: str) -> bool:
        """Any recall of the product (a scope may name serials: then each unit is judged by itself)."""
        return bool(self._recall_scopes(gtin))

    def _recall_scopes(self, gtin: str) -> list[RecallScope]:
        if gtin not in self._recalls:
            self._recalls[gtin] = scopes_for(self.session.connection(), gtin)
        return self._recalls[gtin]

    def org(self, org_id: str) -> OrgRow | None:
        if org_id not in self._orgs:
            self.know_orgs([org_id])
        return self._orgs[org_id]

    def know_orgs(self, org_ids: list[str]) -> None:
        """Read these organisations and their licences' terms at once (``org`` and ``licence_terms`` then answer
        without a query); an id naming no organisation is remembered as none."""
        wanted = sorted({o for o in org_ids if o not in self._orgs})
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            rows = orgs_and_licences(self.session.connection(), chunk)
            found: dict[str, list[LicenceTerm]] = {}
            for org, kind, valid_from, valid_until, revoked_at in rows:
                self._orgs[org.id] = org
                terms = found.setdefault(org.id, [])
                if kind is not None:
                    terms.append(LicenceTerm(kind, valid_from, valid_until, revoked_at))
            for org_id in chunk:
                self._orgs.setdefault(org_id, None)
                self._licences.setdefault(org_id, found.get(org_id, []))

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
        self.bulk = False
        self.passed = set()
        self.chains = {}
        self.alike = []
        self._drop_staged()

    def _drop_staged(self) -> None:
        self._staged_custody = {}
        self._staged_packing = {}
        self._staged_items = []
        self._staged_links = []

    def event_row(self, action: Action, ev: EventIn, occurred_at: datetime) -> Recorded:
        """The event's row, inserted by one cached Core statement (not the ORM's unit of work: ~0.1-0.2 ms of a
        single event's CPU, docs/benchmarks.md). A packing's, an unpacking's or an undo's, which change it later
        (the container, the event undone), is given to the session as a loaded ORM object, its later changes
        flushed as updates; any other event's is a plain ``EventRow``."""
        me = self.org(self.actor)
        values: dict[str, Any] = {
            "org_id": self.actor,
            "action": action.value,
            "occurred_at": occurred_at,
            "recorded_at": self.policy.now,
            "region": ev.region or (me.region if me else None),
            "to_id": ev.to,
            "container_sscc": None,
            "channel": sale_channel(action, ev),
            "platform_id": ev.platform,
            "order_ref": ev.order_ref,
            "prescription_id": ev.prescription.id if ev.prescription else None,
            "idempotency_key": ev.idempotency_key,
            "undoes_event_id": None,
            "undone_by_event_id": None,
            "payload": payload(ev),
        }
        self.session.flush()  # what the request changed before comes first, as the ORM's flush of the row did
        event_id = insert_event(self.session.connection(), values)
        self._leaf_items = []
        if action not in _CHANGED_LATER:
            return EventRow(id=event_id, **values)
        event = Event(id=event_id, **values)  # every column set: nothing left for the ORM to load or to insert
        # Given to the session as a loaded row (public API: its attributes committed, persistent once added). An
        # object of a rolled-back event of this session may still hold the id (SQLite hands a rolled-back id out
        # again): it stands for no row, so it leaves the identity map first.
        stale = self.session.identity_map.get(identity_key(Event, event_id))
        if stale is not None:
            self.session.expunge(stale)
        make_transient_to_detached(event)
        self.session.add(event)
        self._events.append(event)
        return event

    def add_item(
        self, event: Recorded, unit: Unit | None, sscc: str | None, before: dict[str, Any], after: dict[str, Any]
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

    def _record_json(self, custody: Custody) -> tuple[dict[str, Any], str]:
        found = self._json.get(custody)
        if found is None:
            data = custody.to_json()
            found = self._json[custody] = (data, json.dumps(data))
        return found

    def units_alike(self, unit: Unit | UnitRow) -> list[Unit | UnitRow]:
        """The unit, and on the bulk lane the units decided with it."""
        return self.alike if self.alike else [unit]

    def stage_custody(self, unit: Unit | UnitRow, after: Custody) -> None:
        """Bulk lane: the unit's row (and its alike's) will hold ``after`` (as ``store`` would set it)."""
        self._staged_custody.setdefault(after, []).extend(self.units_alike(unit))

    def stage_packing(self, unit: Unit | UnitRow, event: Recorded, sscc: str) -> None:
        """Bulk lane: the loose unit (and its alike) go into container ``sscc`` (containment rows open at ``event``)."""
        units = self.units_alike(unit)
        self._staged_packing.setdefault(sscc, []).extend(units)
        self._staged_links.extend((u.id, sscc, event.id, u.batch_id) for u in units)

    def unit_objects(self, subjects: list[Subject], *, orm: bool) -> None:
        """Before an event is decided, its subjects' units as the lane needs them. ``orm`` (the per-unit lane):
        ORM objects, read afresh (the bulk lane may have changed the rows), kept for the rest of the request.
        Otherwise (the bulk lane): plain rows, except units an ORM object already stands for in the session
        (changed by an earlier event of the request, or read by undo or unpacking): that object, flushed."""
        rows = [s for s in subjects if isinstance(s.unit, UnitRow)]
        if not rows:
            return
        ids = sorted({s.unit.id for s in rows if s.unit is not None})
        if orm:
            objects: dict[int, Unit] = {}
            for start in range(0, len(ids), 500):
                query = select(Unit).where(Unit.id.in_(ids[start : start + 500]))
                objects.update((u.id, u) for u in self.session.scalars(query.execution_options(populate_existing=True)))
        else:
            present = _unit_ids_in(self.session).intersection(ids)
            if not present:
                return
            self.session.flush()
            objects = {i: u for i in present if (u := self.session.get(Unit, i)) is not None}
        for subject in rows:
            unit = subject.unit
            assert unit is not None
            if unit.id in objects:
                subject.unit = self.locked_units[(unit.gtin, unit.serial)] = objects[unit.id]

    def stage_items(self, units: list[Any], kind_of: list[int], decided: list[tuple[Custody, Custody]]) -> None:
        """Bulk lane: the event's items and leaf items for loose ``units`` in order (``add_item`` for the bulk lane),
        the records before and after of the i-th being ``decided[kind_of[i]]`` (each kind's JSON made once)."""
        texts = [(*self._record_json(before), *self._record_json(after)) for before, after in decided]
        items, leaves = self._staged_items, self._leaf_items
        for unit, kind in zip(units, kind_of, strict=False):
            before_data, before_text, after_data, after_text = texts[kind]
            items.append((unit.id, None, before_text, after_text))
            leaves.append(LeafItem(f"{unit.gtin}/{unit.serial}", None, before_data, after_data))

    def write_staged(self, event: Recorded, batch: WriteBatch | None = None) -> None:
        """Write what the bulk lane staged, set-based; the units it decided on are given the same values (an ORM
        object as committed state: nothing left for the ORM to flush), as later events of the request read them."""
        conn = self.session.connection()
        others = _unit_ids_in(self.session)  # ORM objects of these rows the bulk lane did not decide on: none so far
        for after, units in self._staged_custody.items():
            values = {
                "state": after.status.value,
                "holder_id": after.holder,
                "to_id": after.to,
                "previous": after.previous.value if after.previous else None,
            }
            set_custody(conn, sorted(u.id for u in units), values, batch)
            state, holder, to, previous = values["state"], values["holder_id"], values["to_id"], values["previous"]
            for unit in units:
                if type(unit) is UnitRow and unit.id not in others:  # the common case, without a call
                    unit.state, unit.holder_id, unit.to_id, unit.previous = state, holder, to, previous
                else:
                    _give(self.session, unit, values, others)
            self._written.extend(units)
        postgresql = conn.dialect.name == "postgresql"
        for sscc, units in self._staged_packing.items():
            if not postgresql:
                set_container(conn, sorted(u.id for u in units), sscc)
            for unit in units:
                _give(self.session, unit, {"container_sscc": sscc}, others)
            self._written.extend(units)
        if postgresql:  # the rows and their containment rows by one statement a container
            pack_units(conn, self._staged_links)
        else:
            copy_rows(
                conn, "containment", ("unit_id", "parent_sscc", "packed_event_id", "batch_id"), self._staged_links
            )
        self.write_staged_items(event, batch)
        self._drop_staged()

    def write_staged_items(self, event: Recorded, batch: WriteBatch | None = None) -> None:
        conn = self.session.connection()
        if conn.dialect.name == "postgresql" and self._staged_items:
            _pg_insert_items(conn, event.id, self._staged_items, batch)
        else:
            rows = [(event.id, *item) for item in self._staged_items]
            copy_rows(conn, "event_item", ("event_id", "unit_id", "container_sscc", "before", "after"), rows)
        self._staged_items = []

    def forget_events(self) -> None:
        """After a rollback: the event objects ``event_row`` gave the session leave it (the ORM expunges the objects
        it inserted itself when their transaction rolls back); those of events that still stand are read again
        when next asked for."""
        for event in self._events:
            if event in self.session:
                self.session.expunge(event)
        self._events = []

    def forget_written(self) -> None:
        """After a rollback: the unit objects the bulk lane wrote reload their rows when next read (the ORM
        expires only the objects it flushed itself), and its plain rows are read again."""
        self.forget_events()
        rows = {u.id: u for u in self._written if isinstance(u, UnitRow)}
        for unit in self._written:
            if not isinstance(unit, UnitRow):
                self.session.expire(unit)
        self._written = []
        ids = sorted(rows)
        for start in range(0, len(ids), 500):
            fresh = self.session.execute(
                select(Unit.id, Unit.state, Unit.holder_id, Unit.to_id, Unit.previous, Unit.container_sscc).where(
                    Unit.id.in_(ids[start : start + 500])
                )
            )
            for unit_id, state, holder_id, to_id, previous, container_sscc in fresh:
                row = rows[unit_id]
                row.state, row.holder_id, row.to_id = state, holder_id, to_id
                row.previous, row.container_sscc = previous, container_sscc

    def logged(self, event: Recorded) -> int | None:
        """Append the accepted event to the Merkle log, from what this request just wrote; then write the lot
        counters (app/db/lot_counters.py). The event's log index on SQLite (which appends in the event's
        transaction, holding the log's size row); None on PostgreSQL, where the leaf and the counters' changes
        commit pending and the index is known once the sequencer has integrated them (app/services/log.py)."""
        self.session.flush()
        conn = self.session.connection()
        # PostgreSQL: the event's plain writes (units, items, leaf, deltas) go as one statement, sent last; what
        # is read in between (the standing sales) reads other events' rows only
        batch = WriteBatch() if conn.dialect.name == "postgresql" else None
        self.write_staged(event, batch)
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
        index = log.append(self.session, leaf, event, batch)
        self.tally.flush(conn, batch)
        if batch is not None and self.last_writes:
            try_sequencer_with(self.session, batch)
        elif batch is not None:
            batch.send(conn)
        return index

    def _count_sales(self) -> None:
        conn = self.session.connection()
        kinds: dict[tuple[int, int], tuple[Recorded, list[Unit]]] = {}
        for unit, sale, sign in self.sales:
            kinds.setdefault((sale.id, sign), (sale, []))[1].append(unit)
        for sign_of, (sale, units) in kinds.items():
            sign = sign_of[1]
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


_CHANGED_LATER = frozenset({Action.PACK, Action.UNPACK, Action.UNDO})  # their event rows change after the insert

_PG_ITEMS = (
    'INSERT INTO event_item (event_id, unit_id, "before", "after") '
    "SELECT %s, k.unit_id, %s::json -> k.kind, %s::json -> k.kind "
    "FROM unnest(%s::bigint[], %s::int[]) AS k(unit_id, kind)"
)


def _pg_insert_items(
    conn: Any, event_id: int, items: list[tuple[int | None, str | None, str, str]], batch: WriteBatch | None = None
) -> None:
    """PostgreSQL: a list's items by one INSERT, whatever their number: the units and each one's kind (its pair of
    records) as two array literals, each distinct record sent once as an element of a JSON array (``->`` of a
    ``json`` value gives back the element's text as sent). Rows are written in the list's order. Items naming a
    container (none on the bulk lane) are written by COPY."""
    if any(item[1] is not None or item[0] is None for item in items):
        copy_rows(
            conn,
            "event_item",
            ("event_id", "unit_id", "container_sscc", "before", "after"),
            [(event_id, *i) for i in items],
        )
        return
    kinds: dict[tuple[str, str], int] = {}
    kind_of = [kinds.setdefault((before, after), len(kinds)) for _, _, before, after in items]
    params = (
        event_id,
        "[" + ",".join(before for before, _ in kinds) + "]",
        "[" + ",".join(after for _, after in kinds) + "]",
        int_array(unit_id for unit_id, *_ in items if unit_id is not None),  # every one is a unit (above)
        int_array(kind_of),
    )
    if batch is not None:
        batch.add(_PG_ITEMS, params)
    else:
        conn.exec_driver_sql(_PG_ITEMS, params)


def _unit_ids_in(session: Session) -> set[int]:
    """The ids of the units the session holds ORM objects of."""
    return {key[1][0] for key in list(session.identity_map.keys()) if key[0] is Unit}


def _give(session: Session, unit: Unit | UnitRow, values: dict[str, Any], others: set[int]) -> None:
    """A unit's row was written with ``values``: the same on what stands for it in the request."""
    if isinstance(unit, UnitRow):
        for key, value in values.items():
            setattr(unit, key, value)
        if unit.id not in others:
            return
        orm = session.get(Unit, unit.id)  # an ORM object of the same row, read by some other path: keep it true
        assert orm is not None
        unit = orm
    for key, value in values.items():
        set_committed_value(unit, key, value)
