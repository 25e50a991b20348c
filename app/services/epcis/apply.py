"""One captured event: kept as sent (findable by eventID and CBV 2.0 hash), and its custody meaning applied.

:class:`EventCapture` stores one schema-valid event of a job and applies what it means
(:func:`app.domain.epcis.custody_meaning`): an action goes through the very code that records ``/v1/events``
(same rules, same refusal codes, same alerts, same log); commissioning registers identifiers Passport never
issued as the manufacturer's externally serialised units; a recalled disposition opens a recall, or, sent by a
holder, locks the units. Identifiers or parties unknown here make the event *external*: kept, queryable, flagged
in ``notes``, changing no custody. The transaction and its savepoints belong to :mod:`.run`.

Most events of a large document are plain moves (a shipment, a receipt, a sale of units Passport knows): those
take the *batch lane*. :meth:`EventCapture.plan` turns such an event into the ``/v1/events`` event it stands for
without writing anything, and :meth:`EventCapture.record_planned` records a run of them with one
``record_events`` list (one recorder: its organisation, licence and product lookups once) and stores their EPCIS
rows with one insert per table. Any other event (commissioning, a recall, packing, an error declaration, an event
seen before, one whose identifiers or parties are unknown here, one that would be refused) is captured alone by
:meth:`EventCapture.capture`, as before; :mod:`.run` falls back to it, event by event, when a batch fails.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, insert, or_, select
from sqlalchemy.orm import Session

from app.db.custody import UnitRow, load_containers, load_units, unit_rows
from app.db.models import Batch, Container, EpcisCapture, EpcisEpc, EpcisEvent, Issuance, Organisation, Product, Unit
from app.db.units import insert_units
from app.domain import epcis_fields as fields
from app.domain.custody import Action
from app.domain.epcis import (
    CustodyOutcome,
    Identifier,
    Meaning,
    MeaningKind,
    bare_word,
    canonical_gtin_uri,
    canonical_sscc_uri,
    custody_meaning,
)
from app.domain.epcis_fields import EpcRole, RecordKind, Role
from app.domain.errors import InvalidInput
from app.domain.event_rules import ResultStatus
from app.domain.recall import RECALLERS
from app.services.custody import EventIn, Policy, record_events
from app.services.epcis import cn
from app.services.orgs import Principal
from app.services.recalls import create_recall

UnitKey = tuple[str, str]
_IN_LIST = 500  # keys per IN (...) of a lookup


@dataclass(slots=True)
class Planned:
    """An event of the batch lane: what :meth:`EventCapture.plan` read of it, and the native event it stands for."""

    index: int  # in the document
    event: dict[str, Any]
    event_hash: str
    event_id: str
    ids: list[Role]
    native: EventIn


@dataclass(slots=True)
class Stored:
    """What a captured event became (for the job's warnings)."""

    index: int
    event_id: str
    custody: CustodyOutcome
    notes: list[str]


class EventCapture:
    """Captures the events of one transaction of a job, one at a time (each in a savepoint :mod:`.run` opens)."""

    def __init__(
        self,
        session: Session,
        principal: Principal,
        policy: Policy,
        job: EpcisCapture,
        locked: dict[UnitKey, Unit | UnitRow],
    ) -> None:
        self.session = session
        self.principal = principal
        self.policy = policy
        self.job = job
        self._record_time = policy.now.isoformat().replace("+00:00", "Z")  # as the stored documents say it
        self._orgs_by_gln: dict[str, str | None] = {}
        # Ids of units seen to exist (for the identifier rows); forgotten when an event is rolled back.
        self.unit_ids: dict[UnitKey, int] = {}
        # The units of this transaction's events, locked up front as plain rows (see run._lock_rows), as a
        # /v1/events list locks its own: the recorder decides and writes them without the ORM (an ORM object
        # stands for a row only where some event needed one, e.g. commissioning or packing).
        self.locked_units = locked
        # The CBV hashes and eventIDs (kind event) that the batch lane must leave to :meth:`capture`: stored before
        # this transaction (read by :meth:`prefetch`) or met in it (see :meth:`plan`).
        self._hashes: set[str] = set()
        self._ids: set[str] = set()
        # What the last captured event became, for the job's warnings.
        self.event_id = ""
        self.custody = CustodyOutcome.NONE
        self.notes: list[str] = []

    def org_by_gln(self, gln: str) -> str | None:
        if gln not in self._orgs_by_gln:
            self._orgs_by_gln[gln] = self.session.scalar(select(Organisation.id).where(Organisation.gln == gln))
        return self._orgs_by_gln[gln]

    def is_duplicate(self, event: dict[str, Any], event_hash: str) -> bool:
        """After a unique-constraint race: was this very event stored by another job meanwhile?"""
        event_id = event.get("eventID") or event_hash
        stored = self.session.scalar(
            select(EpcisEvent.id).where(
                EpcisEvent.event_hash == event_hash,
                EpcisEvent.kind == RecordKind.EVENT,
                EpcisEvent.event_id == event_id,
            )
        )
        return stored is not None

    def capture(self, event: dict[str, Any], event_hash: str, context: list[Any] | None) -> bool:
        """Store one valid event and apply its custody meaning; False if it was a duplicate. Raises DomainError."""
        kind = fields.record_kind(event)
        event_id = event.get("eventID") or event_hash
        known = self.session.execute(
            select(EpcisEvent.event_hash, EpcisEvent.event_id).where(
                EpcisEvent.kind == kind, or_(EpcisEvent.event_hash == event_hash, EpcisEvent.event_id == event_id)
            )
        ).all()
        same = [row for row in known if row.event_hash == event_hash]
        if kind is RecordKind.ERROR_DECLARATION:  # the hash leaves the declaration out: compare it too
            declarations = self.session.scalars(
                select(EpcisEvent.document).where(EpcisEvent.event_hash == event_hash, EpcisEvent.kind == kind)
            )
            if any(d.get("errorDeclaration") == event["errorDeclaration"] for d in declarations):
                return False
        elif any(row.event_id == event_id or "eventID" not in event for row in same):
            return False
        taken = next((row.event_hash for row in known if row.event_hash != event_hash), None)
        if taken is not None:
            raise InvalidInput(
                f"eventID {event_id} was already captured for a different event (CBV hash {taken})",
                code="event_id_taken",
            )
        ids = cn.resolve(self.session, fields.identifiers(event))
        fields.check_lengths(event, event_id, ids)
        notes: list[str] = []
        native_id: int | None = None
        if kind is RecordKind.ERROR_DECLARATION:
            meaning = Meaning(MeaningKind.NONE, why="an error declaration")
        elif same:  # the same event (CBV hash) under another eventID: findable by both, applied once
            meaning = Meaning(MeaningKind.NONE)
            notes.append(f"the same event as {same[0].event_id} (equal CBV 2.0 hash): custody applied once")
        else:
            meaning = custody_meaning(event)
        custody, native_id = self._apply(event, meaning, ids, notes)
        if kind is RecordKind.ERROR_DECLARATION:
            notes.append("error declaration: kept beside the event it declares wrong; custody is unchanged")
        row = EpcisEvent(**self._row(event, event_hash, event_id, kind, custody, native_id, notes, context))
        self.session.add(row)
        self.session.flush()
        self.session.add_all(EpcisEpc(**values) for values in self._epc_rows(row.id, ids))
        self.event_id, self.custody, self.notes = event_id, custody, notes
        return True

    def _row(
        self,
        event: dict[str, Any],
        event_hash: str,
        event_id: str,
        kind: RecordKind,
        custody: CustodyOutcome,
        native_id: int | None,
        notes: list[str],
        context: list[Any] | None,
        event_time: datetime | None = None,
    ) -> dict[str, Any]:
        """The stored event's column values (``event_time``: its eventTime in UTC, if already read)."""
        document = dict(event)
        document["eventID"] = event_id
        document["recordTime"] = self._record_time
        return {
            "event_id": event_id,
            "event_hash": event_hash,
            "kind": kind,
            "type": event["type"],
            "action": event.get("action"),
            "biz_step": bare_word(event.get("bizStep")),
            "disposition": bare_word(event.get("disposition")),
            "event_time": event_time or fields.to_utc(event["eventTime"]),
            "record_time": self.policy.now,
            "read_point": fields.location(event, "readPoint"),
            "biz_location": fields.location(event, "bizLocation"),
            "org_id": self.principal.org_id,
            "capture_id": self.job.id,
            "native_event_id": native_id,
            "custody": custody,
            "notes": notes,
            "document": document,
            "context": context,
        }

    def _epc_rows(self, row_id: int, ids: list[Role]) -> list[dict[str, Any]]:
        """The column values of the identifier rows of stored event ``row_id``."""
        units = self._unit_ids([key for _, i in ids if (key := i.unit_key) is not None])
        return [
            {
                "epcis_event_id": row_id,
                "role": role,
                "epc": ident.canonical,
                "gtin": ident.gtin,
                "unit_id": units.get(ident.unit_key) if ident.unit_key is not None else None,
            }
            for role, ident in ids
        ]

    # ----------------------------------------------------------------------------------------- batch lane

    def prefetch(self, events: list[tuple[dict[str, Any], str]]) -> None:
        """Read once, for the (event, CBV hash) pairs of a transaction, which of their hashes and eventIDs are
        already stored (kind event): those events go to :meth:`capture`, which tells a duplicate from a reused
        eventID as before."""
        hashes = sorted({event_hash for _, event_hash in events})
        ids = sorted({event.get("eventID") or event_hash for event, event_hash in events})
        for column, keys in ((EpcisEvent.event_hash, hashes), (EpcisEvent.event_id, ids)):
            for start in range(0, len(keys), _IN_LIST):
                found = self.session.execute(
                    select(EpcisEvent.event_hash, EpcisEvent.event_id).where(
                        EpcisEvent.kind == RecordKind.EVENT, column.in_(keys[start : start + _IN_LIST])
                    )
                )
                for event_hash, event_id in found:
                    self._hashes.add(event_hash)
                    self._ids.add(event_id)

    def plan(self, index: int, event: dict[str, Any], event_hash: str) -> Planned | None:
        """The event as the batch lane records it, read but not written: an event (not an error declaration)
        never stored nor met before in this transaction (by hash or eventID), whose custody meaning is an
        action other than packing and unpacking that moves identifiers and parties all known here, with
        nothing to note. None for any other event: :meth:`capture` it alone. Raises the DomainError that
        :meth:`capture` would raise before writing anything (the caller captures the event alone to report
        it). Every event planned or not is met: a later one with its hash or eventID is not planned."""
        kind = fields.record_kind(event)
        event_id = event.get("eventID") or event_hash
        met = event_hash in self._hashes or event_id in self._ids
        self._hashes.add(event_hash)
        self._ids.add(event_id)
        if met or kind is not RecordKind.EVENT:
            return None
        meaning = custody_meaning(event)
        if meaning.action is None or meaning.action in (Action.PACK, Action.UNPACK):
            return None
        ids = cn.resolve(self.session, fields.identifiers(event))
        fields.check_lengths(event, event_id, ids)
        notes: list[str] = []
        native = self._native(event, meaning.action, ids, notes)
        if notes or not isinstance(native, EventIn):
            return None
        return Planned(index, event, event_hash, event_id, ids, native)

    def record_planned(self, planned: list[Planned], context: list[Any] | None) -> list[Stored]:
        """Record the planned events as one ``record_events`` list (all or nothing, without a savepoint per event),
        then store them and their identifiers with one insert per table. Raises the list's DomainError (or the
        store's SQLAlchemyError, or :class:`RepeatInList` when an event repeats a custody change just recorded):
        the caller rolls back its savepoint and captures the events one by one (a repeat then becomes that
        event's note, as it does alone)."""
        outcome = record_events(
            self.session,
            self.principal,
            [p.native for p in planned],
            atomic=True,
            policy=self.policy,
            locked=self.locked_units,
            savepoints=False,
        )
        if outcome.error is not None:
            raise outcome.error
        rows: list[dict[str, Any]] = []
        stored: list[Stored] = []
        for p, result in zip(planned, outcome.results, strict=True):
            notes: list[str] = []
            custody, native_id = CustodyOutcome.APPLIED, result.event_id
            if result.status is ResultStatus.DUPLICATE:
                notes.append(f"the custody change was already recorded as event {result.event_id}")
                custody, native_id = CustodyOutcome.NONE, None
            when = p.native.occurred_at  # the eventTime in UTC, read by plan()
            rows.append(
                self._row(p.event, p.event_hash, p.event_id, RecordKind.EVENT, custody, native_id, notes, context, when)
            )
            stored.append(Stored(p.index, p.event_id, custody, notes))
        row_ids = self._insert_events(rows)
        epcs = [values for row_id, p in zip(row_ids, planned, strict=True) for values in self._epc_rows(row_id, p.ids)]
        if epcs:
            self.session.connection().execute(insert(EpcisEpc.__table__), epcs)
        return stored

    def _insert_events(self, rows: list[dict[str, Any]]) -> list[int]:
        """Insert the stored events' rows; their ids, in order. On SQLite the transaction holds the write lock
        (run.py opens it as a writer), so the ids after the largest are this list's (those SQLite would give them,
        the table's ids being its rowids): given to the rows, they are inserted by one executemany, half the CPU
        of SQLAlchemy's ``RETURNING`` with the parameters' order kept. PostgreSQL returns them from its sequence."""
        if self.session.connection().dialect.name != "sqlite":
            return list(
                self.session.scalars(
                    insert(EpcisEvent).returning(EpcisEvent.id, sort_by_parameter_order=True), rows
                ).all()
            )
        first = int(self.session.scalar(select(func.coalesce(func.max(EpcisEvent.id), 0)))) + 1
        ids = list(range(first, first + len(rows)))
        self.session.connection().execute(
            insert(EpcisEvent.__table__), [{**row, "id": i} for row, i in zip(rows, ids, strict=True)]
        )
        return ids

    def forget(self, keys: list[UnitKey]) -> None:
        """After a savepoint was rolled back: the unit ids seen are forgotten, and the units of ``keys`` read
        again (the recorder gave their rows, or their ORM objects as committed state, the values it wrote)."""
        self.unit_ids.clear()
        rows = [key for key in keys if isinstance(self.locked_units.get(key), UnitRow)]
        for key in keys:
            unit = self.locked_units.get(key)
            if isinstance(unit, Unit) and unit in self.session:
                self.session.expire(unit)
        self.locked_units.update(unit_rows(self.session, rows))

    def _apply(
        self, event: dict[str, Any], meaning: Meaning, ids: list[Role], notes: list[str]
    ) -> tuple[CustodyOutcome, int | None]:
        """What the meaning does to custody, and the native event that recorded it (if one did)."""
        if meaning.kind is MeaningKind.COMMISSION:
            return self._commission(event, ids, notes), None
        if meaning.kind is MeaningKind.RECALL and self.principal.role not in RECALLERS:
            notes.append("disposition recalled from a holder: the units are locked (quarantined) until released")
            return self._act(event, Action.LOCK, ids, notes)
        if meaning.kind is MeaningKind.RECALL:
            return self._recall(event, ids, notes), None
        if meaning.action is not None:
            return self._act(event, meaning.action, ids, notes)
        return CustodyOutcome.NONE, None

    def _unit_ids(self, keys: list[UnitKey]) -> dict[UnitKey, int]:
        missing = [key for key in keys if key not in self.unit_ids]
        if missing:
            self.unit_ids.update((k, u.id) for k, u in load_units(self.session, missing).items())
        return {key: self.unit_ids[key] for key in keys if key in self.unit_ids}

    def _party(self, event: dict[str, Any], field: str) -> tuple[str | None, str | None]:
        """(organisation id, the identifier it came from) for a source or destination list."""
        ident = fields.party(event, field)
        if ident is None:
            return None, None
        return (self.org_by_gln(ident.gln) if ident.gln else None), ident.canonical

    # ----------------------------------------------------------------------------------------- meanings

    def _commission(self, event: dict[str, Any], ids: list[Role], notes: list[str]) -> CustodyOutcome:
        units = [key for role, i in ids if role is EpcRole.EPC and (key := i.unit_key) is not None]
        if not units:
            notes.append("commissioning names no serialised trade items (SGTIN): nothing to register")
            return CustodyOutcome.NONE
        existing = load_units(self.session, units)
        fresh = list(dict.fromkeys(key for key in units if key not in existing))
        if existing:
            notes.append(f"{len(existing)} identifier(s) already issued by Passport: commissioning changes nothing")
        if not fresh:
            return CustodyOutcome.NONE
        by_gtin: dict[str, list[str]] = {}
        for gtin, serial in fresh:
            by_gtin.setdefault(gtin, []).append(serial)
        lot, expiry = fields.ilmd(event, "lotNumber"), fields.ilmd(event, "itemExpirationDate")
        registered = 0
        for gtin, serials in sorted(by_gtin.items()):
            product = self.session.get(Product, gtin)
            if product is None or product.manufacturer_id != self.principal.org_id:
                notes.append(
                    f"GTIN {gtin} is not a product of {self.principal.org_id} registered here: "
                    f"{len(serials)} identifier(s) kept as external history"
                )
                continue
            if not isinstance(lot, str) or not isinstance(expiry, str):
                raise InvalidInput(
                    "commissioning units Passport did not issue needs ilmd "
                    "cbvmda:lotNumber and cbvmda:itemExpirationDate",
                    code="ilmd_required",
                )
            batch = self._batch(product, lot, expiry, event)
            issuance = Issuance(batch_id=batch.id, key_tag=None, count=len(serials), created_at=self.policy.now)
            self.session.add(issuance)
            self.session.flush()
            for serial in serials:
                if len(serial) > 20:
                    raise InvalidInput(f"serial {serial!r} is longer than 20 characters", code="invalid_serial")
            insert_units(self.session.connection(), gtin, batch.id, issuance.id, serials)
            registered += len(serials)
        if registered:
            notes.append(f"{registered} externally serialised unit(s) registered (their codes carry no signature)")
            return CustodyOutcome.APPLIED
        return CustodyOutcome.EXTERNAL

    def _batch(self, product: Product, lot: str, expiry: str, event: dict[str, Any]) -> Batch:
        try:
            expires_on = date.fromisoformat(expiry)
        except ValueError:
            raise InvalidInput(
                f"ilmd cbvmda:itemExpirationDate {expiry!r} is not a date", code="invalid_date"
            ) from None
        batch = self.session.scalar(select(Batch).where(Batch.gtin == product.gtin, Batch.lot == lot))
        if batch is not None:
            if batch.expires_on != expires_on:
                raise InvalidInput(
                    f"lot {lot} of {product.gtin} expires on {batch.expires_on}, not {expires_on}",
                    code="lot_mismatch",
                )
            return batch
        production = fields.ilmd(event, "productionDate")
        try:
            made = (
                date.fromisoformat(production)
                if isinstance(production, str)
                else fields.to_utc(event["eventTime"]).date()
            )
        except ValueError:
            raise InvalidInput(
                f"ilmd cbvmda:productionDate {production!r} is not a date", code="invalid_date"
            ) from None
        if expires_on <= made:
            raise InvalidInput(
                f"lot {lot} would expire ({expires_on}) before it was made ({made})", code="invalid_date"
            )
        batch = Batch(
            gtin=product.gtin, lot=lot, manufactured_on=made, expires_on=expires_on, created_at=self.policy.now
        )
        self.session.add(batch)
        self.session.flush()
        return batch

    def _recall(self, event: dict[str, Any], ids: list[Role], notes: list[str]) -> CustodyOutcome:
        units = [key for role, i in ids if role is EpcRole.EPC and (key := i.unit_key) is not None]
        known = load_units(self.session, units)
        if not known:
            notes.append("disposition recalled on identifiers unknown here: kept as external history")
            return CustodyOutcome.EXTERNAL
        for gtin in sorted({g for g, _ in known}):
            recall = create_recall(
                self.session,
                self.principal,
                gtin=gtin,
                lots=[],
                serials=sorted(s for g, s in known if g == gtin),
                reason=f"EPCIS event {event.get('eventID') or 'without eventID'}: disposition recalled",
                recall_class="II",
                instructions="Set aside the units named in the EPCIS event; await the manufacturer's instructions.",
            )
            notes.append(f"recall {recall.id} opened for {len([1 for g, _ in known if g == gtin])} unit(s) of {gtin}")
        return CustodyOutcome.APPLIED

    def _act(
        self, event: dict[str, Any], action: Action, ids: list[Role], notes: list[str]
    ) -> tuple[CustodyOutcome, int | None]:
        native = self._native(event, action, ids, notes)
        if not isinstance(native, EventIn):
            return native, None
        outcome = record_events(
            self.session, self.principal, [native], atomic=True, policy=self.policy, locked=self.locked_units
        )
        if outcome.error is not None:
            raise outcome.error
        result = outcome.results[0]
        if result.status is ResultStatus.DUPLICATE:
            notes.append(f"the custody change was already recorded as event {result.event_id}")
            return CustodyOutcome.NONE, None
        return CustodyOutcome.APPLIED, result.event_id

    def _native(
        self, event: dict[str, Any], action: Action, ids: list[Role], notes: list[str]
    ) -> EventIn | CustodyOutcome:
        """The ``/v1/events`` event an action stands for; or, when it moves nothing known here, what the event
        is (noted in ``notes``). Reads, writes nothing; raises the event's DomainError."""
        parent: Identifier | None = None
        if action in (Action.PACK, Action.UNPACK):
            parent = next((i for role, i in ids if role is EpcRole.PARENT), None)
            if parent is None:
                raise InvalidInput("an aggregation needs parentID", code="parent_required")
            if parent.sscc is None:
                notes.append(f"parent {parent.canonical} is not an SSCC: Passport tracks cases and pallets by SSCC")
                return CustodyOutcome.EXTERNAL
            children = [i for role, i in ids if role is EpcRole.CHILD]
            if action is Action.UNPACK and children:
                self._check_whole_unpack(parent.sscc, children)
            subjects = children if action is Action.PACK else [parent]
        else:
            subjects = [i for role, i in ids if role is EpcRole.EPC]
        if not subjects:
            notes.append("no instance-level identifiers: nothing to move")
            return CustodyOutcome.NONE
        unknown = self._unknown(subjects)
        if unknown:
            notes.append("identifiers never issued or commissioned here, left out: " + ", ".join(unknown[:20]))
            subjects = [i for i in subjects if i.canonical not in set(unknown)]
            if not subjects:
                return CustodyOutcome.EXTERNAL
        to = None
        if action is Action.SHIP:
            to, named = self._party(event, "destinationList")
            if to is None:
                if named is None:
                    raise InvalidInput(
                        "a shipment needs a destinationList entry (owning_party, possessing_party or location) "
                        "whose GLN belongs to an organisation here",
                        code="destination_required",
                    )
                notes.append(f"destination {named} is no organisation here: kept as external history")
                return CustodyOutcome.EXTERNAL
        return EventIn(
            action=action.value,
            codes=[_code(i) for i in subjects],
            occurred_at=fields.to_utc(event["eventTime"]),
            to=to,
            region=fields.extension_text(event, "region"),
            container=_code(parent) if action is Action.PACK and parent is not None else None,
            channel=(fields.extension_text(event, "channel") or "offline") if action is Action.SELL else None,
            platform=fields.extension_text(event, "platform"),
            order_ref=fields.extension_text(event, "orderRef"),
            prescription=fields.prescription(event),
        )

    def _check_whole_unpack(self, sscc: str, children: list[Identifier]) -> None:
        """An AggregationEvent DELETE naming children must name all of them: Passport empties a container as a
        whole (a unit taken out alone leaves by its own event: a sale, a shipment...)."""
        inside = {
            canonical_gtin_uri(g, s)
            for g, s in self.session.execute(select(Unit.gtin, Unit.serial).where(Unit.container_sscc == sscc))
        }
        inside |= {
            canonical_sscc_uri(c)
            for c in self.session.scalars(select(Container.sscc).where(Container.parent_sscc == sscc))
        }
        named = {_key(i) for i in children}
        if named != inside:
            raise InvalidInput(
                f"container {sscc} holds {len(inside)} item(s); this event takes out {len(named & inside)} of them"
                + (f" and names {len(named - inside)} it does not hold" if named - inside else "")
                + ": Passport unpacks a container whole (send no childEPCs, or all of them)",
                code="partial_unpack",
            )

    def _unknown(self, idents: list[Identifier]) -> list[str]:
        unit_keys = [key for i in idents if (key := i.unit_key) is not None]
        units: dict[UnitKey, Unit | UnitRow] = {k: self.locked_units[k] for k in unit_keys if k in self.locked_units}
        unlocked = [k for k in unit_keys if k not in units]
        if unlocked:
            units.update(load_units(self.session, unlocked))
        self.unit_ids.update((key, unit.id) for key, unit in units.items())
        containers = load_containers(self.session, [i.sscc for i in idents if i.sscc])
        missing = [i.canonical for i in idents if i.unit_key is not None and i.unit_key not in units]
        missing += [i.canonical for i in idents if i.sscc and i.sscc not in containers]
        missing += [i.canonical for i in idents if not i.is_unit and not i.sscc]
        return missing


def _code(ident: Identifier) -> str:
    """How ``/v1/events`` is given an identifier: a unit named by 20-digit code by its GS1 form (GTIN + the code),
    an imported package by its code."""
    key = ident.unit_key
    return canonical_gtin_uri(*key) if ident.cn_code and key is not None else ident.cn_code or ident.canonical


def _key(ident: Identifier) -> str:
    """What a container's contents are compared by: units by GS1 form, containers by SSCC (or package key)."""
    if ident.unit_key is not None:
        return canonical_gtin_uri(*ident.unit_key)
    return canonical_sscc_uri(ident.sscc) if ident.sscc else ident.canonical
