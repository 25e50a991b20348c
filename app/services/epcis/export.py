"""Native custody events (``POST /v1/events``) as EPCIS 2.0 events, the way ``GET /epcis/events`` lists them.

Each native action has one EPCIS form (:data:`app.domain.epcis.NATIVE_AS_EPCIS`: event type, action, bizStep,
disposition); what EPCIS has no field for (the native action, the organisations, the log index, undo links) is
written under the ``passport:`` prefix, the names ``POST /epcis/capture`` reads back.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.models import Containment, Event, EventItem, LogNode, Organisation, Product, Unit
from app.domain.epcis import NATIVE_AS_EPCIS, canonical_gln_uri, canonical_sscc_uri, cn_code_uri
from app.domain.epcis_query import PASSPORT_PREFIX, native_event_uri, time_text
from app.services.epcis.cn import package_codes, package_uris, unit_uri


def native_documents(session: Session, ids: list[int], base_url: str) -> dict[int, dict[str, Any]]:
    """Native custody events as EPCIS 2.0 events (see ``NATIVE_AS_EPCIS``), with Passport's own fields under
    the ``passport:`` prefix."""
    events = session.scalars(select(Event).where(Event.id.in_(ids))).all()
    named = session.execute(
        select(EventItem.event_id, EventItem.container_sscc, Unit.gtin, Unit.serial, Product.cn_drug_id)
        .outerjoin(Unit, Unit.id == EventItem.unit_id)
        .outerjoin(Product, Product.gtin == Unit.gtin)
        .where(EventItem.event_id.in_(ids))
        .order_by(EventItem.id)
    ).all()
    unpacks = [e.id for e in events if e.action == "unpack"]
    # What each unpack took out, by (unpacking event, container): the rows were selected by their unpacking event.
    emptied = (
        session.execute(
            select(
                Containment.unpacked_event_id,
                Containment.parent_sscc,
                Containment.child_sscc,
                Unit.gtin,
                Unit.serial,
                Product.cn_drug_id,
            )
            .outerjoin(Unit, Unit.id == Containment.unit_id)
            .outerjoin(Product, Product.gtin == Unit.gtin)
            .where(Containment.unpacked_event_id.in_(unpacks))
            .order_by(Containment.id)
        ).all()
        if unpacks
        else []
    )
    # A package is named by its printed code where its container keeps one (an import registered it), else by
    # the code a native event was sent with (packages imported before the code was kept), else by its key.
    keys = {e.container_sscc for e in events if e.container_sscc}
    keys |= {row[1] for row in named if row[1]} | {k for row in emptied for k in (row[1], row[2]) if k}
    printed = package_uris(session, keys, base_url)
    packages = package_codes(e.payload for e in events)

    def container_uri(key: str) -> str:
        if key in printed:
            return printed[key]
        return cn_code_uri(base_url, packages[key]) if key in packages else canonical_sscc_uri(key)

    items: dict[int, list[str]] = defaultdict(list)
    containers: dict[int, list[str]] = defaultdict(list)
    for event_id, sscc, gtin, serial, cn_drug_id in named:
        uri = unit_uri(base_url, gtin, serial, cn_drug_id) if gtin is not None else container_uri(sscc)
        items[event_id].append(uri)
        if sscc is not None and gtin is None:
            containers[event_id].append(sscc)
    taken_out: dict[tuple[int, str], list[str]] = defaultdict(list)
    for unpack_id, parent, child, gtin, serial, cn_drug_id in emptied:
        uri = unit_uri(base_url, gtin, serial, cn_drug_id) if gtin is not None else container_uri(child)
        taken_out[(unpack_id, parent)].append(uri)
    org_ids = {i for e in events for i in (e.org_id, e.to_id) if i}
    glns = dict(session.execute(select(Organisation.id, Organisation.gln).where(Organisation.id.in_(org_ids))).all())
    log_index = dict(
        session.execute(
            select(LogNode.event_id, LogNode.index).where(LogNode.level == 0, LogNode.event_id.in_(ids))
        ).all()
    )
    out = {}
    for e in events:
        out[e.id] = _native_document(
            e, items[e.id], containers[e.id], taken_out, glns, log_index.get(e.id), base_url, container_uri
        )
    return out


def _native_document(
    e: Event,
    items: list[str],
    containers: list[str],
    taken_out: dict[tuple[int, str], list[str]],
    glns: dict[str, str | None],
    log_index: int | None,
    base_url: str,
    container_uri: Callable[[str], str],
) -> dict[str, Any]:
    event_type, action, biz_step, disposition = NATIVE_AS_EPCIS[e.action]
    doc: dict[str, Any] = {
        "type": event_type,
        "eventTime": time_text(e.occurred_at),
        "eventTimeZoneOffset": "+00:00",
        "recordTime": time_text(e.recorded_at),
        "eventID": native_event_uri(base_url, e.id),
    }
    if e.action == "pack":
        doc["parentID"] = container_uri(e.container_sscc or "")
        doc["childEPCs"] = items
    elif e.action == "unpack":
        # An AggregationEvent has one parent: the first container; the rest are named under passport:.
        parent = containers[0] if containers else None
        if parent is not None:
            doc["parentID"] = container_uri(parent)
            children = taken_out.get((e.id, parent), [])
            if children:
                doc["childEPCs"] = children
    else:
        doc["epcList"] = items
    doc["action"] = action
    doc["bizStep"] = biz_step
    if disposition is not None:
        doc["disposition"] = disposition
    own_gln = glns.get(e.org_id)
    if own_gln:
        doc["bizLocation"] = {"id": canonical_gln_uri(own_gln)}
    if e.action == "ship":
        to_gln = glns.get(e.to_id) if e.to_id else None
        if own_gln:
            doc["sourceList"] = [{"type": "owning_party", "source": canonical_gln_uri(own_gln, party=True)}]
        if to_gln:
            doc["destinationList"] = [{"type": "owning_party", "destination": canonical_gln_uri(to_gln, party=True)}]
    extensions: dict[str, Any] = {
        "action": e.action,
        "org": e.org_id,
        "to": e.to_id,
        "region": e.region,
        "channel": e.channel,
        "platform": e.platform_id,
        "orderRef": e.order_ref,
        "undoes": native_event_uri(base_url, e.undoes_event_id) if e.undoes_event_id else None,
        "undoneBy": native_event_uri(base_url, e.undone_by_event_id) if e.undone_by_event_id else None,
        "logIndex": log_index,
    }
    if e.action == "unpack" and len(containers) > 1:
        extensions["unpacked"] = [
            {"parentID": container_uri(c), "childEPCs": taken_out.get((e.id, c), [])} for c in containers
        ]
    doc.update({f"{PASSPORT_PREFIX}:{k}": v for k, v in extensions.items() if v is not None})
    return doc
