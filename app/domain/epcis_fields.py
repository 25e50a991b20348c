"""Reading a captured EPCIS 2.0 document and its events, without I/O: what capture needs from the JSON.

The readers here take the JSON binding of EPCIS 2.0 (§9 of the standard; GS1's JSON Schema has checked the event
before any of them runs) and answer in Passport's terms: the identifiers an event names and in which role, the
party a shipment goes to, the ILMD lot and dates, times in UTC, the ``passport:`` extension fields that carry what
``POST /v1/events`` takes as fields. A malformed value is an :class:`InvalidInput` naming the field, which capture
reports as the error of that one event.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from app.domain.epcis import EPCIS_CONTEXT_URLS, PARTY_TYPES, Identifier, bare_word, canonical_identifier
from app.domain.errors import DomainError, InvalidInput
from app.domain.sale_rules import Prescription

DOCUMENT_TYPES = ("EPCISDocument", "EPCISQueryDocument")


class ErrorBehaviour(StrEnum):
    """``GS1-Capture-Error-Behaviour``: one error rejects the document, or the other events are captured."""

    ROLLBACK = "rollback"
    PROCEED = "proceed"


class RecordKind(StrEnum):
    """A captured record is an event, or an error declaration about one (EPCIS 2.0 §7.4.1.4)."""

    EVENT = "event"
    ERROR_DECLARATION = "error_declaration"


class EpcRole(StrEnum):
    """The part an identifier plays in an event (the list it came from), as MATCH_* parameters select them."""

    EPC = "epc"
    CHILD = "child"
    PARENT = "parent"
    INPUT = "input"
    OUTPUT = "output"
    CLASS = "class"


EPC_LISTS = (
    ("epcList", EpcRole.EPC),
    ("childEPCs", EpcRole.CHILD),
    ("inputEPCList", EpcRole.INPUT),
    ("outputEPCList", EpcRole.OUTPUT),
)
QUANTITY_LISTS = ("quantityList", "childQuantityList", "inputQuantityList", "outputQuantityList")
# The native limits of the fields Passport reads from extensions (as POST /v1/events enforces them).
TEXT_LIMITS = {"region": 10, "channel": 10, "platform": 32, "orderRef": 100}

Role = tuple[EpcRole, Identifier]


def error_behaviour(header: str | None) -> ErrorBehaviour:
    """The ``GS1-Capture-Error-Behaviour`` header; ``rollback`` when absent."""
    try:
        return ErrorBehaviour((header or "rollback").strip().lower())
    except ValueError:
        raise InvalidInput(
            "GS1-Capture-Error-Behaviour must be 'rollback' or 'proceed'", code="invalid_header"
        ) from None


def record_kind(event: dict[str, Any]) -> RecordKind:
    return RecordKind.ERROR_DECLARATION if "errorDeclaration" in event else RecordKind.EVENT


# ------------------------------------------------------------------------------------------ documents


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def event_list(document: dict[str, Any]) -> list[Any]:
    """The events of an EPCISDocument (``event`` or ``eventList``) or of an EPCISQueryDocument's results."""
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


def without_events(document: dict[str, Any]) -> dict[str, Any]:
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


def check_context(document: dict[str, Any]) -> None:
    """Refuse a document whose @context names a remote context other than EPCIS 2.0's: it is never fetched."""
    context = document.get("@context")
    for entry in context if isinstance(context, list) else [context]:
        if isinstance(entry, str) and entry not in EPCIS_CONTEXT_URLS:
            raise InvalidInput(
                f"remote JSON-LD context {entry} is not fetched: only the EPCIS 2.0 context is known here; "
                "declare extension prefixes inline in @context",
                code="remote_context_refused",
            )


def inline_context(document: dict[str, Any]) -> list[Any] | None:
    """The inline (object) entries of the document's ``@context``: the prefixes its events' extensions use."""
    context = document.get("@context")
    entries = context if isinstance(context, list) else [context]
    inline = [e for e in entries if isinstance(e, dict)]
    return inline or None


def event_problem(error: DomainError, index: int, event: Any) -> dict[str, Any]:
    """An RFC 9457 problem for one event of a document (``index`` counts from 0 in its event list)."""
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


# ------------------------------------------------------------------------------------------ identifiers


def identifiers(event: dict[str, Any]) -> list[Role]:
    """Every identifier the event names, canonical, with its role (parent, the EPC lists, the quantity classes)."""
    found: list[Role] = []
    if isinstance(event.get("parentID"), str):
        found.append((EpcRole.PARENT, canonical_identifier(event["parentID"])))
    for field, role in EPC_LISTS:
        for text in event.get(field) or []:
            found.append((role, canonical_identifier(text)))
    for field in QUANTITY_LISTS:
        for item in event.get(field) or []:
            if isinstance(item, dict) and isinstance(item.get("epcClass"), str):
                found.append((EpcRole.CLASS, canonical_identifier(item["epcClass"])))
    return found


def lock_keys(events: Iterable[Any]) -> tuple[list[tuple[str, str]], list[str]]:
    """The (GTIN, serial) of the units and the SSCCs of the containers these events name (their parent and EPC
    lists); identifiers that cannot be read are skipped here and reported when their event is captured."""
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
                continue
            if ident.unit_key is not None:
                unit_keys.append(ident.unit_key)
            elif ident.sscc:
                ssccs.append(ident.sscc)
    return unit_keys, ssccs


def location(event: dict[str, Any], field: str) -> str | None:
    """The canonical ``readPoint`` or ``bizLocation`` id."""
    value = event.get(field)
    if isinstance(value, dict) and isinstance(value.get("id"), str):
        return canonical_identifier(value["id"]).canonical
    return None


def party(event: dict[str, Any], field: str) -> Identifier | None:
    """The party of a ``sourceList`` or ``destinationList`` that decides custody: the owning party, failing that
    the possessing party, failing that the location."""
    entries = [e for e in event.get(field) or [] if isinstance(e, dict)]
    key = field.removesuffix("List")
    for party_type in PARTY_TYPES:
        for entry in entries:
            if bare_word(entry.get("type")) == party_type and isinstance(entry.get(key), str):
                return canonical_identifier(entry[key])
    return None


# ------------------------------------------------------------------------------------------ values


def ilmd(event: dict[str, Any], name: str) -> Any:
    """A CBV master-data attribute of the event's ILMD (``cbvmda:lotNumber``; any prefix bound to it)."""
    value = event.get("ilmd")
    if not isinstance(value, dict):
        return None
    return next((v for k, v in value.items() if k == name or k.endswith(f":{name}") or k.endswith(f"#{name}")), None)


def to_utc(text: str) -> datetime:
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


def extension_text(event: dict[str, Any], name: str) -> str | None:
    """A Passport extension field (``passport:channel``...), the names GET /epcis/events exports."""
    value = event.get(f"passport:{name}")
    if value is None:
        return None
    limit = TEXT_LIMITS[name]
    if not isinstance(value, str) or len(value) > limit:
        raise InvalidInput(f"passport:{name} must be a string of at most {limit} characters", code="invalid_extension")
    return value


def prescription(event: dict[str, Any]) -> Prescription | None:
    """``passport:prescription`` {"id", "prescriber", "issued_at"}: what a dispensing of Rx drugs needs."""
    value = event.get("passport:prescription")
    if value is None:
        return None
    try:
        issued_at = datetime.fromisoformat(str(value["issued_at"]).replace("Z", "+00:00"))
        facts = Prescription(str(value["id"])[:100], str(value["prescriber"])[:200], issued_at)
    except (TypeError, KeyError, ValueError):
        raise InvalidInput(
            "passport:prescription must be {id, prescriber, issued_at (RFC 3339)}", code="invalid_extension"
        ) from None
    return facts


def check_lengths(event: dict[str, Any], event_id: str, ids: list[Role]) -> None:
    """What the columns hold, refused as this event's error (PostgreSQL would refuse the whole transaction)."""
    longest: list[tuple[str, Any, int]] = [("eventID", event_id, 500)]
    longest += [(f"{role} identifier", ident.canonical, 500) for role, ident in ids]
    longest += [(field, event.get(field), 500) for field in ("bizStep", "disposition")]
    longest += [(field, (event.get(field) or {}).get("id"), 500) for field in ("readPoint", "bizLocation")]
    longest += [("ilmd cbvmda:lotNumber", ilmd(event, "lotNumber"), 20)]
    for what, value, limit in longest:
        if isinstance(value, str) and len(value) > limit:
            raise InvalidInput(f"{what} is longer than {limit} characters", code="value_too_long")
