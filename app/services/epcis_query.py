"""EPCIS 2.0 query interface (EPCIS 2.0 §8.2.7 SimpleEventQuery over the REST binding of its OpenAPI file).

Two sources answer one query: events captured through ``POST /epcis/capture`` (returned as their senders wrote
them, plus ``recordTime`` and a server-set ``eventID``), and native custody events (``POST /v1/events``) exported as
EPCIS 2.0, except those a captured event recorded (listed once, as captured). Both are merged in one order,
``recordTime`` then source then row id, and paged by keyset: the opaque ``nextPageToken`` carries the last
position, so a page costs one indexed range read per source whatever page it is.

Visibility follows the unit history: a regulator or an admin sees every event; any other organisation sees the
events it took part in (as actor, addressee or platform, or as the capturing organisation) and every event about
units of products it makes (through the containers that held them, two levels deep).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Integer, and_, exists, false, literal, or_, select, union_all
from sqlalchemy.orm import Session, aliased

from app.db.epcis_models import EpcisEpc, EpcisEvent
from app.db.models import Containment, Event, EventItem, LogNode, Organisation, Product, Unit
from app.domain.epcis import (
    NATIVE_AS_EPCIS,
    Identifier,
    bare_word,
    canonical_gln_uri,
    canonical_gtin_uri,
    canonical_identifier,
    canonical_sscc_uri,
)
from app.domain.epcis_hash import EPCIS_CONTEXT_URLS
from app.domain.errors import Forbidden, InvalidInput, NotFound
from app.services.orgs import Principal

EPCIS_CONTEXT = EPCIS_CONTEXT_URLS[0]
PASSPORT_PREFIX = "passport"
PER_PAGE_DEFAULT = 30
PER_PAGE_MAX = 1000  # a larger perPage is served as this many events a page
EVENT_TYPES = ("ObjectEvent", "AggregationEvent", "TransactionEvent", "TransformationEvent", "AssociationEvent")
ACTIONS = ("ADD", "OBSERVE", "DELETE")
CBV_BIZ_STEPS = frozenset(
    "accepting arriving assembling collecting commissioning consigning creating_class_instance cycle_counting "
    "decommissioning departing destroying disassembling dispensing encoding entering_exiting holding inspecting "
    "installing killing loading other packing picking receiving removing repackaging repairing replacing reserving "
    "retail_selling shipping staging_outbound stock_taking stocking storing transporting unloading unpacking "
    "void_shipping sensor_reporting sampling".split()
)
CBV_DISPOSITIONS = frozenset(
    "active container_closed damaged destroyed dispensed disposed encoded expired in_progress in_transit inactive "
    "no_pedigree_match non_sellable_other partially_dispensed recalled reserved retail_sold returned "
    "sellable_accessible sellable_not_accessible stolen unknown available completeness_verified "
    "completeness_inferred conformant container_open mismatch_instance mismatch_class mismatch_quantity "
    "needs_replacement non_conformant unavailable".split()
)

_TIME_PARAMS = ("GE_eventTime", "LT_eventTime", "GE_recordTime", "LT_recordTime")
_LIST_PARAMS = ("eventType", "EQ_action", "EQ_bizStep", "EQ_disposition", "EQ_readPoint", "EQ_bizLocation")
# MATCH_* parameter -> the roles of epcis_epc rows it looks at.
MATCH_ROLES: dict[str, tuple[str, ...]] = {
    "MATCH_epc": ("epc", "child"),
    "MATCH_parentID": ("parent",),
    "MATCH_inputEPC": ("input",),
    "MATCH_outputEPC": ("output",),
    "MATCH_anyEPC": ("epc", "child", "parent", "input", "output"),
    "MATCH_anyEPCClass": ("class",),
}
SUPPORTED = frozenset(
    (*_TIME_PARAMS, *_LIST_PARAMS, *MATCH_ROLES, "EQ_eventID", "EXISTS_errorDeclaration", "perPage", "nextPageToken")
)
# Standard parameters with fixed names (the OpenAPI file's /events) that Passport does not evaluate: refused
# rather than ignored, since ignoring a filter would answer with events the client asked to exclude.
STANDARD_UNSUPPORTED = frozenset(
    "EQ_persistentDisposition_set EQ_persistentDisposition_unset WD_readPoint WD_bizLocation EQ_transformationID "
    "MATCH_epcClass MATCH_inputEPCClass MATCH_outputEPCClass EQ_quantity GT_quantity GE_quantity LT_quantity "
    "LE_quantity GE_errorDeclarationTime LT_errorDeclarationTime EQ_errorReason EQ_correctiveEventID orderBy "
    "orderDirection eventCountLimit maxEventCount GE_startTime LT_startTime GE_endTime LT_endTime EQ_type "
    "EQ_deviceID EQ_dataProcessingMethod EQ_microorganism EQ_chemicalSubstance EQ_bizRules EQ_stringValue "
    "EQ_hexBinaryValue EQ_uriValue EQ_booleanValue".split()
)
_FLEXIBLE = re.compile(r"^(EQ|GT|GE|LT|LE|EXISTS|HASATTR|EQATTR|WD|MATCH)_")
_IDPAT_SGTIN = re.compile(r"^urn:epc:idpat:sgtin:(\d+)\.(\d+)\.\*$")

CAPTURED, NATIVE = 0, 1


def _bad(detail: str) -> InvalidInput:
    return InvalidInput(detail, code="invalid_query_parameter")


# ------------------------------------------------------------------------------------------ parameters


@dataclass(frozen=True, slots=True)
class Match:
    """What one MATCH_* parameter asks for: exact canonical identifiers, or whole GTINs (``idpat`` patterns)."""

    roles: tuple[str, ...]
    identifiers: tuple[Identifier, ...] = ()
    gtins: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Query:
    event_types: frozenset[str] | None = None
    times: dict[str, datetime] = field(default_factory=dict)
    actions: frozenset[str] | None = None
    biz_steps: frozenset[str] | None = None
    dispositions: frozenset[str] | None = None
    read_points: frozenset[str] | None = None
    biz_locations: frozenset[Identifier] | None = None
    matches: tuple[Match, ...] = ()
    event_ids: frozenset[str] | None = None
    error_declarations_only: bool = False


@dataclass(frozen=True, slots=True)
class Position:
    """Where a page ended: the last event's (recordTime, source, row id)."""

    record_time: datetime
    source: int
    row_id: int


@dataclass(frozen=True, slots=True)
class Request:
    query: Query
    per_page: int
    after: Position | None
    fingerprint: str  # of the filters, so a token is only good for the query that made it


def _values(name: str, raw: str) -> list[str]:
    values = raw.split("|")
    if any(not v.strip() for v in values):
        raise _bad(f"{name}: empty value in {raw!r} (several values are separated by '|')")
    return [v.strip() for v in values]


def _time(name: str, raw: str) -> datetime:
    try:
        value = datetime.fromisoformat(raw.strip())
        if value.tzinfo is None:
            raise _bad(f"{name}: {raw!r} has no time zone (add 'Z' or an offset such as '+08:00')")
        return value.astimezone(UTC)
    except (ValueError, OverflowError):
        raise _bad(f"{name}: {raw!r} is not an RFC 3339 date-time") from None


def _identifier(name: str, raw: str) -> Identifier:
    try:
        return canonical_identifier(raw)
    except InvalidInput as error:
        raise _bad(f"{name}: {error.detail}") from None


def _match(name: str, raw: str) -> Match:
    identifiers: list[Identifier] = []
    gtins: list[str] = []
    for value in _values(name, raw):
        if value.startswith("urn:epc:idpat:"):
            pattern = _IDPAT_SGTIN.match(value)
            if pattern is None:
                raise _bad(
                    f"{name}: pattern {value!r} is not supported; use an identifier or "
                    "urn:epc:idpat:sgtin:<company prefix>.<item reference>.*"
                )
            gtin = _identifier(name, f"urn:epc:id:sgtin:{pattern[1]}.{pattern[2]}.0").gtin
            assert gtin is not None
            gtins.append(gtin)
            identifiers.append(Identifier(value))  # a class given as this very pattern
        else:
            identifiers.append(_identifier(name, value))
    return Match(MATCH_ROLES[name], tuple(identifiers), tuple(gtins))


def _vocabulary(name: str, raw: str, standard: frozenset[str], what: str) -> frozenset[str]:
    words = set()
    for value in _values(name, raw):
        word = bare_word(value) or value
        if ":" not in word and word not in standard:
            raise _bad(f"{name}: {value!r} is not a CBV {what}; a custom value must be a URI or CURIE")
        words.add(word)
    return frozenset(words)


def _per_page(raw: str | None) -> int:
    if raw is None:
        return PER_PAGE_DEFAULT
    if not (raw.strip().isascii() and raw.strip().isdigit()) or int(raw) < 1:
        raise _bad(f"perPage: {raw!r} is not a positive integer")
    return min(int(raw), PER_PAGE_MAX)


def _fingerprint(params: Sequence[tuple[str, str]]) -> str:
    filters = sorted((k, v) for k, v in params if k not in ("perPage", "nextPageToken"))
    return hashlib.sha256(json.dumps(filters).encode()).hexdigest()[:16]


def encode_token(position: Position, fingerprint: str) -> str:
    body = {"t": position.record_time.isoformat(), "s": position.source, "i": position.row_id, "q": fingerprint}
    return base64.urlsafe_b64encode(json.dumps(body, separators=(",", ":")).encode()).decode().rstrip("=")


def _decode_token(raw: str, fingerprint: str) -> Position:
    try:
        body = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
        position = Position(datetime.fromisoformat(body["t"]).astimezone(UTC), int(body["s"]), int(body["i"]))
        same_query = body["q"] == fingerprint
        if not 0 <= position.row_id < 2**63 or position.source not in (CAPTURED, NATIVE):
            raise ValueError("out of range")
    except (ValueError, KeyError, TypeError, OverflowError, RecursionError, binascii.Error):
        raise _bad("nextPageToken: not a token this service issued") from None
    if not same_query:
        raise _bad("nextPageToken: the token belongs to a query with other filters; repeat the same parameters")
    return position


def parse_request(params: Sequence[tuple[str, str]]) -> Request:
    """Check every query parameter (unknown and repeated ones are refused) and build the query."""
    seen: dict[str, str] = {}
    for name, raw in params:
        if name in seen:
            raise _bad(f"{name} is given twice; give it once, several values separated by '|'")
        if name not in SUPPORTED:
            if name in STANDARD_UNSUPPORTED or _FLEXIBLE.match(name):
                raise InvalidInput(
                    f"{name} is not a query parameter this repository evaluates; supported: "
                    + ", ".join(sorted(SUPPORTED)),
                    code="unsupported_query_parameter",
                )
            raise _bad(f"unknown query parameter {name!r}; supported: " + ", ".join(sorted(SUPPORTED)))
        seen[name] = raw
    query = Query(
        event_types=_event_types(seen["eventType"]) if "eventType" in seen else None,
        times={name: _time(name, seen[name]) for name in _TIME_PARAMS if name in seen},
        actions=_actions(seen["EQ_action"]) if "EQ_action" in seen else None,
        biz_steps=(
            _vocabulary("EQ_bizStep", seen["EQ_bizStep"], CBV_BIZ_STEPS, "business step")
            if "EQ_bizStep" in seen
            else None
        ),
        dispositions=(
            _vocabulary("EQ_disposition", seen["EQ_disposition"], CBV_DISPOSITIONS, "disposition")
            if "EQ_disposition" in seen
            else None
        ),
        read_points=(
            frozenset(_identifier("EQ_readPoint", v).canonical for v in _values("EQ_readPoint", seen["EQ_readPoint"]))
            if "EQ_readPoint" in seen
            else None
        ),
        biz_locations=(
            frozenset(_identifier("EQ_bizLocation", v) for v in _values("EQ_bizLocation", seen["EQ_bizLocation"]))
            if "EQ_bizLocation" in seen
            else None
        ),
        matches=tuple(_match(name, seen[name]) for name in MATCH_ROLES if name in seen),
        event_ids=frozenset(_values("EQ_eventID", seen["EQ_eventID"])) if "EQ_eventID" in seen else None,
        error_declarations_only=_boolean("EXISTS_errorDeclaration", seen.get("EXISTS_errorDeclaration")),
    )
    fingerprint = _fingerprint(params)
    token = seen.get("nextPageToken")
    return Request(
        query=query,
        per_page=_per_page(seen.get("perPage")),
        after=_decode_token(token, fingerprint) if token is not None else None,
        fingerprint=fingerprint,
    )


def _event_types(raw: str) -> frozenset[str]:
    types = _values("eventType", raw)
    for value in types:
        if value not in EVENT_TYPES and ":" not in value:
            raise _bad(f"eventType: {value!r} is not one of {', '.join(EVENT_TYPES)} nor an extension type URI")
    return frozenset(types)


def _actions(raw: str) -> frozenset[str]:
    actions = _values("EQ_action", raw)
    for value in actions:
        if value not in ACTIONS:
            raise _bad(f"EQ_action: {value!r} is not ADD, OBSERVE or DELETE")
    return frozenset(actions)


def _boolean(name: str, raw: str | None) -> bool:
    if raw is None or raw.strip().lower() == "false":
        return False
    if raw.strip().lower() == "true":
        return True
    raise _bad(f"{name}: {raw!r} is not true or false")


# ------------------------------------------------------------------------------------------ filters


def _captured_filters(query: Query) -> list[ColumnElement[bool]]:
    ev = EpcisEvent
    where: list[ColumnElement[bool]] = []
    if query.event_types is not None:
        where.append(ev.type.in_(sorted(query.event_types)))
    if query.actions is not None:
        where.append(ev.action.in_(sorted(query.actions)))
    if query.biz_steps is not None:
        where.append(ev.biz_step.in_(sorted(query.biz_steps)))
    if query.dispositions is not None:
        where.append(ev.disposition.in_(sorted(query.dispositions)))
    if query.read_points is not None:
        where.append(ev.read_point.in_(sorted(query.read_points)))
    if query.biz_locations is not None:
        where.append(ev.biz_location.in_(sorted(i.canonical for i in query.biz_locations)))
    if query.event_ids is not None:
        where.append(ev.event_id.in_(sorted(query.event_ids)))
    if query.error_declarations_only:
        where.append(ev.kind == "error_declaration")
    times = query.times
    if "GE_eventTime" in times:
        where.append(ev.event_time >= times["GE_eventTime"])
    if "LT_eventTime" in times:
        where.append(ev.event_time < times["LT_eventTime"])
    if "GE_recordTime" in times:
        where.append(ev.record_time >= times["GE_recordTime"])
    if "LT_recordTime" in times:
        where.append(ev.record_time < times["LT_recordTime"])
    for match in query.matches:
        wanted = [EpcisEpc.epc.in_(sorted({i.canonical for i in match.identifiers}))] if match.identifiers else []
        if match.gtins:
            wanted.append(EpcisEpc.gtin.in_(sorted(set(match.gtins))))
        where.append(ev.id.in_(select(EpcisEpc.epcis_event_id).where(EpcisEpc.role.in_(match.roles), or_(*wanted))))
    return where


def _native_actions(query: Query) -> list[str]:
    """The native actions whose EPCIS form passes the type, action, bizStep and disposition filters."""
    found = []
    for native, (event_type, action, biz_step, disposition) in NATIVE_AS_EPCIS.items():
        if query.event_types is not None and event_type not in query.event_types:
            continue
        if query.actions is not None and action not in query.actions:
            continue
        if query.biz_steps is not None and biz_step not in query.biz_steps:
            continue
        if query.dispositions is not None and disposition not in query.dispositions:
            continue
        found.append(native)
    return found


def native_event_uri(base_url: str, event_id: int) -> str:
    return f"{base_url}/v1/events/{event_id}"


def _native_ids(base_url: str, event_ids: Iterable[str]) -> list[int]:
    pattern = re.compile(re.escape(f"{base_url}/v1/events/") + r"([1-9][0-9]{0,17})")
    return sorted({int(m[1]) for i in event_ids if (m := pattern.fullmatch(i))})


def _units_matching(match: Match) -> ColumnElement[bool] | None:
    pairs = [and_(Unit.gtin == i.gtin, Unit.serial == i.serial) for i in match.identifiers if i.is_unit]
    if match.gtins:
        pairs.append(Unit.gtin.in_(sorted(set(match.gtins))))
    return or_(*pairs) if pairs else None


def _native_match(match: Match) -> ColumnElement[bool]:
    """Native events that name what ``match`` asks for, as the export below lists it (epcList, childEPCs,
    parentID). Native events have no input/output lists or classes."""
    units = _units_matching(match)
    ssccs = sorted({i.sscc for i in match.identifiers if i.sscc})
    found: list[ColumnElement[bool]] = []
    if set(match.roles) & {"epc", "child"}:
        named = []
        if units is not None:
            named.append(EventItem.unit_id.in_(select(Unit.id).where(units)))
        if ssccs:
            named.append(EventItem.container_sscc.in_(ssccs))
        if named:
            # What an unpack names is its parentID, not one of its EPCs.
            found.append(and_(Event.action != "unpack", Event.id.in_(select(EventItem.event_id).where(or_(*named)))))
        # The children an unpack took out of its container.
        taken_out = []
        if units is not None:
            taken_out.append(Containment.unit_id.in_(select(Unit.id).where(units)))
        if ssccs:
            taken_out.append(Containment.child_sscc.in_(ssccs))
        if taken_out:
            item = aliased(EventItem)
            found.append(
                and_(
                    Event.action == "unpack",
                    exists().where(
                        Containment.unpacked_event_id == Event.id,
                        or_(*taken_out),
                        item.event_id == Event.id,
                        item.container_sscc == Containment.parent_sscc,
                    ),
                )
            )
    if "parent" in match.roles and ssccs:
        found.append(and_(Event.action == "pack", Event.container_sscc.in_(ssccs)))
        found.append(
            and_(
                Event.action == "unpack",
                Event.id.in_(select(EventItem.event_id).where(EventItem.container_sscc.in_(ssccs))),
            )
        )
    return or_(*found) if found else false()


def _native_filters(query: Query, base_url: str) -> list[ColumnElement[bool]] | None:
    """The WHERE of the native source, or None when no native event can match."""
    if query.read_points is not None or query.error_declarations_only:
        return None  # native events carry no readPoint and are never error declarations
    if any(not set(match.roles) & {"epc", "child", "parent"} for match in query.matches):
        return None  # MATCH_inputEPC / outputEPC / anyEPCClass: native events have none
    actions = _native_actions(query)
    if not actions:
        return None
    where: list[ColumnElement[bool]] = [
        Event.action.in_(actions),
        ~exists().where(EpcisEvent.native_event_id == Event.id),
    ]
    if query.biz_locations is not None:
        glns = sorted({i.gln for i in query.biz_locations if i.gln and i.canonical == canonical_gln_uri(i.gln)})
        if not glns:
            return None
        where.append(Event.org_id.in_(select(Organisation.id).where(Organisation.gln.in_(glns))))
    if query.event_ids is not None:
        ids = _native_ids(base_url, query.event_ids)
        if not ids:
            return None
        where.append(Event.id.in_(ids))
    times = query.times
    if "GE_eventTime" in times:
        where.append(Event.occurred_at >= times["GE_eventTime"])
    if "LT_eventTime" in times:
        where.append(Event.occurred_at < times["LT_eventTime"])
    if "GE_recordTime" in times:
        where.append(Event.recorded_at >= times["GE_recordTime"])
    if "LT_recordTime" in times:
        where.append(Event.recorded_at < times["LT_recordTime"])
    where.extend(_native_match(match) for match in query.matches)
    return where


# ------------------------------------------------------------------------------------------ visibility


def _viewer(principal: Principal) -> str | None:
    """The organisation whose view applies, or None for a regulator or an admin (who see every event)."""
    return None if principal.role in ("regulator", "admin") else principal.org_id


def _captured_visible(org_id: str) -> ColumnElement[bool]:
    native = aliased(Event)
    return or_(
        EpcisEvent.org_id == org_id,
        # units issued or commissioned here for its products (a GTIN alone proves nothing: anyone may register
        # one, and must not read what others captured about it before)
        exists().where(
            EpcisEpc.epcis_event_id == EpcisEvent.id,
            EpcisEpc.unit_id == Unit.id,
            Unit.gtin == Product.gtin,
            Product.manufacturer_id == org_id,
        ),
        exists().where(
            native.id == EpcisEvent.native_event_id, or_(native.to_id == org_id, native.platform_id == org_id)
        ),
    )


def _native_visible(org_id: str) -> ColumnElement[bool]:
    """The events an organisation took part in, and those that moved units of its products (named, or inside
    a named container at the time, one or two levels deep)."""
    inner, outer = aliased(Containment), aliased(Containment)

    def during(row: Any) -> ColumnElement[bool]:
        return and_(
            row.packed_event_id <= Event.id, or_(row.unpacked_event_id.is_(None), row.unpacked_event_id >= Event.id)
        )

    mine = and_(Unit.gtin == Product.gtin, Product.manufacturer_id == org_id)
    return or_(
        Event.org_id == org_id,
        Event.to_id == org_id,
        Event.platform_id == org_id,
        exists().where(EventItem.event_id == Event.id, Unit.id == EventItem.unit_id, mine),
        exists().where(
            EventItem.event_id == Event.id,
            inner.parent_sscc == EventItem.container_sscc,
            during(inner),
            Unit.id == inner.unit_id,
            mine,
        ),
        exists().where(
            EventItem.event_id == Event.id,
            outer.parent_sscc == EventItem.container_sscc,
            during(outer),
            inner.parent_sscc == outer.child_sscc,
            during(inner),
            Unit.id == inner.unit_id,
            mine,
        ),
    )


# ------------------------------------------------------------------------------------------ the merged read


def _after(column: Any, row_id: Any, source: int, after: Position | None) -> list[ColumnElement[bool]]:
    """Keyset condition for one source, whose rows all carry ``source`` in the (recordTime, source, id) order."""
    if after is None:
        return []
    if source > after.source:
        return [column >= after.record_time]
    if source < after.source:
        return [column > after.record_time]
    return [or_(column > after.record_time, and_(column == after.record_time, row_id > after.row_id))]


def _branch(record_time: Any, row_id: Any, source: int, where: list[Any], limit: int) -> Any:
    """One source's next ``limit`` positions, read in (recordTime, id) order from its index."""
    return (
        select(record_time.label("record_time"), literal(source, Integer).label("source"), row_id.label("row_id"))
        .where(*where)
        .order_by(record_time, row_id)
        .limit(limit)
        .subquery()
    )


def _positions(
    session: Session, viewer: str | None, query: Query, base_url: str, after: Position | None, limit: int
) -> list[Position]:
    """The next ``limit`` positions of the merged order; ``viewer`` None sees every event."""
    branches = []
    captured = _captured_filters(query)
    if viewer is not None:
        captured.append(_captured_visible(viewer))
    captured += _after(EpcisEvent.record_time, EpcisEvent.id, CAPTURED, after)
    branches.append(_branch(EpcisEvent.record_time, EpcisEvent.id, CAPTURED, captured, limit))
    native = _native_filters(query, base_url)
    if native is not None:
        if viewer is not None:
            native.append(_native_visible(viewer))
        native += _after(Event.recorded_at, Event.id, NATIVE, after)
        branches.append(_branch(Event.recorded_at, Event.id, NATIVE, native, limit))
    merged = union_all(*(select(b.c.record_time, b.c.source, b.c.row_id) for b in branches)).subquery()
    rows = session.execute(
        select(merged.c.record_time, merged.c.source, merged.c.row_id)
        .order_by(merged.c.record_time, merged.c.source, merged.c.row_id)
        .limit(limit)
    ).all()
    # The union's column loses the UTC type on some dialects: read times back through the model's type.
    return [Position(_as_utc(r[0]), int(r[1]), int(r[2])) for r in rows]


def _as_utc(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass
class Page:
    document: dict[str, Any]
    next_token: str | None


def query_events(
    session: Session, principal: Principal, params: Sequence[tuple[str, str]], *, base_url: str, now: datetime
) -> Page:
    request = parse_request(params)
    positions = _positions(session, _viewer(principal), request.query, base_url, request.after, request.per_page + 1)
    more = len(positions) > request.per_page
    positions = positions[: request.per_page]
    events, contexts = _documents(session, positions, base_url)
    token = encode_token(positions[-1], request.fingerprint) if more and positions else None
    return Page(query_document(events, contexts, base_url=base_url, now=now), token)


def event_by_id(
    session: Session, principal: Principal, event_id: str, *, base_url: str, now: datetime
) -> dict[str, Any]:
    """The event with this eventID and the error declarations about it, as one EPCISQueryDocument."""
    query = Query(event_ids=frozenset({event_id}))
    found = _positions(session, None, query, base_url, None, PER_PAGE_MAX)
    native_ids = _native_ids(base_url, [event_id])
    if native_ids and not found:
        # A native event a capture recorded is listed as captured.
        captured_id = session.scalar(select(EpcisEvent.event_id).where(EpcisEvent.native_event_id == native_ids[0]))
        if captured_id is not None:
            return event_by_id(session, principal, captured_id, base_url=base_url, now=now)
    if not found:
        raise NotFound(f"no EPCIS event {event_id!r}", code="event_not_found")
    if _viewer(principal) is not None:
        found = _positions(session, _viewer(principal), query, base_url, None, PER_PAGE_MAX)
        if not found:
            raise Forbidden(
                "this event is about units your organisation neither made nor handled", code="foreign_event"
            )
    events, contexts = _documents(session, found, base_url)
    return query_document(events, contexts, base_url=base_url, now=now)


# ------------------------------------------------------------------------------------------ documents


def passport_namespace(base_url: str) -> str:
    return f"{base_url}/epcis/vocab#"


def query_document(
    events: list[dict[str, Any]], contexts: list[list[Any] | None], *, base_url: str, now: datetime
) -> dict[str, Any]:
    """An EPCISQueryDocument; the senders' inline contexts are merged into the document's ``@context`` (an
    event whose prefixes clash with another's keeps its own ``@context``)."""
    merged: dict[str, Any] = {PASSPORT_PREFIX: passport_namespace(base_url)}
    urls: list[str] = []
    out = []
    for event, context in zip(events, contexts, strict=True):
        entries = [c for c in context or [] if c != EPCIS_CONTEXT]
        terms = {k: v for c in entries if isinstance(c, dict) for k, v in c.items()}
        if any(k in merged and merged[k] != v for k, v in terms.items()):
            event = {"@context": entries, **event}
        else:
            merged.update(terms)
            urls.extend(c for c in entries if isinstance(c, str) and c not in urls)
        out.append(event)
    return {
        "@context": [EPCIS_CONTEXT, *urls, merged],
        "type": "EPCISQueryDocument",
        "schemaVersion": "2.0",
        "creationDate": _time_text(now),
        "epcisBody": {"queryResults": {"queryName": "SimpleEventQuery", "resultsBody": {"eventList": out}}},
    }


def _time_text(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _documents(
    session: Session, positions: list[Position], base_url: str
) -> tuple[list[dict[str, Any]], list[list[Any] | None]]:
    captured_ids = [p.row_id for p in positions if p.source == CAPTURED]
    native_ids = [p.row_id for p in positions if p.source == NATIVE]
    captured: dict[int, tuple[dict[str, Any], list[Any] | None]] = {}
    if captured_ids:
        for row_id, document, context in session.execute(
            select(EpcisEvent.id, EpcisEvent.document, EpcisEvent.context).where(EpcisEvent.id.in_(captured_ids))
        ):
            captured[row_id] = (document, context)
    native = native_documents(session, native_ids, base_url) if native_ids else {}
    events: list[dict[str, Any]] = []
    contexts: list[list[Any] | None] = []
    for p in positions:
        if p.source == CAPTURED:
            events.append(captured[p.row_id][0])
            contexts.append(captured[p.row_id][1])
        else:
            events.append(native[p.row_id])
            contexts.append(None)
    return events, contexts


def native_documents(session: Session, ids: list[int], base_url: str) -> dict[int, dict[str, Any]]:
    """Native custody events as EPCIS 2.0 events (see ``NATIVE_AS_EPCIS``), with Passport's own fields under
    the ``passport:`` prefix."""
    events = session.scalars(select(Event).where(Event.id.in_(ids))).all()
    items: dict[int, list[str]] = defaultdict(list)
    containers: dict[int, list[str]] = defaultdict(list)
    for event_id, sscc, gtin, serial in session.execute(
        select(EventItem.event_id, EventItem.container_sscc, Unit.gtin, Unit.serial)
        .outerjoin(Unit, Unit.id == EventItem.unit_id)
        .where(EventItem.event_id.in_(ids))
        .order_by(EventItem.id)
    ):
        items[event_id].append(canonical_gtin_uri(gtin, serial) if gtin is not None else canonical_sscc_uri(sscc))
        if sscc is not None and gtin is None:
            containers[event_id].append(sscc)
    unpacks = [e.id for e in events if e.action == "unpack"]
    taken_out: dict[tuple[int, str], list[str]] = defaultdict(list)
    if unpacks:
        for event_id, parent, child, gtin, serial in session.execute(
            select(
                Containment.unpacked_event_id, Containment.parent_sscc, Containment.child_sscc, Unit.gtin, Unit.serial
            )
            .outerjoin(Unit, Unit.id == Containment.unit_id)
            .where(Containment.unpacked_event_id.in_(unpacks))
            .order_by(Containment.id)
        ):
            uri = canonical_gtin_uri(gtin, serial) if gtin is not None else canonical_sscc_uri(child)
            taken_out[(event_id, parent)].append(uri)
    org_ids = {i for e in events for i in (e.org_id, e.to_id) if i}
    glns = dict(session.execute(select(Organisation.id, Organisation.gln).where(Organisation.id.in_(org_ids))).all())
    log_index = dict(
        session.execute(
            select(LogNode.event_id, LogNode.index).where(LogNode.level == 0, LogNode.event_id.in_(ids))
        ).all()
    )
    out = {}
    for e in events:
        out[e.id] = _native_document(e, items[e.id], containers[e.id], taken_out, glns, log_index.get(e.id), base_url)
    return out


def _native_document(
    e: Event,
    items: list[str],
    containers: list[str],
    taken_out: dict[tuple[int, str], list[str]],
    glns: dict[str, str | None],
    log_index: int | None,
    base_url: str,
) -> dict[str, Any]:
    event_type, action, biz_step, disposition = NATIVE_AS_EPCIS[e.action]
    doc: dict[str, Any] = {
        "type": event_type,
        "eventTime": _time_text(e.occurred_at),
        "eventTimeZoneOffset": "+00:00",
        "recordTime": _time_text(e.recorded_at),
        "eventID": native_event_uri(base_url, e.id),
    }
    if e.action == "pack":
        doc["parentID"] = canonical_sscc_uri(e.container_sscc or "")
        doc["childEPCs"] = items
    elif e.action == "unpack":
        # An AggregationEvent has one parent: the first container; the rest are named under passport:.
        parent = containers[0] if containers else None
        if parent is not None:
            doc["parentID"] = canonical_sscc_uri(parent)
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
            {"parentID": canonical_sscc_uri(c), "childEPCs": taken_out.get((e.id, c), [])} for c in containers
        ]
    doc.update({f"{PASSPORT_PREFIX}:{k}": v for k, v in extensions.items() if v is not None})
    return doc
