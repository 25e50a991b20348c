"""EPCIS 2.0 query interface (EPCIS 2.0 §8.2.7 SimpleEventQuery over the REST binding of its OpenAPI file).

Two sources answer one query: events captured through ``POST /epcis/capture`` (returned as their senders wrote
them, plus ``recordTime`` and a server-set ``eventID``), and native custody events (``POST /v1/events``) exported as
EPCIS 2.0 (:mod:`.export`), except those a captured event recorded (listed once, as captured). Both are merged in
one order, the ``orderBy`` time (``recordTime`` unless asked) then source then row id, ascending or descending, and
paged by keyset: the opaque ``nextPageToken`` carries the last position, so a page costs one indexed range read
per source whatever page it is. Parameters that read inside an event (quantities, sensor data, ILMD and extension
fields...: :mod:`app.domain.epcis_filters`) are tested on the documents of the rows the indexed filters leave,
read in chunks until the page is full. The parameters, tokens and the answering document are pure:
:mod:`app.domain.epcis_query`.

Visibility follows the unit history: a regulator or an admin sees every event; any other organisation sees the
events it took part in (as actor, addressee or platform, or as the capturing organisation) and every event about
units of products it makes (through the containers that held them, two levels deep).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Integer, and_, exists, false, literal, or_, select, union_all
from sqlalchemy.orm import Session, aliased

from app.db.custody import in_import_package
from app.db.models import Containment, EpcisEpc, EpcisEvent, Event, EventItem, Organisation, Product, Unit
from app.domain.cn_code import CN_DRUG_ID_LENGTH
from app.domain.code_import import CodeKind, container_key
from app.domain.epcis import canonical_gln_uri
from app.domain.epcis_fields import EpcRole, RecordKind
from app.domain.epcis_query import (
    PER_PAGE_MAX,
    Match,
    Order,
    Position,
    Query,
    Request,
    Source,
    encode_token,
    native_actions,
    native_ids,
    parse_request,
    query_document,
)
from app.domain.errors import Forbidden, NotFound, QueryTooLarge
from app.domain.orgs import READS_EVERYTHING
from app.services.epcis.export import native_documents
from app.services.orgs import Principal

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
    if query.read_points_within is not None:
        where.append(_within(ev.read_point, query.read_points_within))
    if query.biz_locations_within is not None:
        where.append(_within(ev.biz_location, {i.canonical for i in query.biz_locations_within}))
    if query.event_ids is not None:
        where.append(ev.event_id.in_(sorted(query.event_ids)))
    if query.error_declarations_only:
        where.append(ev.kind == RecordKind.ERROR_DECLARATION)
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


def _within(column: Any, locations: set[str] | frozenset[str]) -> ColumnElement[bool]:
    """WD_: the location, or one inside it. The hierarchy Passport knows without master data is GS1's own: a
    GLN with an extension (AI 254, ``.../414/{gln}/254/{ext}``) is a place within the GLN's location."""
    found: list[ColumnElement[bool]] = [column.in_(sorted(locations))]
    for location in sorted(locations):
        if location.startswith("https://id.gs1.org/414/") and "/254/" not in location:
            found.append(column.startswith(f"{location}/254/", autoescape=True))
    return or_(*found)


def _units_matching(match: Match) -> ColumnElement[bool] | None:
    pairs = [and_(Unit.gtin == i.gtin, Unit.serial == i.serial) for i in match.identifiers if i.is_unit]
    pairs += [  # a 20-digit code: the unit of the product whose 药品标识码 begins it
        and_(
            Unit.serial == code,
            Unit.gtin.in_(select(Product.gtin).where(Product.cn_drug_id == code[:CN_DRUG_ID_LENGTH])),
        )
        for i in match.identifiers
        if (code := i.cn_code) is not None
    ]
    if match.gtins:
        pairs.append(Unit.gtin.in_(sorted(set(match.gtins))))
    return or_(*pairs) if pairs else None


def _native_match(match: Match) -> ColumnElement[bool]:
    """Native events that name what ``match`` asks for, as the export below lists it (epcList, childEPCs,
    parentID). Native events have no input/output lists or classes."""
    units = _units_matching(match)
    ssccs = sorted({i.sscc for i in match.identifiers if i.sscc})
    # a 20-digit code may be an imported package (box, case): the container it became
    ssccs += sorted({container_key(code, CodeKind.CN) for i in match.identifiers if (code := i.cn_code) is not None})
    found: list[ColumnElement[bool]] = []
    if set(match.roles) & {EpcRole.EPC, EpcRole.CHILD}:
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
    if EpcRole.PARENT in match.roles and ssccs:
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
    if query.read_points is not None or query.read_points_within is not None or query.error_declarations_only:
        return None  # native events carry no readPoint and are never error declarations
    if not query.natives_possible:
        return None  # a filter on fields native events never carry (quantities, sensors, ILMD...)
    if any(not set(match.roles) & {EpcRole.EPC, EpcRole.CHILD, EpcRole.PARENT} for match in query.matches):
        return None  # MATCH_inputEPC / outputEPC / anyEPCClass: native events have none
    actions = native_actions(query)
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
    if query.biz_locations_within is not None:
        # a native event's bizLocation is its organisation's GLN, never a sub-location
        glns = sorted({i.gln for i in query.biz_locations_within if i.gln and i.canonical == canonical_gln_uri(i.gln)})
        if not glns:
            return None
        where.append(Event.org_id.in_(select(Organisation.id).where(Organisation.gln.in_(glns))))
    if query.event_ids is not None:
        ids = native_ids(base_url, query.event_ids)
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
    return None if principal.role in READS_EVERYTHING else principal.org_id


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
    a named container at the time, one or two levels deep, by a containment row or still in an import's package)."""
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
        # units still in the packages an import put them in have no containment row (inside since the import)
        exists().where(
            EventItem.event_id == Event.id, Unit.container_sscc == EventItem.container_sscc, in_import_package(), mine
        ),
        exists().where(
            EventItem.event_id == Event.id,
            outer.parent_sscc == EventItem.container_sscc,
            during(outer),
            Unit.container_sscc == outer.child_sscc,
            in_import_package(),
            mine,
        ),
    )


# ------------------------------------------------------------------------------------------ the merged read


def _after(column: Any, row_id: Any, source: Source, after: Position | None, order: Order) -> list[Any]:
    """Keyset condition for one source, whose rows all carry ``source`` in the (key, source, id) order,
    ascending or descending as a whole."""
    if after is None:
        return []
    if order.descending:
        if source < after.source:
            return [column <= after.key]
        if source > after.source:
            return [column < after.key]
        return [or_(column < after.key, and_(column == after.key, row_id < after.row_id))]
    if source > after.source:
        return [column >= after.key]
    if source < after.source:
        return [column > after.key]
    return [or_(column > after.key, and_(column == after.key, row_id > after.row_id))]


def _branch(key: Any, row_id: Any, source: Source, where: list[Any], limit: int, order: Order) -> Any:
    """One source's next ``limit`` positions, read in (key, id) order from its index."""
    ordering = (key.desc(), row_id.desc()) if order.descending else (key, row_id)
    return (
        select(key.label("key"), literal(source, Integer).label("source"), row_id.label("row_id"))
        .where(*where)
        .order_by(*ordering)
        .limit(limit)
        .subquery()
    )


def _positions(
    session: Session, viewer: str | None, query: Query, base_url: str, after: Position | None, limit: int
) -> list[Position]:
    """The next ``limit`` positions of the merged order; ``viewer`` None sees every event."""
    order = query.order
    by_event_time = order.field == "eventTime"
    branches = []
    captured = _captured_filters(query)
    if viewer is not None:
        captured.append(_captured_visible(viewer))
    key = EpcisEvent.event_time if by_event_time else EpcisEvent.record_time
    captured += _after(key, EpcisEvent.id, Source.CAPTURED, after, order)
    branches.append(_branch(key, EpcisEvent.id, Source.CAPTURED, captured, limit, order))
    native = _native_filters(query, base_url)
    if native is not None:
        if viewer is not None:
            native.append(_native_visible(viewer))
        key = Event.occurred_at if by_event_time else Event.recorded_at
        native += _after(key, Event.id, Source.NATIVE, after, order)
        branches.append(_branch(key, Event.id, Source.NATIVE, native, limit, order))
    merged = union_all(*(select(b.c.key, b.c.source, b.c.row_id) for b in branches)).subquery()
    columns = (merged.c.key, merged.c.source, merged.c.row_id)
    rows = session.execute(
        select(*columns).order_by(*(c.desc() for c in columns) if order.descending else columns).limit(limit)
    ).all()
    # The union's column loses the UTC type on some dialects: read times back through the model's type.
    return [Position(_as_utc(r[0]), Source(int(r[1])), int(r[2])) for r in rows]


def _as_utc(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass
class Page:
    document: dict[str, Any]
    next_token: str | None


SCAN_CHUNK = 500  # rows read at a time when filters are tested on the events' documents


def _matching(
    session: Session, viewer: str | None, query: Query, base_url: str, after: Position | None, want: int
) -> tuple[list[Position], list[dict[str, Any]], list[list[Any] | None]]:
    """The next ``want`` events that pass every filter, with their documents. Without filters that read
    inside events, one indexed read; with them, chunks of :data:`SCAN_CHUNK` rows until ``want`` pass."""
    if not query.filters:
        positions = _positions(session, viewer, query, base_url, after, want)
        events, contexts = _documents(session, positions, base_url)
        return positions, events, contexts
    found: tuple[list[Position], list[dict[str, Any]], list[list[Any] | None]] = ([], [], [])
    while len(found[0]) < want:
        chunk = _positions(session, viewer, query, base_url, after, SCAN_CHUNK)
        events, contexts = _documents(session, chunk, base_url)
        for position, event, context in zip(chunk, events, contexts, strict=True):
            if query.test(event):
                found[0].append(position)
                found[1].append(event)
                found[2].append(context)
                if len(found[0]) == want:
                    break
        if len(chunk) < SCAN_CHUNK:
            break
        after = chunk[-1]
    return found


def _check_size(session: Session, viewer: str | None, request: Request, base_url: str) -> None:
    """maxEventCount: more matching events than that is the standard's QueryTooLargeException (counted over the
    whole result, whatever page is asked)."""
    maximum = request.query.max_event_count
    if maximum is None:
        return
    positions, _, _ = _matching(session, viewer, request.query, base_url, None, maximum + 1)
    if len(positions) > maximum:
        raise QueryTooLarge(
            f"more than maxEventCount={maximum} events match this query; narrow it or raise maxEventCount",
            code="query_too_large",
        )


def query_events(
    session: Session, principal: Principal, params: Sequence[tuple[str, str]], *, base_url: str, now: datetime
) -> Page:
    request = parse_request(params)
    viewer = _viewer(principal)
    _check_size(session, viewer, request, base_url)
    per_page = request.per_page
    limit = request.query.event_count_limit
    if limit is not None:
        per_page = min(per_page, limit - request.served)
    positions, events, contexts = (
        _matching(session, viewer, request.query, base_url, request.after, per_page + 1)
        if per_page > 0
        else ([], [], [])
    )
    more = len(positions) > per_page
    positions, events, contexts = positions[:per_page], events[:per_page], contexts[:per_page]
    served = request.served + len(positions)
    more = more and (limit is None or served < limit)
    token = encode_token(positions[-1], request.fingerprint, served) if more and positions else None
    return Page(query_document(events, contexts, base_url=base_url, now=now), token)


def event_by_id(
    session: Session, principal: Principal, event_id: str, *, base_url: str, now: datetime
) -> dict[str, Any]:
    """The event with this eventID and the error declarations about it, as one EPCISQueryDocument."""
    query = Query(event_ids=frozenset({event_id}))
    found = _positions(session, None, query, base_url, None, PER_PAGE_MAX)
    natives = native_ids(base_url, [event_id])
    if natives and not found:
        # A native event a capture recorded is listed as captured.
        captured_id = session.scalar(select(EpcisEvent.event_id).where(EpcisEvent.native_event_id == natives[0]))
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


def _documents(
    session: Session, positions: list[Position], base_url: str
) -> tuple[list[dict[str, Any]], list[list[Any] | None]]:
    captured_ids = [p.row_id for p in positions if p.source is Source.CAPTURED]
    native_rows = [p.row_id for p in positions if p.source is Source.NATIVE]
    captured: dict[int, tuple[dict[str, Any], list[Any] | None]] = {}
    if captured_ids:
        for row_id, document, context in session.execute(
            select(EpcisEvent.id, EpcisEvent.document, EpcisEvent.context).where(EpcisEvent.id.in_(captured_ids))
        ):
            captured[row_id] = (document, context)
    native = native_documents(session, native_rows, base_url) if native_rows else {}
    events: list[dict[str, Any]] = []
    contexts: list[list[Any] | None] = []
    for p in positions:
        if p.source is Source.CAPTURED:
            events.append(captured[p.row_id][0])
            contexts.append(captured[p.row_id][1])
        else:
            events.append(native[p.row_id])
            contexts.append(None)
    return events, contexts


def events_after(
    session: Session,
    principal: Principal,
    params: Sequence[tuple[str, str]],
    after: Position,
    before: datetime,
    *,
    limit: int,
    base_url: str,
    now: datetime,
) -> tuple[list[Position], dict[str, Any]]:
    """Up to ``limit`` events the query matches, recorded after ``after`` and before ``before``, in the order
    they were recorded and as the principal may see them, with their EPCISQueryDocument: what an EPCIS
    subscription pushes next (its query holds no ordering parameter, so the order is recordTime ascending)."""
    query = parse_request(params).query
    positions, events, contexts = _matching(session, _viewer(principal), query, base_url, after, limit)
    keep = next((i for i, position in enumerate(positions) if position.key >= before), len(positions))
    return positions[:keep], query_document(events[:keep], contexts[:keep], base_url=base_url, now=now)
