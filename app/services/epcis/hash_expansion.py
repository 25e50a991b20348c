"""What the CBV 2.0 hash library reads from the JSON-LD expansion of a document, without expanding it whole.

GS1's ``epcis-event-hash-generator`` expands the whole document (``pyld.jsonld.expand``) only to collect one
set: the strings of the expansion that start with ``https://ref.gs1.org/cbv`` or ``https://gs1.org/voc`` (the
CBV and GS1 vocabulary IRIs a bare value such as ``"shipping"`` expands to). It then writes each bare string of
the document that ends exactly one of them (after '-' or '/') as that IRI. For a 10,000-event document the
expansion was half of the hash's time, and nearly all of it the same work again for each event.

Expansion treats a node's properties one by one: a value's expansion depends on the active context, the
property's term definition (and its scoped context) and the value, not on the other properties beside it. So
:func:`vocabulary_iris` gathers the set per event property: a property whose term the standard EPCIS 2.0 context
defines as a literal (``eventTime``, ``recordTime``, ``eventTimeZoneOffset``) or an IRI (``eventID``,
``parentID``, the EPC lists, a quantity element's ``epcClass``) with a value the expansion leaves as it is (a
literal; an absolute IRI whose scheme is no term of the document's context) gives that value itself; any other
property is expanded by PyLD on its own (the document's context, the event's ``type`` and that one property),
remembered by value, so a property repeated across events (``bizStep``, ``disposition``, ``destinationList``…)
is expanded once. The document without its events is expanded once.

It answers None, and the caller expands the document whole as the library does, where that reading may not
hold: an event that is not an object, a key that is a JSON-LD keyword or an alias of one other than ``type`` and
``eventID`` (two aliases of ``@id`` in one node are an expansion error the property-by-property reading would
not see), or a context not of the shape the hash adapter hands over (the standard context URL, then plain
prefix definitions). The equality with the whole expansion is tested over GS1's examples and generated events.
"""

from __future__ import annotations

import json
from typing import Any

from epcis_event_hash_generator import json_to_py
from pyld import jsonld

VOCABULARIES = ("https://ref.gs1.org/cbv", "https://gs1.org/voc")
LITERALS = frozenset({"eventTime", "recordTime", "eventTimeZoneOffset"})
IRIS = frozenset({"eventID", "parentID"})
IRI_LISTS = frozenset({"epcList", "childEPCs", "inputEPCList", "outputEPCList"})
QUANTITY_LISTS = frozenset({"quantityList", "childQuantityList", "inputQuantityList", "outputQuantityList"})
_KEYWORD_ALIASES_KEPT = frozenset({"type", "eventID"})
_CACHE_LIMIT = 20_000
_REMEMBERED_CHARS = 1_024  # a property's value longer than this is expanded every time, not remembered: the
# repeated values worth remembering (a bizStep, a destination list) are short, and a bound on entries alone let a
# client's large unique extension values hold gigabytes

_expanded: dict[tuple[str, ...], frozenset[str]] = {}


def rules_hold(standard: dict[str, Any]) -> bool:
    """Whether the standard context still defines the terms read without expansion as this module reads them
    (checked once against the context the library ships; if not, every property is expanded)."""

    def plain(term: str) -> bool:
        definition = standard.get(term)
        return isinstance(definition, str) and not definition.startswith("@")

    def typed(term: str, kind: str) -> bool:
        definition = standard.get(term)
        return (
            isinstance(definition, dict)
            and "@context" not in definition
            and isinstance(definition.get("@type"), str)
            and (definition["@type"] == kind if kind.startswith("@") else definition["@type"].startswith(kind))
            and definition.get("@container", "@set") == "@set"
        )

    return (
        all(typed(t, "xsd:") for t in ("eventTime", "recordTime", "quantity"))
        and plain("eventTimeZoneOffset")
        and plain("uom")
        and standard.get("eventID") == "@id"
        and all(typed(t, "@id") for t in ("parentID", "epcClass", *IRI_LISTS))
        and all(isinstance(standard.get(t), dict) and set(standard[t]) <= {"@id", "@container"} for t in QUANTITY_LISTS)
        and "@vocab" not in standard
        and "@base" not in standard
        and "@language" not in standard
    )


class _Reader:
    def __init__(self, context: list[Any], standard: dict[str, Any], rules: bool) -> None:
        self.context = context
        self.context_key = json.dumps(context, sort_keys=True)
        prefixes = context[1] if len(context) > 1 else {}
        self.terms = frozenset(k for k in standard if not k.startswith("@")) | frozenset(prefixes)
        self.rules = rules
        self.found: set[str] = set()
        # the properties expanded for this document: the found set is a union, so the same property again (the
        # same bizStep on the next event) adds nothing and is not even looked up
        self.seen: set[Any] = set()

    def kept(self, value: Any) -> bool:
        """Whether the expansion gives ``value`` back as it is when it is an IRI (an absolute IRI whose scheme
        names no term, see PyLD's ``_expand_iri``)."""
        return (
            isinstance(value, str)
            and not value.startswith("@")
            and bool(jsonld._is_absolute_iri(value))
            and value not in self.terms
            and value.split(":", 1)[0] not in self.terms
        )

    def add(self, value: str) -> None:
        if value.startswith(VOCABULARIES):
            self.found.add(value)

    def expand(self, node: dict[str, Any]) -> None:
        text = json.dumps(node, sort_keys=True)
        key = (self.context_key, text)
        values = _expanded.get(key)
        if values is None:
            collected: list[str] = []
            json_to_py._find_expanded_values(jsonld.expand({"@context": self.context, **node}), collected)
            values = frozenset(v for v in collected if v.startswith(VOCABULARIES))
            if len(text) <= _REMEMBERED_CHARS:
                if len(_expanded) >= _CACHE_LIMIT:
                    _expanded.clear()
                _expanded[key] = values
        self.found.update(values)

    def quantity_element(self, element: Any) -> bool:
        if not isinstance(element, dict) or not set(element) <= {"epcClass", "quantity", "uom"}:
            return False
        quantity = element.get("quantity", 0)
        if isinstance(quantity, bool) or not isinstance(quantity, int | float):
            return False
        if "epcClass" in element and not self.kept(element["epcClass"]):
            return False
        return "uom" not in element or isinstance(element["uom"], str)

    def property(self, kind: Any, key: str, value: Any) -> None:
        typed = {"type": kind} if kind is not None else {}
        if self.rules:
            if key in LITERALS and isinstance(value, str):
                self.add(value)
                return
            if key in IRIS and self.kept(value):
                self.add(value)
                return
            if key in IRI_LISTS and isinstance(value, list) and all(self.kept(v) for v in value):
                for v in value:
                    self.add(v)
                return
            if key in QUANTITY_LISTS and isinstance(value, list) and all(map(self.quantity_element, value)):
                for element in value:
                    for v in (element.get("epcClass"), element.get("uom")):
                        if v is not None:
                            self.add(v)
                return
        frozen = _frozen(value) if kind is None or isinstance(kind, str) else None
        if frozen is not None:
            if (kind, key, frozen) in self.seen:
                return
            self.seen.add((kind, key, frozen))
        self.expand({**typed, key: value})


def _frozen(value: Any, depth: int = 0) -> Any:
    """A JSON value as a hashable key, equal exactly when the values are the same JSON (as ``json.dumps`` with
    sorted keys would say: types kept apart, so ``1``, ``1.0``, ``true`` and ``"1"`` differ); None for a value
    nested deeper than a few levels (not remembered)."""
    if isinstance(value, str):
        return value
    if depth > 3:
        return None
    if isinstance(value, list):
        items = tuple(_frozen(v, depth + 1) for v in value)
        return None if None in items else ("[", items)
    if isinstance(value, dict):
        entries = tuple(sorted((str(k), _frozen(v, depth + 1)) for k, v in value.items()))
        return None if any(v is None for _, v in entries) else ("{", entries)
    if value is None or isinstance(value, bool | int | float):
        return (type(value).__name__, repr(value))
    return None


def _context_shape_ok(context: Any, standard_url: str) -> bool:
    if not isinstance(context, list) or not context or context[0] != standard_url or len(context) > 2:
        return False
    if len(context) == 1:
        return True
    prefixes = context[1]
    return isinstance(prefixes, dict) and all(
        isinstance(k, str) and isinstance(v, str) and not k.startswith("@") and not v.startswith("@")
        for k, v in prefixes.items()
    )


def vocabulary_iris(
    document: dict[str, Any], standard_url: str, standard: dict[str, Any], rules: bool
) -> set[str] | None:
    """The set ``epcis-event-hash-generator`` collects from ``jsonld.expand(document)`` (its strings starting
    with :data:`VOCABULARIES`), or None where this module cannot tell it without expanding the document whole.
    ``standard`` is the standard context's term map, ``rules`` what :func:`rules_hold` said of it. Needs PyLD's
    document loader set to one that serves the standard context (the caller's lock and offline loader)."""
    context = document.get("@context")
    body = document.get("epcisBody")
    if not _context_shape_ok(context, standard_url) or not isinstance(body, dict):
        return None
    events = body.get("eventList")
    if not isinstance(events, list):
        return None
    reader = _Reader(context, standard, rules)
    keyword_aliases = {k for k, v in standard.items() if isinstance(v, str) and v.startswith("@")}
    for event in events:
        if not isinstance(event, dict):
            return None
        for key in event:
            if key.startswith("@") or (key in keyword_aliases and key not in _KEYWORD_ALIASES_KEPT):
                return None
    shell = {k: v for k, v in document.items() if k != "@context"}
    reader.expand({**shell, "epcisBody": {**body, "eventList": []}})
    kinds: set[str] = set()  # an event type expanded once per document (the found set is a union)
    for event in events:
        kind = event.get("type")
        if kind is not None and not (isinstance(kind, str) and kind in kinds):
            reader.expand({"type": kind})
            if isinstance(kind, str):
                kinds.add(kind)
        for key, value in event.items():
            if key != "type":
                reader.property(kind, key, value)
    return reader.found
