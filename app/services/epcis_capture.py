"""EPCIS 2.0 capture: validate a document, keep every event as sent, and apply those that move custody.

A capture is a job. ``open_capture`` checks what can be checked at once (JSON, document type, contexts, the
limits, the document's header against the schema) and records the job; ``run_capture`` then works through the
events, each in a savepoint of a transaction of its own (one for the whole document under ``rollback``, one
per :data:`PROCEED_CHUNK` events under ``proceed``):

- validated against GS1's JSON schema (an invalid event is an error naming the event and the JSON path);
- identified by its CBV 2.0 hash, so the same event sent twice is kept once (``duplicates``);
- mapped through :func:`app.domain.epcis.custody_meaning` to a native custody action, recorded by the very
  code that records ``/v1/events`` (same rules, same refusal codes, same alerts, same log);
- commissioning of identifiers Passport never issued registers them as the manufacturer's externally
  serialised units (no signature); identifiers or parties unknown here make the event *external*: kept,
  queryable, flagged in ``notes``, changing no custody.

With ``GS1-Capture-Error-Behaviour: rollback`` (the default) one error rejects the whole document; with
``proceed`` the other events are captured and each error is listed.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import secrets
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cache
from importlib import resources
from typing import Any

import fastjsonschema
from jsonschema import Draft7Validator, FormatChecker
from jsonschema.exceptions import ValidationError, best_match
from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from app.db.custody import load_containers, load_units, lock_everything
from app.db.engine import WRITE_OPTIONS
from app.db.epcis_models import EpcisCapture, EpcisEpc, EpcisEvent
from app.db.models import Batch, Container, Issuance, Organisation, Product, Unit
from app.db.units import insert_units
from app.domain import json_input
from app.domain.custody import Action
from app.domain.epcis import (
    PARTY_TYPES,
    Identifier,
    Meaning,
    bare_word,
    canonical_gtin_uri,
    canonical_identifier,
    canonical_sscc_uri,
    custody_meaning,
)
from app.domain.epcis_hash import check_context, event_hashes
from app.domain.errors import Conflict, DomainError, InvalidInput, NotFound, PayloadTooLarge
from app.domain.sale_rules import Prescription as PrescriptionFacts
from app.services import capture_jobs
from app.services.events import EventIn, Policy, record_events, write_alerts
from app.services.orgs import Principal
from app.services.recalls import create_recall

log = logging.getLogger("passport")

DOCUMENT_TYPES = ("EPCISDocument", "EPCISQueryDocument")
BEHAVIOURS = ("rollback", "proceed")
EPC_LISTS = (("epcList", "epc"), ("childEPCs", "child"), ("inputEPCList", "input"), ("outputEPCList", "output"))
PROCEED_CHUNK = 200  # events per transaction when the sender asked to proceed past errors
QUANTITY_LISTS = ("quantityList", "childQuantityList", "inputQuantityList", "outputQuantityList")


@cache
def _schema() -> dict[str, Any]:
    text = resources.files("app.services").joinpath("epcis_schema/EPCIS-JSON-Schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@cache
def schema_validator() -> Draft7Validator:
    """The reference validator: its verdict decides, and it names the most relevant error."""
    return Draft7Validator(_schema(), format_checker=FormatChecker())


@cache
def _fast_validator() -> Callable[[Any], Any]:
    """The same schema compiled to Python (fastjsonschema), about 20 times faster; a valid event (the usual
    case) costs only this, an invalid one is re-checked and explained by :func:`schema_validator`."""
    return fastjsonschema.compile(_schema())


def schema_problem(instance: Any) -> str | None:
    """None if ``instance`` is valid against GS1's EPCIS 2.0 schema, else ``$.path: what is wrong``."""
    try:
        _fast_validator()(instance)
        return None
    except fastjsonschema.JsonSchemaException:
        leaves = list(_leaves(schema_validator().iter_errors(instance)))
        if not leaves:
            return None
        deepest = max(len(e.absolute_path) for e in leaves)
        error = best_match(e for e in leaves if len(e.absolute_path) == deepest)
        return _schema_message(error) if error is not None else None


def _leaves(errors: Iterable[ValidationError]) -> Iterator[ValidationError]:
    """The innermost errors: the schema's if/then and anyOf wrap the one that says what is actually wrong."""
    for error in errors:
        if error.context:
            yield from _leaves(error.context)
        else:
            yield error


@dataclass(frozen=True, slots=True)
class Opened:
    job: EpcisCapture
    document: dict[str, Any]
    events: list[dict[str, Any]]


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _event_list(document: dict[str, Any]) -> list[Any]:
    body = document.get("epcisBody")
    if not isinstance(body, dict):
        raise InvalidInput("the document has no epcisBody object", code="invalid_epcis_document")
    if document["type"] == "EPCISQueryDocument":
        events = _object(_object(body.get("queryResults")).get("resultsBody")).get("eventList", [])
    elif "event" in body:
        events = [body["event"]]
    else:
        events = body.get("eventList", [])
    if not isinstance(events, list):
        raise InvalidInput("epcisBody.eventList must be an array", code="invalid_epcis_document")
    return events


def open_capture(
    session: Session, principal: Principal, raw: bytes, behaviour: str | None, *, limit: int, now: datetime
) -> Opened:
    """Check the document as a whole and record the job (running). Nothing of its events is stored yet."""
    behaviour = (behaviour or "rollback").strip().lower()
    if behaviour not in BEHAVIOURS:
        raise InvalidInput("GS1-Capture-Error-Behaviour must be 'rollback' or 'proceed'", code="invalid_header")
    document = json_input.loads(raw)  # invalid_json saying what and where; nesting bounded
    if not isinstance(document, dict) or document.get("type") not in DOCUMENT_TYPES:
        raise InvalidInput(
            "the body must be an EPCIS 2.0 document: an object with type EPCISDocument or EPCISQueryDocument",
            code="invalid_epcis_document",
        )
    check_context(document)
    events = _event_list(document)
    if len(events) > limit:
        raise PayloadTooLarge(
            f"the document carries {len(events)} events; at most {limit} per capture (GS1-EPCIS-Capture-Limit)",
            code="capture_limit_exceeded",
        )
    header_problem = schema_problem(_without_events(document))
    if header_problem is not None:
        raise InvalidInput(header_problem, code="schema_validation_failed")
    job = EpcisCapture(
        id=f"cap-{secrets.token_hex(12)}",
        org_id=principal.org_id,
        created_at=now,
        running=True,
        success=True,
        error_behaviour=behaviour,
        event_count=len(events),
        errors=[],
        warnings=[],
        worker=capture_jobs.current_worker(),
        heartbeat_at=now,
    )
    session.add(job)
    return Opened(job, document, events)


def _without_events(document: dict[str, Any]) -> dict[str, Any]:
    """The document with an empty event list: validates everything but the events, which are checked one by one."""
    shell = dict(document)
    body = dict(shell["epcisBody"])
    if document["type"] == "EPCISQueryDocument":
        results = dict(_object(body.get("queryResults")))
        results["resultsBody"] = {"eventList": []}
        body["queryResults"] = results
    else:
        body.pop("event", None)
        body["eventList"] = []
    shell["epcisBody"] = body
    return shell


def _schema_message(error: Any) -> str:
    """``$.epcList[0]: 'x' is not a 'uri'``: where, then what (jsonschema's most relevant error)."""
    path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
    message = error.message if len(error.message) < 300 else error.message[:300] + "…"
    return f"${path}: {message}"


def job_view(job: EpcisCapture) -> dict[str, Any]:
    return {
        "captureID": job.id,
        "createdAt": job.created_at.isoformat().replace("+00:00", "Z"),
        "finishedAt": job.finished_at.isoformat().replace("+00:00", "Z") if job.finished_at else None,
        "running": job.running,
        "success": job.success,
        "captureErrorBehaviour": job.error_behaviour,
        "eventCount": job.event_count,
        "capturedCount": job.captured,
        "duplicateCount": job.duplicates,
        "errors": job.errors,
        # Events captured with something to say: kept as external history, identifiers left out, a duplicate
        # under another eventID... (the first 1,000).
        "warnings": job.warnings,
    }


def get_capture(session: Session, principal: Principal, capture_id: str) -> EpcisCapture:
    job = session.get(EpcisCapture, capture_id)
    if job is None or (job.org_id != principal.org_id and principal.role not in ("regulator", "admin")):
        raise NotFound(f"no capture job {capture_id}", code="capture_not_found")
    return job


def list_captures(session: Session, principal: Principal, limit: int = 100) -> list[EpcisCapture]:
    return list(
        session.scalars(
            select(EpcisCapture)
            .where(EpcisCapture.org_id == principal.org_id)
            .order_by(EpcisCapture.created_at.desc())
            .limit(limit)
        )
    )


# ------------------------------------------------------------------------------------------ running a job


def _problem(error: DomainError, index: int, event: Any) -> dict[str, Any]:
    """An RFC 9457 problem for one event of the job (``index`` counts from 0 in the document's event list)."""
    event_id = event.get("eventID") if isinstance(event, dict) else None
    return {
        "type": f"/problems/{error.code}",
        "title": error.title,
        "detail": f"event {index}{f' ({event_id})' if event_id else ''}: {error.detail}",
        "code": error.code,
        "index": index,
        "eventID": event_id,
        **{k: v for k, v in error.extra.items() if isinstance(v, str | int | float | bool | type(None))},
    }


class _Capture:
    def __init__(self, session: Session, principal: Principal, policy: Policy, job: EpcisCapture) -> None:
        self.session = session
        self.principal = principal
        self.policy = policy
        self.job = job
        self._orgs_by_gln: dict[str, str | None] = {}
        # Ids of units seen to exist (for the identifier rows); forgotten when an event is rolled back.
        self.unit_ids: dict[tuple[str, str], int] = {}
        # The units of this transaction's events, locked up front (see _lock_rows).
        self.locked_units: dict[tuple[str, str], Unit] = {}
        # What the last captured event became, for the job's warnings.
        self.event_id = ""
        self.custody = ""
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
                EpcisEvent.event_hash == event_hash, EpcisEvent.kind == "event", EpcisEvent.event_id == event_id
            )
        )
        return stored is not None

    def capture(self, event: dict[str, Any], event_hash: str, context: list[Any] | None) -> str:
        """Store one valid event and apply its custody meaning; 'captured' or 'duplicate'. Raises DomainError."""
        kind = "error_declaration" if "errorDeclaration" in event else "event"
        event_id = event.get("eventID") or event_hash
        known = self.session.execute(
            select(EpcisEvent.event_hash, EpcisEvent.event_id).where(
                EpcisEvent.kind == kind, or_(EpcisEvent.event_hash == event_hash, EpcisEvent.event_id == event_id)
            )
        ).all()
        same = [row for row in known if row.event_hash == event_hash]
        if kind == "error_declaration":  # the hash leaves the declaration out: compare it too
            declarations = self.session.scalars(
                select(EpcisEvent.document).where(EpcisEvent.event_hash == event_hash, EpcisEvent.kind == kind)
            )
            if any(d.get("errorDeclaration") == event["errorDeclaration"] for d in declarations):
                return "duplicate"
        elif any(row.event_id == event_id or "eventID" not in event for row in same):
            return "duplicate"
        taken = next((row.event_hash for row in known if row.event_hash != event_hash), None)
        if taken is not None:
            raise InvalidInput(
                f"eventID {event_id} was already captured for a different event (CBV hash {taken})",
                code="event_id_taken",
            )
        ids = self._identifiers(event)
        _check_lengths(event, event_id, ids)
        notes: list[str] = []
        native_id: int | None = None
        meaning = custody_meaning(event) if kind == "event" else Meaning("none", why="an error declaration")
        if same and kind == "event":  # the same event (CBV hash) under another eventID: findable by both, applied once
            meaning = Meaning("none")
            notes.append(f"the same event as {same[0].event_id} (equal CBV 2.0 hash): custody applied once")
        if meaning.kind == "commission":
            custody = self._commission(event, ids, notes)
        elif meaning.kind == "recall" and self.principal.role not in ("manufacturer", "regulator"):
            notes.append("disposition recalled from a holder: the units are locked (quarantined) until released")
            custody, native_id = self._act(event, Action.LOCK, ids, notes)
        elif meaning.kind == "recall":
            custody = self._recall(event, ids, notes)
        elif meaning.kind == "action":
            custody, native_id = self._act(event, meaning.action, ids, notes)  # type: ignore[arg-type]
        else:
            custody = "none"
            if kind == "error_declaration":
                notes.append("error declaration: kept beside the event it declares wrong; custody is unchanged")
        document = dict(event)
        document["eventID"] = event_id
        document["recordTime"] = self.policy.now.isoformat().replace("+00:00", "Z")
        row = EpcisEvent(
            event_id=event_id,
            event_hash=event_hash,
            kind=kind,
            type=event["type"],
            action=event.get("action"),
            biz_step=bare_word(event.get("bizStep")),
            disposition=bare_word(event.get("disposition")),
            event_time=_to_utc(event["eventTime"]),
            record_time=self.policy.now,
            read_point=self._location(event, "readPoint"),
            biz_location=self._location(event, "bizLocation"),
            org_id=self.principal.org_id,
            capture_id=self.job.id,
            native_event_id=native_id,
            custody=custody,
            notes=notes,
            document=document,
            context=context,
        )
        self.session.add(row)
        self.session.flush()
        units = self._unit_ids([i for _, i in ids if i.is_unit])
        self.session.add_all(
            EpcisEpc(
                epcis_event_id=row.id,
                role=role,
                epc=ident.canonical,
                gtin=ident.gtin,
                unit_id=units.get((ident.gtin, ident.serial)) if ident.is_unit else None,  # type: ignore[arg-type]
            )
            for role, ident in ids
        )
        self.event_id, self.custody, self.notes = event_id, custody, notes
        return "captured"

    # ----------------------------------------------------------------------------------------- reading

    def _identifiers(self, event: dict[str, Any]) -> list[tuple[str, Identifier]]:
        found: list[tuple[str, Identifier]] = []
        if isinstance(event.get("parentID"), str):
            found.append(("parent", canonical_identifier(event["parentID"])))
        for field, role in EPC_LISTS:
            for text in event.get(field) or []:
                found.append((role, canonical_identifier(text)))
        for field in QUANTITY_LISTS:
            for item in event.get(field) or []:
                if isinstance(item, dict) and isinstance(item.get("epcClass"), str):
                    found.append(("class", canonical_identifier(item["epcClass"])))
        return found

    def _location(self, event: dict[str, Any], field: str) -> str | None:
        value = event.get(field)
        if isinstance(value, dict) and isinstance(value.get("id"), str):
            return canonical_identifier(value["id"]).canonical
        return None

    def _unit_ids(self, idents: list[Identifier]) -> dict[tuple[str, str], int]:
        keys = [(i.gtin, i.serial) for i in idents]
        missing = [key for key in keys if key not in self.unit_ids]
        if missing:
            self.unit_ids.update((k, u.id) for k, u in load_units(self.session, missing).items())  # type: ignore[arg-type]
        return {key: self.unit_ids[key] for key in keys if key in self.unit_ids}  # type: ignore[index]

    def _party(self, event: dict[str, Any], field: str) -> tuple[str | None, str | None]:
        """(organisation id, the identifier it came from) for a source or destination list."""
        entries = [e for e in event.get(field) or [] if isinstance(e, dict)]
        for party_type in PARTY_TYPES:
            for entry in entries:
                if bare_word(entry.get("type")) == party_type and isinstance(entry.get(field[:-4]), str):
                    ident = canonical_identifier(entry[field[:-4]])
                    return (self.org_by_gln(ident.gln) if ident.gln else None), ident.canonical
        return None, None

    # ----------------------------------------------------------------------------------------- meanings

    def _commission(self, event: dict[str, Any], ids: list[tuple[str, Identifier]], notes: list[str]) -> str:
        units = [i for role, i in ids if role == "epc" and i.is_unit]
        if not units:
            notes.append("commissioning names no serialised trade items (SGTIN): nothing to register")
            return "none"
        existing = load_units(self.session, [(i.gtin, i.serial) for i in units])  # type: ignore[misc]
        fresh = list({(i.gtin, i.serial): i for i in units if (i.gtin, i.serial) not in existing}.values())
        if existing:
            notes.append(f"{len(existing)} identifier(s) already issued by Passport: commissioning changes nothing")
        if not fresh:
            return "none"
        by_gtin: dict[str, list[str]] = {}
        for ident in fresh:
            by_gtin.setdefault(ident.gtin, []).append(ident.serial)  # type: ignore[arg-type]
        lot, expiry = _ilmd(event, "lotNumber"), _ilmd(event, "itemExpirationDate")
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
            return "applied"
        return "external"

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
        production = _ilmd(event, "productionDate")
        try:
            made = date.fromisoformat(production) if isinstance(production, str) else _to_utc(event["eventTime"]).date()
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

    def _recall(self, event: dict[str, Any], ids: list[tuple[str, Identifier]], notes: list[str]) -> str:
        by_gtin: dict[str, list[str]] = {}
        for role, ident in ids:
            if role == "epc" and ident.is_unit:
                by_gtin.setdefault(ident.gtin, []).append(ident.serial)  # type: ignore[arg-type]
        known = load_units(self.session, [(g, s) for g, serials in by_gtin.items() for s in serials])
        if not known:
            notes.append("disposition recalled on identifiers unknown here: kept as external history")
            return "external"
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
        return "applied"

    def _act(
        self, event: dict[str, Any], action: Action, ids: list[tuple[str, Identifier]], notes: list[str]
    ) -> tuple[str, int | None]:
        if action in (Action.PACK, Action.UNPACK):
            parent = next((i for role, i in ids if role == "parent"), None)
            if parent is None:
                raise InvalidInput("an aggregation needs parentID", code="parent_required")
            if parent.sscc is None:
                notes.append(f"parent {parent.canonical} is not an SSCC: Passport tracks cases and pallets by SSCC")
                return "external", None
            children = [i for role, i in ids if role == "child"]
            if action is Action.UNPACK and children:
                self._check_whole_unpack(parent.sscc, children)
            subjects = children if action is Action.PACK else [parent]
        else:
            parent = None
            subjects = [i for role, i in ids if role == "epc"]
        if not subjects:
            notes.append("no instance-level identifiers: nothing to move")
            return "none", None
        unknown = self._unknown(subjects)
        if unknown:
            notes.append("identifiers never issued or commissioned here, left out: " + ", ".join(unknown[:20]))
            subjects = [i for i in subjects if i.canonical not in set(unknown)]
            if not subjects:
                return "external", None
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
                return "external", None
        native = EventIn(
            action=action.value,
            codes=[i.canonical for i in subjects],
            occurred_at=_to_utc(event["eventTime"]),
            to=to,
            region=_text(event, "region"),
            container=parent.canonical if action is Action.PACK and parent is not None else None,
            channel=(_text(event, "channel") or "offline") if action is Action.SELL else None,
            platform=_text(event, "platform"),
            order_ref=_text(event, "orderRef"),
            prescription=_prescription(event),
        )
        outcome = record_events(
            self.session, self.principal, [native], atomic=True, policy=self.policy, locked=self.locked_units
        )
        if outcome.error is not None:
            raise outcome.error
        result = outcome.results[0]
        if result.status == "duplicate":
            notes.append(f"the custody change was already recorded as event {result.event_id}")
            return "none", None
        return "applied", result.event_id

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
        named = {i.canonical for i in children}
        if named != inside:
            raise InvalidInput(
                f"container {sscc} holds {len(inside)} item(s); this event takes out {len(named & inside)} of them"
                + (f" and names {len(named - inside)} it does not hold" if named - inside else "")
                + ": Passport unpacks a container whole (send no childEPCs, or all of them)",
                code="partial_unpack",
            )

    def _unknown(self, idents: list[Identifier]) -> list[str]:
        unit_keys = [(i.gtin, i.serial) for i in idents if i.is_unit]
        units = {k: self.locked_units[k] for k in unit_keys if k in self.locked_units}  # type: ignore[index]
        units.update(load_units(self.session, [k for k in unit_keys if k not in units]))  # type: ignore[arg-type]
        self.unit_ids.update((key, unit.id) for key, unit in units.items())
        containers = load_containers(self.session, [i.sscc for i in idents if i.sscc])  # type: ignore[misc]
        missing = [i.canonical for i in idents if i.is_unit and (i.gtin, i.serial) not in units]
        missing += [i.canonical for i in idents if i.sscc and i.sscc not in containers]
        missing += [i.canonical for i in idents if not i.is_unit and not i.sscc]
        return missing


# The native limits of the fields Passport reads from extensions (as POST /v1/events enforces them).
_TEXT_LIMITS = {"region": 10, "channel": 10, "platform": 32, "orderRef": 100}


def _text(event: dict[str, Any], name: str) -> str | None:
    """A Passport extension field (``passport:channel``...), the names GET /epcis/events exports."""
    value = event.get(f"passport:{name}")
    if value is None:
        return None
    limit = _TEXT_LIMITS[name]
    if not isinstance(value, str) or len(value) > limit:
        raise InvalidInput(f"passport:{name} must be a string of at most {limit} characters", code="invalid_extension")
    return value


def _check_lengths(event: dict[str, Any], event_id: str, ids: list[tuple[str, Identifier]]) -> None:
    """What the columns hold, refused as this event's error (PostgreSQL would refuse the whole transaction)."""
    longest = [("eventID", event_id, 500)]
    longest += [(f"{role} identifier", ident.canonical, 500) for role, ident in ids]
    longest += [(field, event.get(field), 500) for field in ("bizStep", "disposition")]
    longest += [(field, (event.get(field) or {}).get("id"), 500) for field in ("readPoint", "bizLocation")]
    longest += [("ilmd cbvmda:lotNumber", _ilmd(event, "lotNumber"), 20)]
    for what, value, limit in longest:
        if isinstance(value, str) and len(value) > limit:
            raise InvalidInput(f"{what} is longer than {limit} characters", code="value_too_long")


def _prescription(event: dict[str, Any]) -> PrescriptionFacts | None:
    """``passport:prescription`` {"id", "prescriber", "issued_at"}: what a dispensing of Rx drugs needs."""
    value = event.get("passport:prescription")
    if value is None:
        return None
    try:
        issued_at = datetime.fromisoformat(str(value["issued_at"]).replace("Z", "+00:00"))
        facts = PrescriptionFacts(str(value["id"])[:100], str(value["prescriber"])[:200], issued_at)
    except (TypeError, KeyError, ValueError):
        raise InvalidInput(
            "passport:prescription must be {id, prescriber, issued_at (RFC 3339)}", code="invalid_extension"
        ) from None
    return facts


def _lock_rows(session: Session, events: list[Any]) -> dict[tuple[str, str], Unit]:
    """Lock, before the first event of a transaction appends to the log, every unit and container its events
    name, in the global order of ``lock_everything``: a later event must not wait for a row while holding the
    log, or it could deadlock against an ordinary /v1/events request (PostgreSQL)."""
    unit_keys: list[tuple[str, str]] = []
    ssccs: list[str] = []
    for event in events:
        if not isinstance(event, dict):
            continue
        texts: list[Any] = [event.get("parentID")]
        for field, _ in EPC_LISTS:
            if isinstance(event.get(field), list):
                texts += event[field]
        for text in texts:
            if not isinstance(text, str):
                continue
            try:
                ident = canonical_identifier(text)
            except InvalidInput:
                continue  # reported when the event is captured
            if ident.is_unit:
                unit_keys.append((ident.gtin, ident.serial))  # type: ignore[arg-type]
            elif ident.sscc:
                ssccs.append(ident.sscc)
    return lock_everything(session, unit_keys, ssccs)


def _ilmd(event: dict[str, Any], name: str) -> Any:
    """A CBV master-data attribute of the event's ILMD (``cbvmda:lotNumber``; any prefix bound to it)."""
    ilmd = event.get("ilmd")
    if not isinstance(ilmd, dict):
        return None
    return next((v for k, v in ilmd.items() if k == name or k.endswith(f":{name}") or k.endswith(f"#{name}")), None)


def _to_utc(text: str) -> datetime:
    """An RFC 3339 time (as the schema admits it: lower-case t/z, a leap second) in UTC."""
    normal = text.upper().replace("Z", "+00:00")
    leap = normal[16:19] == ":60"
    if leap:  # 23:59:60 is the last second of the day: recorded as 23:59:59.999999
        normal = normal[:17] + "59" + normal[19:]
    try:
        value = datetime.fromisoformat(normal)
    except ValueError:
        raise InvalidInput(f"time {text!r} is not an RFC 3339 date-time", code="invalid_time") from None
    if value.tzinfo is None:
        raise InvalidInput(f"time {text!r} has no offset", code="invalid_time")
    if leap:
        value = value.replace(microsecond=999_999)
    return value.astimezone(UTC)


_RUNNING = threading.BoundedSemaphore(2)  # capture jobs at once in one process; the others wait their turn
MAX_WARNINGS = 1_000


@dataclass
class _Outcome:
    rollback: bool = True
    captured: int = 0  # in committed transactions
    duplicates: int = 0
    errors: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    warnings: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    refused: list[DomainError] = dataclasses.field(default_factory=list)  # their alerts outlive a rolled-back document


def run_capture(
    sessions: Callable[[], AbstractContextManager[Session]],
    principal: Principal,
    job_id: str,
    document: dict[str, Any],
    events: list[dict[str, Any]],
    policy_for: Callable[[], Policy],
) -> None:
    """Capture the events of an opened job, then record the outcome on the job.

    ``rollback``: one transaction for the whole document. ``proceed``: a transaction every
    :data:`PROCEED_CHUNK` events, so a long document does not hold SQLite's write lock from start to end and
    the job shows its progress. Runs after the 202 has gone out; whatever happens, the job ends."""
    outcome = _Outcome()
    with _RUNNING, sessions() as session:
        try:
            _capture_events(session, principal, job_id, document, events, policy_for, outcome)
        except _RolledBack:
            pass
        except Exception:
            log.exception("capture job %s failed", job_id)
            if outcome.rollback:
                outcome.refused = []
            kept = "nothing of this document was captured"
            if not outcome.rollback:
                kept = f"{outcome.captured} events were captured"
            outcome.errors.append(
                {
                    "type": "/problems/internal_error",
                    "title": "Internal error",
                    "detail": f"the capture failed inside Passport; {kept}",
                    "code": "internal_error",
                }
            )
        with session.begin():
            now = policy_for().now
            if outcome.rollback:  # rolled back with the document; in proceed mode written with the events
                for error in outcome.refused:
                    write_alerts(session, principal, error, now)
            job = session.get(EpcisCapture, job_id)
            assert job is not None
            job.running = False
            job.success = not outcome.errors
            job.errors = sorted(outcome.errors, key=lambda e: e.get("index", len(events)))
            job.warnings = outcome.warnings
            job.captured = outcome.captured
            job.duplicates = outcome.duplicates
            job.finished_at = now


def _capture_events(
    session: Session,
    principal: Principal,
    job_id: str,
    document: dict[str, Any],
    events: list[dict[str, Any]],
    policy_for: Callable[[], Policy],
    out: _Outcome,
) -> None:
    with session.begin():
        behaviour = session.scalar(select(EpcisCapture.error_behaviour).where(EpcisCapture.id == job_id))
    out.rollback = behaviour != "proceed"
    hashes = _prepare(document, events, out.errors)  # CPU only: before any write lock is taken
    if out.errors and out.rollback:
        return
    context = _inline_context(document)
    step = max(len(events), 1) if out.rollback else PROCEED_CHUNK
    for start in range(0, len(events), step):
        chunk = range(start, min(start + step, len(events)))
        counts = {"captured": 0, "duplicates": 0}
        warnings: list[dict[str, Any]] = []
        with session.begin():
            session.connection(execution_options=WRITE_OPTIONS)
            job = session.get(EpcisCapture, job_id)
            assert job is not None
            policy = policy_for()
            worker = _Capture(session, principal, policy, job)
            worker.locked_units = _lock_rows(session, [events[i] for i in chunk if hashes[i]])
            for index in chunk:
                event, event_hash = events[index], hashes[index]
                if event_hash is None:
                    continue
                savepoint = session.begin_nested()
                try:
                    result = worker.capture(event, event_hash, context)
                except (DomainError, SQLAlchemyError) as failure:
                    savepoint.rollback()
                    worker.unit_ids.clear()
                    if isinstance(failure, IntegrityError) and worker.is_duplicate(event, event_hash):
                        counts["duplicates"] += 1  # the same event, captured meanwhile by another job
                        continue
                    error = failure if isinstance(failure, DomainError) else _storage_error(failure, job_id)
                    out.errors.append(_problem(error, index, event))
                    out.refused.append(error)
                    if out.rollback:
                        raise _RolledBack from None
                    write_alerts(session, principal, error, policy.now)
                    job.success = False
                    continue
                savepoint.commit()
                counts["duplicates" if result == "duplicate" else "captured"] += 1
                if result != "duplicate" and worker.notes:
                    warnings.append(
                        {"index": index, "eventID": worker.event_id, "custody": worker.custody, "notes": worker.notes}
                    )
            if not out.rollback:  # what the job says if it is interrupted later: what this chunk committed
                job.captured = out.captured + counts["captured"]
                job.duplicates = out.duplicates + counts["duplicates"]
                job.errors = sorted(out.errors, key=lambda e: e.get("index", len(events)))
                job.warnings = (out.warnings + warnings)[:MAX_WARNINGS]
        out.captured += counts["captured"]
        out.duplicates += counts["duplicates"]
        out.warnings += warnings[: MAX_WARNINGS - len(out.warnings)]


def _storage_error(failure: SQLAlchemyError, job_id: str) -> DomainError:
    log.warning("capture job %s: an event could not be stored: %s", job_id, failure)
    return Conflict(
        "the event could not be stored (a concurrent change to the same rows); send it again",
        code="capture_conflict",
    )


class _RolledBack(Exception):
    pass


def _schema_error(document: dict[str, Any], event: Any) -> DomainError | None:
    if not (isinstance(event, dict) and isinstance(event.get("type"), str)):
        return InvalidInput("an event must be an object with a type", code="schema_validation_failed")
    # a bare event must carry @context: it has the document's
    problem = schema_problem({**event, "@context": document.get("@context", [])})
    return InvalidInput(problem, code="schema_validation_failed") if problem is not None else None


def _hash_one(document: dict[str, Any], event: dict[str, Any]) -> str:
    try:
        return event_hashes({"@context": document.get("@context"), "epcisBody": {"eventList": [event]}})[0]
    except DomainError:
        raise
    except Exception as error:  # the reference library's own failure on an odd but schema-valid event
        raise InvalidInput(
            f"the CBV 2.0 hash of this event cannot be computed: {error}", code="invalid_event"
        ) from None


def _prepare(document: dict[str, Any], events: list[Any], errors: list[dict[str, Any]]) -> list[str | None]:
    """Validate every event against the schema, then hash the valid ones (one library call for the document;
    event by event if that fails). An event that fails either gets None here and an error in ``errors``."""
    result: list[str | None] = []
    valid: list[int] = []
    for index, event in enumerate(events):
        problem = _schema_error(document, event)
        if problem is not None:
            errors.append(_problem(problem, index, event))
        else:
            valid.append(index)
        result.append(None)
    try:
        shell = {"@context": document.get("@context"), "epcisBody": {"eventList": [events[i] for i in valid]}}
        for index, event_hash in zip(valid, event_hashes(shell), strict=True):
            result[index] = event_hash
    except Exception:  # find which event, one at a time
        for index in valid:
            try:
                result[index] = _hash_one(document, events[index])
            except DomainError as error:
                errors.append(_problem(error, index, events[index]))
    return result


def _inline_context(document: dict[str, Any]) -> list[Any] | None:
    context = document.get("@context")
    entries = context if isinstance(context, list) else [context]
    inline = [e for e in entries if isinstance(e, dict)]
    return inline or None
