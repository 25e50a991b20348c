"""EPCIS XML (2.0 and 1.2) read into the JSON-LD document the JSON capture takes, so that hashing, custody
effects and storage are one pipeline whatever the sender's syntax.

:func:`read_document` parses the body (:mod:`.xml_schema`: no DTD, no entity, nothing fetched), validates it
against GS1's XML Schema of its version, and maps it field by field to the EPCIS 2.0 JSON binding (EPCIS 2.0
§9, "XML and JSON bindings"; GS1's examples in both syntaxes are the test of it):

- EPCIS 1.2 structure (``urn:epcglobal:epcis:xsd:1``): the ``extension`` / ``baseExtension`` wrappers that
  1.2 put around the fields added after 1.0 (``quantityList``, ``sourceList``, ``ilmd``, ``eventID``,
  ``errorDeclaration``, a ``TransformationEvent`` in ``EventList/extension``, an ``AssociationEvent`` in
  ``EventList/extension/extension`` ...) are unwrapped, as GS1's ``convert-1.2-to-2.0.xsl`` does; a 1.2
  ``QuantityEvent`` (deprecated in 1.2, gone in 2.0) is the ``ObjectEvent`` with action ``OBSERVE`` and a
  one-element ``quantityList`` that EPCIS 1.2 §7.4.3 names as its replacement;
- vocabulary: the CBV URNs of both versions (``urn:epcglobal:cbv:bizstep:shipping``, ``...:disp:``,
  ``...:btt:``, ``...:sdt:``, ``...:er:``) become the bare words of the JSON binding (``shipping``), and a
  sensor type ``gs1:Temperature`` the bare ``Temperature``; any other URI stays as sent;
- lists (``epcList/epc``, ``quantityList/quantityElement``, ``bizTransactionList/bizTransaction@type``, ...)
  become arrays; quantities and sensor numbers become JSON numbers, ``booleanValue`` a boolean;
- user extensions (elements and attributes in a namespace of their own) become ``prefix:name`` keys whose
  prefix is declared in the document's ``@context``: text as a string (``xsi:type`` is not interpreted, as in
  GS1's JSON twins), nested elements as objects, repeated elements as arrays, attributes as keys, the text
  of an element that also has children under ``#text``.

The header (``EPCISHeader``: SBDH, master data) is validated but not kept, as a JSON document's header is not.
"""

from __future__ import annotations

import math
from copy import deepcopy
from functools import cache
from typing import Any

from lxml import etree

from app.domain.epcis import EPCIS_CONTEXT_URLS
from app.domain.errors import InvalidInput
from app.services.epcis import xml_schema
from app.services.epcis.capture_schema import schema_validator
from app.services.epcis.xml_schema import DOCUMENT_NS, MASTERDATA_NS, QUERY_NS, XSI

EVENT_TYPES = ("ObjectEvent", "AggregationEvent", "TransactionEvent", "TransformationEvent", "AssociationEvent")
WRAPPERS = ("extension", "baseExtension")  # EPCIS's own extension points (no namespace): unwrapped

CBV_TYPE_URNS = (
    "urn:epcglobal:cbv:bizstep:",
    "urn:epcglobal:cbv:disp:",
    "urn:epcglobal:cbv:btt:",
    "urn:epcglobal:cbv:sdt:",
    "urn:epcglobal:cbv:er:",
)
GS1_VOCABULARY = ("gs1:", "https://gs1.org/voc/", "http://gs1.org/voc/")
# XML namespaces whose JSON-LD prefix the EPCIS 2.0 context already defines (CBV master data, as in ILMD).
STANDARD_PREFIXES = {"urn:epcglobal:cbv:mda": "cbvmda", "urn:epcglobal:cbv:mda#": "cbvmda"}
RESERVED_PREFIXES = frozenset({"cbv", "cbvmda", "gs1", "epcis", "xsd", "rdf", "rdfs", "owl", "dcterms"})

TEXT_FIELDS = frozenset(
    {
        "eventTime",
        "recordTime",
        "eventTimeZoneOffset",
        "eventID",
        "certificationInfo",
        "parentID",
        "action",
        "transformationID",
    }
)
VOCABULARY_FIELDS = frozenset({"bizStep", "disposition"})
EPC_LISTS = frozenset({"epcList", "childEPCs", "inputEPCList", "outputEPCList"})
QUANTITY_LISTS = frozenset({"quantityList", "childQuantityList", "inputQuantityList", "outputQuantityList"})
TYPED_LISTS = {"bizTransactionList": "bizTransaction", "sourceList": "source", "destinationList": "destination"}
SENSOR_NUMBERS = frozenset({"value", "minValue", "maxValue", "meanValue", "sDev", "percRank", "percValue"})


def _local(element: etree._Element) -> str:
    return etree.QName(element).localname


def _namespace(element: etree._Element) -> str | None:
    return etree.QName(element).namespace


def _children(element: etree._Element) -> list[etree._Element]:
    """Element children, with EPCIS's own ``extension`` wrappers opened (1.2 nests them up to two deep)."""
    out: list[etree._Element] = []
    for child in element:
        if not isinstance(child.tag, str):
            continue
        if _namespace(child) is None and _local(child) in WRAPPERS:
            out.extend(_children(child))
        else:
            out.append(child)
    return out


def _text(element: etree._Element) -> str:
    return (element.text or "").strip()


def cbv_word(value: str) -> str:
    """A CBV URN (``urn:epcglobal:cbv:bizstep:shipping``) as the JSON binding's bare word (``shipping``)."""
    for prefix in CBV_TYPE_URNS:
        if value.startswith(prefix):
            return value[len(prefix) :]
    return value


def _number(text: str, what: str) -> int | float:
    try:
        value = float(text)
    except ValueError:
        raise InvalidInput(f"{what} {text!r} is not a number", code="schema_validation_failed") from None
    if not math.isfinite(value):
        raise InvalidInput(f"{what} {text!r} is not a finite number (JSON has none)", code="schema_validation_failed")
    return int(value) if value.is_integer() and abs(value) < 2**53 else value


def _gs1_word(value: str) -> str:
    return value.split(":", 1)[1] if value.startswith("gs1:") else value.rsplit("/", 1)[-1]


@cache
def measurement_types() -> frozenset[str]:
    """The sensor measurement types the JSON binding names by a bare word (GS1's JSON schema lists them); a
    type outside the list keeps its ``gs1:`` form, which the JSON-LD context expands to the same IRI."""
    definition = schema_validator().schema["definitions"]["measurementType"]
    return frozenset(w for option in definition["anyOf"] for w in option.get("enum", ()))


def _put(target: dict[str, Any], key: str, value: Any) -> None:
    """Add a member; a repeated name becomes an array (XML repeats an element where JSON lists it)."""
    if key not in target:
        target[key] = value
    elif isinstance(target[key], list):
        target[key].append(value)
    else:
        target[key] = [target[key], value]


class _Reader:
    """One document's conversion: its events, and the prefixes its extensions need in ``@context``."""

    def __init__(self) -> None:
        self.prefixes: dict[str, str] = {}  # namespace -> prefix
        self.taken: dict[str, str] = {}  # prefix -> namespace

    # ---------------------------------------------------------------------------------------------- names

    def _prefix(self, namespace: str, wanted: str | None) -> str:
        if namespace in STANDARD_PREFIXES:
            return STANDARD_PREFIXES[namespace]
        if namespace in self.prefixes:
            return self.prefixes[namespace]
        prefix = wanted if wanted and wanted not in RESERVED_PREFIXES and wanted not in self.taken else None
        number = 1
        while prefix is None or prefix in self.taken:
            prefix, number = f"ns{number}", number + 1
        self.prefixes[namespace] = prefix
        self.taken[prefix] = namespace
        return prefix

    def _name(self, qualified: str, wanted_prefix: str | None) -> str:
        name = etree.QName(qualified)
        if name.namespace is None:
            return name.localname
        return f"{self._prefix(name.namespace, wanted_prefix)}:{name.localname}"

    def _element_name(self, element: etree._Element) -> str:
        return self._name(element.tag, element.prefix)

    def _attribute_name(self, element: etree._Element, key: str) -> str:
        namespace = etree.QName(key).namespace
        wanted = next((p for p, n in element.nsmap.items() if n == namespace and p), None) if namespace else None
        return self._name(key, wanted)

    def context(self) -> list[Any]:
        own = {prefix: namespace for namespace, prefix in self.prefixes.items()}
        return [EPCIS_CONTEXT_URLS[0], own] if own else [EPCIS_CONTEXT_URLS[0]]

    # ---------------------------------------------------------------------------------------------- values

    def extension(self, element: etree._Element) -> Any:
        """A user extension element as JSON: text, or an object of its attributes and children."""
        children = [c for c in element if isinstance(c.tag, str)]
        attributes = [(k, v) for k, v in element.attrib.items() if etree.QName(k).namespace != XSI]
        if not children and not attributes:
            return _text(element)
        value: dict[str, Any] = {}
        for key, text in attributes:
            _put(value, self._attribute_name(element, key), text)
        for child in children:
            _put(value, self._element_name(child), self.extension(child))
        if _text(element):
            value["#text"] = _text(element)
        return value

    def _members(self, element: etree._Element, target: dict[str, Any]) -> dict[str, Any]:
        """Add the user extensions among an element's children (an ILMD's) to ``target``."""
        for child in _children(element):
            self._other(target, child, _local(element))
        return target

    def _other(self, target: dict[str, Any], child: etree._Element, where: str) -> None:
        """A child that is no standard field of ``where``: a user extension, if it is in a namespace."""
        if _namespace(child) is None:  # EPCIS 1.2's lax extension points let a misspelt field through
            raise InvalidInput(
                f"<{_local(child)}> is not a field of {where}, and an extension must be in a namespace of its own "
                "(EPCIS 2.0 §9.4), so it has no JSON-LD name",
                code="schema_validation_failed",
            )
        _put(target, self._element_name(child), self.extension(child))

    def _quantity(self, element: etree._Element) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for child in _children(element):
            name = _local(child) if _namespace(child) is None else None
            if name == "quantity":
                out["quantity"] = _number(_text(child), "quantity")
            elif name in ("epcClass", "uom"):
                out[name] = _text(child)
            else:
                self._other(out, child, "a quantityElement")
        return out

    def _typed(self, element: etree._Element, key: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if element.get("type") is not None:
            out["type"] = cbv_word(element.get("type", ""))
        out[key] = _text(element)
        return out

    def _attributes(self, element: etree._Element, numbers: frozenset[str] = frozenset()) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, text in element.attrib.items():
            name = self._attribute_name(element, key)
            if name in numbers:
                out[name] = _number(text, name)
            elif name == "booleanValue":
                out[name] = text.strip() in ("true", "1")
            elif name == "type" and text.startswith(GS1_VOCABULARY) and _gs1_word(text) in measurement_types():
                out[name] = _gs1_word(text)
            else:
                out[name] = text
        return out

    def _sensor_element(self, element: etree._Element) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for child in _children(element):
            name = _local(child) if _namespace(child) is None else None
            if name == "sensorMetadata":
                out["sensorMetadata"] = self._attributes(child)
            elif name == "sensorReport":
                out.setdefault("sensorReport", []).append(self._attributes(child, SENSOR_NUMBERS))
            else:
                self._other(out, child, "a sensorElement")
        return out

    def _error_declaration(self, element: etree._Element) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for child in _children(element):
            name = _local(child) if _namespace(child) is None else None
            if name == "declarationTime":
                out[name] = _text(child)
            elif name == "reason":
                out[name] = cbv_word(_text(child))
            elif name == "correctiveEventIDs":
                out[name] = [_text(c) for c in _children(child)]
            else:
                self._other(out, child, "an errorDeclaration")
        return out

    def _persistent_disposition(self, element: etree._Element) -> dict[str, Any]:
        out: dict[str, list[str]] = {}
        for child in _children(element):
            out.setdefault(_local(child), []).append(cbv_word(_text(child)))
        return out

    # ---------------------------------------------------------------------------------------------- events

    def event(self, element: etree._Element) -> dict[str, Any]:
        kind = _local(element)
        if kind == "QuantityEvent":
            return self._quantity_event(element)
        out: dict[str, Any] = {"type": kind}
        for child in _children(element):
            name = _local(child) if _namespace(child) is None else ""
            if name in TEXT_FIELDS:
                out[name] = _text(child)
            elif name in VOCABULARY_FIELDS:
                out[name] = cbv_word(_text(child))
            elif name in EPC_LISTS:
                out[name] = [_text(c) for c in _children(child)]
            elif name in QUANTITY_LISTS:
                out[name] = [self._quantity(c) for c in _children(child)]
            elif name in TYPED_LISTS:
                out[name] = [self._typed(c, TYPED_LISTS[name]) for c in _children(child)]
            elif name in ("readPoint", "bizLocation"):
                place: dict[str, Any] = {}
                for part in _children(child):
                    if _namespace(part) is None and _local(part) == "id":
                        place["id"] = _text(part)
                    else:
                        self._other(place, part, name)
                out[name] = place
            elif name == "sensorElementList":
                out[name] = [self._sensor_element(c) for c in _children(child)]
            elif name == "persistentDisposition":
                out[name] = self._persistent_disposition(child)
            elif name == "ilmd":
                out[name] = self._members(child, {})
            elif name == "errorDeclaration":
                out[name] = self._error_declaration(child)
            else:
                self._other(out, child, f"an EPCIS {kind}")
        return out

    def _quantity_event(self, element: etree._Element) -> dict[str, Any]:
        """EPCIS 1.2 §7.4.3: a QuantityEvent is the ObjectEvent (action OBSERVE) with that quantity."""
        source = {_local(c): c for c in _children(element) if _namespace(c) is None}
        shell = etree.Element(f"{{{xml_schema.NS_2_0}}}ObjectEvent")
        for child in _children(element):
            if _namespace(child) is None and _local(child) in ("epcClass", "quantity"):
                continue
            shell.append(deepcopy(child))
        out = self.event(shell)
        out["type"] = "ObjectEvent"
        out.setdefault("epcList", [])
        out["action"] = "OBSERVE"
        quantity: dict[str, Any] = {"epcClass": _text(source["epcClass"]) if "epcClass" in source else ""}
        if "quantity" in source:
            quantity["quantity"] = _number(_text(source["quantity"]), "quantity")
        out["quantityList"] = [quantity]
        return out


def _event_list(root: etree._Element) -> etree._Element | None:
    body = next((c for c in root if isinstance(c.tag, str) and _local(c) == "EPCISBody"), None)
    if body is None:
        return None
    if _local(root) == "EPCISQueryDocument":
        found = body.find("{*}QueryResults/resultsBody/EventList")
        return found
    return body.find("EventList")


def _events(event_list: etree._Element) -> list[etree._Element]:
    out: list[etree._Element] = []
    for child in _children(event_list):
        if _local(child) in (*EVENT_TYPES, "QuantityEvent"):
            out.append(child)
    return out


def version_of(root: etree._Element) -> str:
    """The EPCIS version whose schema the root element belongs to, or ``InvalidInput``."""
    namespace, name = _namespace(root), _local(root)
    if namespace in MASTERDATA_NS:
        raise InvalidInput(
            "an EPCISMasterDataDocument carries master data, not events: capture takes an EPCISDocument or an "
            "EPCISQueryDocument (EPCIS 2.0 §8.2.8); send master data in the EPCISHeader of an EPCISDocument",
            code="invalid_epcis_document",
        )
    for version in ("2.0", "1.2"):
        if (namespace, name) in ((DOCUMENT_NS[version], "EPCISDocument"), (QUERY_NS[version], "EPCISQueryDocument")):
            return version
    raise InvalidInput(
        f"the XML root element {root.tag} is not an EPCIS 2.0 or 1.2 EPCISDocument or EPCISQueryDocument",
        code="invalid_epcis_document",
    )


def read_document(raw: bytes) -> dict[str, Any]:
    """An EPCIS XML body as the EPCIS 2.0 JSON-LD ``EPCISDocument`` the capture pipeline takes."""
    root = xml_schema.parse(raw)
    version = version_of(root)
    problem = xml_schema.schema_problem(root, version)
    if problem is not None:
        raise InvalidInput(
            f"the document is not valid against GS1's EPCIS {version} XML schema: {problem}",
            code="schema_validation_failed",
        )
    return to_json(root)


def to_json(root: etree._Element) -> dict[str, Any]:
    """A schema-valid EPCIS XML document (its root element) as an EPCIS 2.0 JSON-LD ``EPCISDocument``."""
    event_list = _event_list(root)
    if event_list is None:
        raise InvalidInput(
            "the EPCISQueryDocument carries no event list (query results of events are what capture takes)",
            code="invalid_epcis_document",
        )
    reader = _Reader()
    events = []
    for index, element in enumerate(_events(event_list)):
        try:
            events.append(reader.event(element))
        except InvalidInput as error:
            raise InvalidInput(f"event {index}: {error.detail}", code=error.code) from None
    return {
        "@context": reader.context(),
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": root.get("creationDate"),
        "epcisBody": {"eventList": events},
    }
