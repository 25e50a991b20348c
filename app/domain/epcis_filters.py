"""The EPCIS 2.0 query parameters that look inside an event, evaluated on the event's JSON, without I/O.

EPCIS 2.0 §8.2.7.1 (SimpleEventQuery) and the query schema of its REST binding (``query-schema.json``: fixed
names and ``patternProperties``) define them: quantities (``EQ_quantity``, ``GT_quantity_KGM``...), sensor data
(``EQ_type``, ``GE_value_CEL``, ``EXISTS_sensorElementList``...), error declarations, persistent dispositions,
transformation ids, EPC classes by list, business transactions, sources and destinations, and the
fields of extensions: ``EQ_/GT_/GE_/LT_/LE_/EXISTS_`` + an optional place (``ILMD_``, ``INNER_``, ``INNER_ILMD_``,
``ERROR_DECLARATION_``, ``SENSORELEMENT_``, ``SENSORMETADATA_``, ``SENSORREPORT_``, ``readPoint_``,
``bizLocation_``...) + a qualified field name (``example:myField``).

:func:`parse` turns one parameter into a :class:`Filter` (None: not a parameter of this family); a filter's
``test`` answers for one event as stored (captured: as sent; native: as exported). Several filters are a
conjunction; the values of one (``|``) a disjunction; a filter on a list (sensor reports, quantity elements) holds
when one element satisfies it. Comparisons: numbers as numbers (numeric strings too), RFC 3339 times as instants,
anything else by equality of text. Units are compared as written: ``GE_value_CEL`` reads reports in ``CEL``
only (no conversion).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from app.domain.epcis import bare_word, canonical_identifier
from app.domain.errors import InvalidInput

Value = float | datetime | str
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "GT": operator.gt,
    "GE": operator.ge,
    "LT": operator.lt,
    "LE": operator.le,
}
QUANTITY_LISTS = ("quantityList", "childQuantityList", "inputQuantityList", "outputQuantityList")
CLASS_LISTS = {
    "MATCH_epcClass": ("quantityList", "childQuantityList"),
    "MATCH_inputEPCClass": ("inputQuantityList",),
    "MATCH_outputEPCClass": ("outputQuantityList",),
}
_SENSOR_NUMBERS = ("value", "minValue", "maxValue", "meanValue", "sDev", "percValue")
_REPORT_URIS = ("deviceID", "dataProcessingMethod", "microorganism", "chemicalSubstance", "bizRules", "uriValue")
_REPORT_TEXTS = ("stringValue", "hexBinaryValue")
_QNAME = r"[a-z][a-zA-Z0-9]*:\w+"
_PLACES = (
    "INNER_ERROR_DECLARATION_",
    "ERROR_DECLARATION_",
    "INNER_SENSORELEMENT_",
    "INNER_SENSORMETADATA_",
    "INNER_SENSORREPORT_",
    "SENSORELEMENT_",
    "SENSORMETADATA_",
    "SENSORREPORT_",
    "INNER_ILMD_",
    "ILMD_",
    "INNER_readPoint_",
    "INNER_bizLocation_",
    "readPoint_",
    "bizLocation_",
    "INNER_",
    "",
)
_FIELD = re.compile(rf"^(EQ|GT|GE|LT|LE|EXISTS)_({'|'.join(p for p in _PLACES if p)})?({_QNAME})$")
_SENSOR_FIELD = re.compile(rf"^(EQ|GT|GE|LT|LE)_({'|'.join(_SENSOR_NUMBERS)})_([A-Z0-9]{{2,4}})$")
_QUANTITY = re.compile(r"^(EQ|GT|GE|LT|LE)_quantity(?:_([A-Z0-9]{2,4}))?$")
_PARTY = re.compile(r"^EQ_(bizTransaction|source|destination)_([a-z][a-zA-Z0-9_]+)$")
_MASTER_DATA = re.compile(r"^(HASATTR|EQATTR|EQ_ATTR)_")
_GS1_VOC = ("gs1:", "https://gs1.org/voc/", "http://gs1.org/voc/")
# Extension places that only captured documents have (native events export readPoint-less, sensor-less events).
_NATIVE_PLACES = ("",)
NATIVE_PREFIX = "passport:"


def _bad(detail: str) -> InvalidInput:
    return InvalidInput(detail, code="invalid_query_parameter")


def unsupported(name: str, why: str) -> InvalidInput:
    return InvalidInput(f"{name}: {why}", code="unsupported_query_parameter")


@dataclass(frozen=True, slots=True)
class Filter:
    """One parameter that reads the event's JSON. ``native`` says whether a native event (exported with
    ``passport:`` extensions, sources and destinations) can ever satisfy it; when not, natives are skipped."""

    name: str
    test: Callable[[dict[str, Any]], bool]
    native: bool = False


# ------------------------------------------------------------------------------------------ values


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def _instant(value: Any) -> datetime | None:
    if not isinstance(value, str) or "T" not in value.upper():
        return None
    try:
        moment = datetime.fromisoformat(value.strip().upper().replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.astimezone(UTC) if moment.tzinfo is not None else None


def _operand(name: str, raw: str, *, text: bool) -> Value:
    """A parameter's value: a number, an RFC 3339 time with its offset, or (when ``text``) a string."""
    number = _number(raw)
    if number is not None and raw.strip().lower() not in ("nan", "inf", "-inf", "infinity", "-infinity"):
        return number
    moment = _instant(raw)
    if moment is not None:
        return moment
    if text:
        return raw
    raise _bad(f"{name}: {raw!r} is neither a number nor an RFC 3339 date-time with an offset")


def _values(name: str, raw: str) -> list[str]:
    values = [v.strip() for v in raw.split("|")]
    if any(not v for v in values):
        raise _bad(f"{name}: empty value in {raw!r} (several values are separated by '|')")
    return values


def _holds(op: str, found: Any, wanted: list[Value]) -> bool:
    """Whether a value of the event satisfies ``op`` against one of ``wanted`` (of the same kind)."""
    for target in wanted:
        if isinstance(target, float):
            have: Any = _number(found)
        elif isinstance(target, datetime):
            have = _instant(found)
        else:
            have = found if isinstance(found, str) else None
        if have is None:
            continue
        if op == "EQ" and have == target:
            return True
        if op in _COMPARE and _COMPARE[op](have, target):
            return True
    return False


def _scalars(value: Any) -> Iterator[Any]:
    """A field's value, or each element of an array value (JSON-LD ``@value`` objects read as their value)."""
    if isinstance(value, list):
        for item in value:
            yield from _scalars(item)
    elif isinstance(value, dict):
        if "@value" in value:
            yield value["@value"]
        elif "#text" in value:
            yield value["#text"]
    else:
        yield value


def _objects(value: Any) -> list[dict[str, Any]]:
    items = value if isinstance(value, list) else [value]
    return [item for item in items if isinstance(item, dict)]


def _nested(value: Any, name: str) -> Iterator[Any]:
    """Every value of a field ``name`` at any depth inside ``value``."""
    for item in value if isinstance(value, list) else [value]:
        if isinstance(item, dict):
            for key, inner in item.items():
                if key == name:
                    yield inner
                yield from _nested(inner, name)


# ------------------------------------------------------------------------------------------ places


def _sensor_elements(event: dict[str, Any]) -> list[dict[str, Any]]:
    return _objects(event.get("sensorElementList"))


def _reports(event: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for element in _sensor_elements(event) for r in _objects(element.get("sensorReport"))]


def _metadata(event: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for element in _sensor_elements(event) for m in _objects(element.get("sensorMetadata"))]


def _extensions(container: dict[str, Any]) -> list[Any]:
    """The extension elements of an object (their names are qualified: ``prefix:name``)."""
    return [value for key, value in container.items() if ":" in key]


def _field_values(place: str, name: str, event: dict[str, Any]) -> Iterator[Any]:
    inner = place.startswith("INNER_")
    where = place.removeprefix("INNER_")
    containers: list[dict[str, Any]]
    if where == "":
        containers = [event]
    elif where == "ILMD_":
        containers = _objects(event.get("ilmd"))
    elif where == "ERROR_DECLARATION_":
        containers = _objects(event.get("errorDeclaration"))
    elif where == "SENSORELEMENT_":
        containers = _sensor_elements(event)
    elif where == "SENSORMETADATA_":
        containers = _metadata(event)
    elif where == "SENSORREPORT_":
        containers = _reports(event)
    else:  # readPoint_ / bizLocation_
        containers = _objects(event.get(where.removesuffix("_")))
    for container in containers:
        if inner:
            for extension in _extensions(container):
                yield from _nested(extension, name)
        elif name in container:
            yield container[name]


def _field_filter(name: str, op: str, place: str, field: str, raw: str) -> Filter:
    native = place in _NATIVE_PLACES and field.startswith(NATIVE_PREFIX)
    if op == "EXISTS":
        return Filter(name, lambda e: any(True for _ in _field_values(place, field, e)), native)
    wanted = [_operand(name, v, text=op == "EQ") for v in (_values(name, raw) if op == "EQ" else [raw.strip()])]

    def test(event: dict[str, Any]) -> bool:
        return any(_holds(op, s, wanted) for value in _field_values(place, field, event) for s in _scalars(value))

    return Filter(name, test, native)


# ------------------------------------------------------------------------------------------ fixed names


def _quantities(event: dict[str, Any], uom: str | None) -> Iterator[Any]:
    for field in QUANTITY_LISTS:
        for item in _objects(event.get(field)):
            if uom is None or item.get("uom") == uom:
                yield item.get("quantity")


def _quantity_filter(name: str, op: str, uom: str | None, raw: str) -> Filter:
    texts = _values(name, raw) if op == "EQ" else [raw.strip()]
    wanted: list[Value] = []
    for text in texts:
        number = _number(text)
        if number is None:
            raise _bad(f"{name}: {text!r} is not a number")
        wanted.append(number)
    return Filter(name, lambda e: any(_holds(op, q, wanted) for q in _quantities(e, uom)))


def _sensor_number_filter(name: str, op: str, field: str, uom: str, raw: str) -> Filter:
    texts = _values(name, raw) if op == "EQ" else [raw.strip()]
    wanted: list[Value] = []
    for text in texts:
        number = _number(text)
        if number is None:
            raise _bad(f"{name}: {text!r} is not a number")
        wanted.append(number)
    return Filter(name, lambda e: any(r.get("uom") == uom and _holds(op, r.get(field), wanted) for r in _reports(e)))


def _measurement_type(value: Any) -> Any:
    if isinstance(value, str):
        for prefix in _GS1_VOC:
            if value.startswith(prefix):
                return value.removeprefix(prefix).removeprefix("MeasurementType-")
    return value


def _same_party(a: Any, b: str) -> bool:
    if not isinstance(a, str):
        return False
    if a == b:
        return True
    try:
        return canonical_identifier(a).canonical == canonical_identifier(b).canonical
    except InvalidInput:
        return False


def _party_filter(name: str, kind: str, type_word: str, raw: str) -> Filter:
    wanted = _values(name, raw)
    listing = f"{kind}List"

    def test(event: dict[str, Any]) -> bool:
        for entry in _objects(event.get(listing)):
            if bare_word(entry.get("type")) == type_word and any(_same_party(entry.get(kind), w) for w in wanted):
                return True
        return False

    return Filter(name, test, native=kind != "bizTransaction")


def _class_filter(name: str, raw: str) -> Filter:
    canonical: set[str] = set()
    gtins: set[str] = set()
    for value in _values(name, raw):
        pattern = re.fullmatch(r"urn:epc:idpat:sgtin:(\d+)\.(\d+)\.\*", value)
        try:
            if pattern:
                gtin = canonical_identifier(f"urn:epc:id:sgtin:{pattern[1]}.{pattern[2]}.0").gtin
                gtins.add(gtin or "")
            elif value.startswith("urn:epc:idpat:"):
                raise _bad(f"{name}: pattern {value!r} is not supported; use urn:epc:idpat:sgtin:<prefix>.<item>.*")
            else:
                canonical.add(canonical_identifier(value).canonical)
        except InvalidInput as error:
            if error.code == "invalid_query_parameter":
                raise
            raise _bad(f"{name}: {error.detail}") from None

    def matches(text: Any) -> bool:
        if not isinstance(text, str):
            return False
        try:
            ident = canonical_identifier(text)
        except InvalidInput:
            return text in canonical
        return ident.canonical in canonical or (ident.gtin is not None and ident.gtin in gtins)

    lists = CLASS_LISTS[name]
    return Filter(name, lambda e: any(matches(i.get("epcClass")) for f in lists for i in _objects(e.get(f))))


def _time_filter(name: str, raw: str, values: Callable[[dict[str, Any]], Iterator[Any]]) -> Filter:
    moment = _instant(raw)
    if moment is None:
        raise _bad(f"{name}: {raw!r} is not an RFC 3339 date-time with an offset")
    op = name[:2]
    return Filter(name, lambda e: any(_holds(op, v, [moment]) for v in values(e)))


def _words(name: str, raw: str) -> set[str | None]:
    return {bare_word(v) for v in _values(name, raw)}


def _fixed(name: str, raw: str) -> Filter | None:
    def error_declaration(e: dict[str, Any]) -> dict[str, Any]:
        value = e.get("errorDeclaration")
        return value if isinstance(value, dict) else {}

    def sensor_times(field: str) -> Callable[[dict[str, Any]], Iterator[Any]]:
        return lambda e: (x.get(field) for x in [*_metadata(e), *_reports(e)])

    if name in ("EQ_persistentDisposition_set", "EQ_persistentDisposition_unset"):
        words, side = _words(name, raw), name.rsplit("_", 1)[1]

        def persistent(e: dict[str, Any]) -> bool:
            value = e.get("persistentDisposition")
            listed = value.get(side) if isinstance(value, dict) else None
            return any(bare_word(w) in words for w in listed or [] if isinstance(w, str))

        return Filter(name, persistent)
    if name == "EQ_transformationID":
        ids = set(_values(name, raw))
        return Filter(name, lambda e: e.get("transformationID") in ids)
    if name in CLASS_LISTS:
        return _class_filter(name, raw)
    if name in ("GE_errorDeclarationTime", "LT_errorDeclarationTime"):
        return _time_filter(name, raw, lambda e: iter([error_declaration(e).get("declarationTime")]))
    if name == "EQ_errorReason":
        reasons = _words(name, raw)
        return Filter(
            name, lambda e: "errorDeclaration" in e and bare_word(error_declaration(e).get("reason")) in reasons
        )
    if name == "EQ_correctiveEventID":
        ids = set(_values(name, raw))
        return Filter(name, lambda e: bool(ids & set(error_declaration(e).get("correctiveEventIDs") or [])))
    if name == "EXISTS_sensorElementList":
        return Filter(name, lambda e: bool(_sensor_elements(e)))
    if name in ("GE_time", "LT_time", "GE_startTime", "LT_startTime", "GE_endTime", "LT_endTime"):
        return _time_filter(name, raw, sensor_times(name[3:]))
    if name == "EQ_type":
        types = {_measurement_type(v) for v in _values(name, raw)}
        return Filter(name, lambda e: any(_measurement_type(r.get("type")) in types for r in _reports(e)))
    if name[3:] in _REPORT_URIS or name[3:] in _REPORT_TEXTS:
        field = name[3:]
        texts = set(_values(name, raw))
        if field == "hexBinaryValue":
            texts = {t.upper() for t in texts}

        def attribute(e: dict[str, Any]) -> bool:
            places = (
                [*_reports(e), *_metadata(e)]
                if field in ("deviceID", "dataProcessingMethod", "bizRules")
                else _reports(e)
            )
            found = (p.get(field) for p in places)
            return any(isinstance(f, str) and (f.upper() if field == "hexBinaryValue" else f) in texts for f in found)

        return Filter(name, attribute)
    if name == "EQ_booleanValue":
        if raw.strip().lower() not in ("true", "false"):
            raise _bad(f"{name}: {raw!r} is not true or false")
        wanted = raw.strip().lower() == "true"
        return Filter(name, lambda e: any(r.get("booleanValue") is wanted for r in _reports(e)))
    if name in ("GT_percRank", "GE_percRank", "LT_percRank", "LE_percRank"):
        number = _number(raw)
        if number is None:
            raise _bad(f"{name}: {raw!r} is not a number")
        op = name[:2]
        return Filter(name, lambda e: any(_holds(op, r.get("percRank"), [number]) for r in _reports(e)))
    return None


FIXED_NAMES = frozenset(
    "EQ_persistentDisposition_set EQ_persistentDisposition_unset EQ_transformationID MATCH_epcClass "
    "MATCH_inputEPCClass MATCH_outputEPCClass GE_errorDeclarationTime LT_errorDeclarationTime EQ_errorReason "
    "EQ_correctiveEventID EXISTS_sensorElementList GE_time LT_time GE_startTime LT_startTime GE_endTime LT_endTime "
    "EQ_type EQ_deviceID EQ_dataProcessingMethod EQ_microorganism EQ_chemicalSubstance EQ_bizRules EQ_stringValue "
    "EQ_hexBinaryValue EQ_uriValue EQ_booleanValue GT_percRank GE_percRank LT_percRank LE_percRank".split()
)
# The families of names, as the refusals and docs/epcis.md list them.
FAMILIES = (
    "EQ_|GT_|GE_|LT_|LE_quantity[_<UOM>]",
    "EQ_|GT_|GE_|LT_|LE_<value|minValue|maxValue|meanValue|sDev|percValue>_<UOM>",
    "EQ_bizTransaction_<type>",
    "EQ_source_<type>",
    "EQ_destination_<type>",
    "EQ_|GT_|GE_|LT_|LE_|EXISTS_[INNER_][ILMD_|ERROR_DECLARATION_|SENSORELEMENT_|SENSORMETADATA_|SENSORREPORT_]"
    "<prefix:field>",
    "EQ_[INNER_]readPoint_|bizLocation_<prefix:field>",
)


def parse(name: str, raw: str) -> Filter | None:
    """The filter a parameter asks for; None when ``name`` is not one of these parameters."""
    if name in FIXED_NAMES:
        return _fixed(name, raw)
    if _MASTER_DATA.match(name):
        raise unsupported(name, "master-data attributes are not kept here (no vocabulary master data)")
    quantity = _QUANTITY.match(name)
    if quantity:
        return _quantity_filter(name, quantity[1], quantity[2], raw)
    sensor = _SENSOR_FIELD.match(name)
    if sensor:
        return _sensor_number_filter(name, sensor[1], sensor[2], sensor[3], raw)
    party = _PARTY.match(name)
    if party:
        return _party_filter(name, party[1], party[2], raw)
    field = _FIELD.match(name)
    if field:
        op, place = field[1], field[2] or ""
        if place.removeprefix("INNER_") in ("readPoint_", "bizLocation_") and op != "EQ":
            return None  # only EQ_ is defined on readPoint/bizLocation extensions
        return _field_filter(name, op, place, field[3], raw)
    return None
