"""The EPCIS 2.0 query interface without I/O: its parameters, its page tokens, and the query document it answers.

EPCIS 2.0 §8.2.7 defines SimpleEventQuery; its REST binding (the standard's OpenAPI file, ``GET /events``) passes
the parameters in the query string. :func:`parse_request` checks every parameter (unknown and repeated ones are
refused, and so are standard ones Passport does not evaluate, since ignoring a filter would answer with events the
client asked to exclude: a :class:`QueryParameterError`, the standard's QueryParameterException) and builds a
:class:`Query`: the parameters the database indexes answer here, those that read inside an event in
:mod:`app.domain.epcis_filters`. Pages are read by keyset: the opaque ``nextPageToken`` carries the last
:class:`Position` of the merged order (the ``orderBy`` time, source, row id), the events served so far (for
``eventCountLimit``) and a fingerprint of the filters, so a token only continues the query that made it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import IntEnum
from typing import Any

from app.domain import epcis_filters
from app.domain.epcis import EPCIS_CONTEXT_URLS, NATIVE_AS_EPCIS, Identifier, bare_word, canonical_identifier
from app.domain.epcis_fields import EpcRole
from app.domain.epcis_filters import Filter
from app.domain.errors import InvalidInput, QueryParameterError

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
_LIST_PARAMS = (
    "eventType",
    "EQ_action",
    "EQ_bizStep",
    "EQ_disposition",
    "EQ_readPoint",
    "EQ_bizLocation",
    "WD_readPoint",
    "WD_bizLocation",
)
ORDER_PARAMS = ("orderBy", "orderDirection", "eventCountLimit", "maxEventCount")
ORDER_FIELDS = ("eventTime", "recordTime")
# MATCH_* parameter -> the roles of epcis_epc rows it looks at.
MATCH_ROLES: dict[str, tuple[EpcRole, ...]] = {
    "MATCH_epc": (EpcRole.EPC, EpcRole.CHILD),
    "MATCH_parentID": (EpcRole.PARENT,),
    "MATCH_inputEPC": (EpcRole.INPUT,),
    "MATCH_outputEPC": (EpcRole.OUTPUT,),
    "MATCH_anyEPC": (EpcRole.EPC, EpcRole.CHILD, EpcRole.PARENT, EpcRole.INPUT, EpcRole.OUTPUT),
    "MATCH_anyEPCClass": (EpcRole.CLASS,),
}
SUPPORTED = frozenset(
    (
        *_TIME_PARAMS,
        *_LIST_PARAMS,
        *ORDER_PARAMS,
        *MATCH_ROLES,
        *epcis_filters.FIXED_NAMES,
        "EQ_eventID",
        "EXISTS_errorDeclaration",
        "perPage",
        "nextPageToken",
    )
)
_FLEXIBLE = re.compile(r"^(EQ|GT|GE|LT|LE|EXISTS|HASATTR|EQATTR|WD|MATCH)_")
_IDPAT_SGTIN = re.compile(r"^urn:epc:idpat:sgtin:(\d+)\.(\d+)\.\*$")


class Source(IntEnum):
    """Where an event comes from, in the merged order: captured before native at the same recordTime."""

    CAPTURED = 0  # POST /epcis/capture, as sent
    NATIVE = 1  # POST /v1/events, exported as EPCIS


def _bad(detail: str) -> QueryParameterError:
    return QueryParameterError(detail, code="invalid_query_parameter")


# ------------------------------------------------------------------------------------------ parameters


@dataclass(frozen=True, slots=True)
class Match:
    """What one MATCH_* parameter asks for: exact canonical identifiers, or whole GTINs (``idpat`` patterns)."""

    roles: tuple[EpcRole, ...]
    identifiers: tuple[Identifier, ...] = ()
    gtins: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Order:
    """``orderBy`` (eventTime or recordTime) and ``orderDirection``; without orderBy, recordTime ascending."""

    field: str = "recordTime"
    descending: bool = False


@dataclass(frozen=True, slots=True)
class Query:
    event_types: frozenset[str] | None = None
    times: dict[str, datetime] = field(default_factory=dict)
    actions: frozenset[str] | None = None
    biz_steps: frozenset[str] | None = None
    dispositions: frozenset[str] | None = None
    read_points: frozenset[str] | None = None
    biz_locations: frozenset[Identifier] | None = None
    # WD_: the location or one inside it (a GLN's sub-locations: the same GLN with an extension, AI 254)
    read_points_within: frozenset[str] | None = None
    biz_locations_within: frozenset[Identifier] | None = None
    matches: tuple[Match, ...] = ()
    event_ids: frozenset[str] | None = None
    error_declarations_only: bool = False
    filters: tuple[Filter, ...] = ()  # read inside each event (epcis_filters), after the indexed ones
    order: Order = Order()
    event_count_limit: int | None = None
    max_event_count: int | None = None

    @property
    def natives_possible(self) -> bool:
        """Whether a native event can satisfy the filters that read inside events."""
        return all(f.native for f in self.filters)

    def test(self, event: dict[str, Any]) -> bool:
        return all(f.test(event) for f in self.filters)


@dataclass(frozen=True, slots=True)
class Position:
    """Where a page ended: the last event's (order key: its eventTime or recordTime, source, row id)."""

    key: datetime
    source: Source
    row_id: int


@dataclass(frozen=True, slots=True)
class Request:
    query: Query
    per_page: int
    after: Position | None
    fingerprint: str  # of the filters, so a token is only good for the query that made it
    served: int = 0  # events the earlier pages of this query served (eventCountLimit counts them)


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


def encode_token(position: Position, fingerprint: str, served: int = 0) -> str:
    body: dict[str, Any] = {"t": position.key.isoformat(), "s": int(position.source), "i": position.row_id}
    if served:
        body["n"] = served
    body["q"] = fingerprint
    return base64.urlsafe_b64encode(json.dumps(body, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_token(raw: str, fingerprint: str) -> Position:
    return _decode_token(raw, fingerprint)[0]


def _decode_token(raw: str, fingerprint: str) -> tuple[Position, int]:
    try:
        body = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
        position = Position(datetime.fromisoformat(body["t"]).astimezone(UTC), Source(int(body["s"])), int(body["i"]))
        served = int(body.get("n", 0))
        same_query = body["q"] == fingerprint
        if not 0 <= position.row_id < 2**63 or not 0 <= served < 2**63:
            raise ValueError("out of range")
    except (ValueError, KeyError, TypeError, OverflowError, RecursionError, AttributeError, binascii.Error):
        raise _bad("nextPageToken: not a token this service issued") from None
    if not same_query:
        raise _bad("nextPageToken: the token belongs to a query with other filters; repeat the same parameters")
    return position, served


def parse_request(params: Sequence[tuple[str, str]]) -> Request:
    """Check every query parameter (unknown and repeated ones are refused) and build the query."""
    seen: dict[str, str] = {}
    filters: list[Filter] = []
    for name, raw in params:
        if name in seen:
            raise _bad(f"{name} is given twice; give it once, several values separated by '|'")
        seen[name] = raw
        if name in epcis_filters.FIXED_NAMES or name not in SUPPORTED:
            found = _filter(name, raw)
            if found is not None:
                filters.append(found)
                continue
            if _FLEXIBLE.match(name):
                raise QueryParameterError(
                    f"{name} is not a query parameter this repository evaluates; supported: " + _supported_text(),
                    code="unsupported_query_parameter",
                )
            raise _bad(f"unknown query parameter {name!r}; supported: " + _supported_text())
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
        read_points_within=(
            frozenset(_identifier("WD_readPoint", v).canonical for v in _values("WD_readPoint", seen["WD_readPoint"]))
            if "WD_readPoint" in seen
            else None
        ),
        biz_locations_within=(
            frozenset(_identifier("WD_bizLocation", v) for v in _values("WD_bizLocation", seen["WD_bizLocation"]))
            if "WD_bizLocation" in seen
            else None
        ),
        matches=tuple(_match(name, seen[name]) for name in MATCH_ROLES if name in seen),
        event_ids=frozenset(_values("EQ_eventID", seen["EQ_eventID"])) if "EQ_eventID" in seen else None,
        error_declarations_only=_boolean("EXISTS_errorDeclaration", seen.get("EXISTS_errorDeclaration")),
        filters=tuple(filters),
        **_ordering(seen),
    )
    fingerprint = _fingerprint(params)
    token = seen.get("nextPageToken")
    after, served = _decode_token(token, fingerprint) if token is not None else (None, 0)
    return Request(
        query=query,
        per_page=_per_page(seen.get("perPage")),
        after=after,
        fingerprint=fingerprint,
        served=served,
    )


def _supported_text() -> str:
    return ", ".join([*sorted(SUPPORTED), *epcis_filters.FAMILIES])


def _filter(name: str, raw: str) -> Filter | None:
    try:
        return epcis_filters.parse(name, raw)
    except InvalidInput as error:
        raise QueryParameterError(error.detail, code=error.code) from None


def _count(name: str, raw: str | None) -> int | None:
    if raw is None:
        return None
    text = raw.strip()
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise _bad(f"{name}: {raw!r} is not a positive integer")
    return int(text)


def _ordering(seen: dict[str, str]) -> dict[str, Any]:
    """orderBy, orderDirection (DESC by default, as the standard says), eventCountLimit and maxEventCount."""
    order_by = seen.get("orderBy")
    if order_by is not None and order_by.strip() not in ORDER_FIELDS:
        if ":" in order_by or "#" in order_by:
            raise QueryParameterError(
                f"orderBy: ordering by the extension field {order_by!r} is not evaluated here; order by "
                + " or ".join(ORDER_FIELDS),
                code="unsupported_query_parameter",
            )
        raise _bad(f"orderBy: {order_by!r} is not {' or '.join(ORDER_FIELDS)} (nor an extension field name)")
    direction = seen.get("orderDirection")
    if direction is not None and direction.strip() not in ("ASC", "DESC"):
        raise _bad(f"orderDirection: {direction!r} is not ASC or DESC")
    limit = _count("eventCountLimit", seen.get("eventCountLimit"))
    maximum = _count("maxEventCount", seen.get("maxEventCount"))
    if limit is not None and maximum is not None:
        raise _bad("eventCountLimit and maxEventCount are mutually exclusive; give one")
    if limit is not None and order_by is None:
        raise _bad("eventCountLimit needs orderBy: it keeps the first events of that order")
    order = Order()
    if order_by is not None:
        order = Order(order_by.strip(), (direction or "DESC").strip() == "DESC")
    return {"order": order, "event_count_limit": limit, "max_event_count": maximum}


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


# ------------------------------------------------------------------------------------------ native events


def native_actions(query: Query) -> list[str]:
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


def native_ids(base_url: str, event_ids: Iterable[str]) -> list[int]:
    """The native event ids among ``event_ids`` (the eventIDs native events are exported under)."""
    pattern = re.compile(re.escape(f"{base_url}/v1/events/") + r"([1-9][0-9]{0,17})")
    return sorted({int(m[1]) for i in event_ids if (m := pattern.fullmatch(i))})


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
        "creationDate": time_text(now),
        "epcisBody": {"queryResults": {"queryName": "SimpleEventQuery", "resultsBody": {"eventList": out}}},
    }


def time_text(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
