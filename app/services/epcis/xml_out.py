"""EPCIS query answers in XML: the JSON-LD ``EPCISQueryDocument`` of :mod:`.query` written as an EPCIS 2.0 XML
``EPCISQueryDocument``, or as EPCIS 1.2 XML for a client that asks for 1.2.

The inverse of :mod:`.xml_in`, field by field (EPCIS 2.0 §9, the XML and JSON bindings): CBV bare words become
the CBV URNs XML uses (``shipping`` → ``urn:epcglobal:cbv:bizstep:shipping``), a bare sensor type the ``gs1:``
form, arrays become repeated elements in their list element, numbers and booleans their XML text, and a
``prefix:name`` extension an element in the namespace its prefix names in the document's (or the event's)
``@context``; the elements come in the order the XML Schema's sequences require.

EPCIS 1.2 (GS1's ``convert-2.0-to-1.2.xsl`` does the same): ``eventID`` and ``errorDeclaration`` go into
``baseExtension``; the fields 1.2 only knows through its extension points go into ``extension`` (quantity,
source and destination lists, ILMD of an ObjectEvent), and what 1.2 has no field for at all (sensor data,
persistent disposition, certification info) one ``extension`` deeper, where its schema admits any element; a
TransformationEvent sits in ``EventList/extension``, an AssociationEvent in ``EventList/extension/extension``.

What XML cannot say is dropped, never invented: a member whose name is no XML name, and an extension whose
prefix is declared nowhere keeps its name under a namespace of Passport's (``…/epcis/undeclared/<prefix>#``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from lxml import etree

from app.domain.epcis_query import PASSPORT_PREFIX, passport_namespace
from app.services.epcis.xml_schema import DOCUMENT_NS, QUERY_NS

VERSIONS = ("2.0", "1.2")
# The prefixes the EPCIS 2.0 JSON-LD context defines, as the XML binding writes their namespaces.
STANDARD_NAMESPACES = {
    "cbvmda": "urn:epcglobal:cbv:mda",
    "gs1": "https://gs1.org/voc/",
    "cbv": "https://ref.gs1.org/cbv/",
    "epcis": "https://ref.gs1.org/epcis/",
}
VOCABULARY_URNS = {
    "bizStep": "urn:epcglobal:cbv:bizstep:",
    "disposition": "urn:epcglobal:cbv:disp:",
    "bizTransaction": "urn:epcglobal:cbv:btt:",
    "source": "urn:epcglobal:cbv:sdt:",
    "destination": "urn:epcglobal:cbv:sdt:",
    "reason": "urn:epcglobal:cbv:er:",
}
EPC_LISTS = {"epcList", "childEPCs", "inputEPCList", "outputEPCList"}
QUANTITY_LISTS = {"quantityList", "childQuantityList", "inputQuantityList", "outputQuantityList"}
TYPED_LISTS = {"bizTransactionList": "bizTransaction", "sourceList": "source", "destinationList": "destination"}
BASE_FIELDS = ("eventTime", "recordTime", "eventTimeZoneOffset", "eventID", "errorDeclaration", "certificationInfo")
# EPCIS 2.0 XML Schema: each event type's own fields, in the order of its sequence.
FIELDS_2_0 = {
    "ObjectEvent": (
        "epcList", "action", "bizStep", "disposition", "readPoint", "bizLocation", "bizTransactionList",
        "quantityList", "sourceList", "destinationList", "sensorElementList", "persistentDisposition", "ilmd",
    ),
    "AggregationEvent": (
        "parentID", "childEPCs", "action", "bizStep", "disposition", "readPoint", "bizLocation",
        "bizTransactionList", "childQuantityList", "sourceList", "destinationList", "sensorElementList",
        "persistentDisposition",
    ),
    "TransactionEvent": (
        "bizTransactionList", "parentID", "epcList", "action", "bizStep", "disposition", "readPoint", "bizLocation",
        "quantityList", "sourceList", "destinationList", "sensorElementList", "persistentDisposition",
    ),
    "TransformationEvent": (
        "inputEPCList", "inputQuantityList", "outputEPCList", "outputQuantityList", "transformationID", "bizStep",
        "disposition", "readPoint", "bizLocation", "bizTransactionList", "sourceList", "destinationList",
        "sensorElementList", "persistentDisposition", "ilmd",
    ),
    "AssociationEvent": (
        "parentID", "childEPCs", "childQuantityList", "action", "bizStep", "disposition", "readPoint", "bizLocation",
        "bizTransactionList", "sourceList", "destinationList", "sensorElementList", "persistentDisposition",
    ),
}  # fmt: skip
# EPCIS 1.2 XML Schema: (fields of the event, fields of its ``extension``); the rest goes one extension deeper.
FIELDS_1_2 = {
    "ObjectEvent": (
        ("epcList", "action", "bizStep", "disposition", "readPoint", "bizLocation", "bizTransactionList"),
        ("quantityList", "sourceList", "destinationList", "ilmd"),
    ),
    "AggregationEvent": (
        ("parentID", "childEPCs", "action", "bizStep", "disposition", "readPoint", "bizLocation", "bizTransactionList"),
        ("childQuantityList", "sourceList", "destinationList"),
    ),
    "TransactionEvent": (
        ("bizTransactionList", "parentID", "epcList", "action", "bizStep", "disposition", "readPoint", "bizLocation"),
        ("quantityList", "sourceList", "destinationList"),
    ),
    "TransformationEvent": (
        (
            "inputEPCList", "inputQuantityList", "outputEPCList", "outputQuantityList", "transformationID",
            "bizStep", "disposition", "readPoint", "bizLocation", "bizTransactionList", "sourceList",
            "destinationList", "ilmd",
        ),
        (),
    ),
}  # fmt: skip
REQUIRED_1_2 = {"ObjectEvent": ("epcList",), "AggregationEvent": ("childEPCs",), "TransactionEvent": ("epcList",)}
SENSOR_ATTRIBUTES = (
    "type", "value", "component", "stringValue", "booleanValue", "hexBinaryValue", "uriValue", "uom", "minValue",
    "maxValue", "sDev", "chemicalSubstance", "microorganism", "deviceID", "deviceMetadata", "rawData", "time",
    "meanValue", "percRank", "percValue", "dataProcessingMethod", "coordinateReferenceSystem", "exception",
)  # fmt: skip


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _urn(field: str, value: Any) -> str:
    """A CBV bare word as the URN the XML binding uses; a URI stays as it is."""
    text = _text(value)
    return text if ":" in text else VOCABULARY_URNS[field] + text


def _valid_name(name: str) -> bool:
    try:
        etree.QName(name)
    except ValueError:
        return False
    return bool(name) and not name[0].isdigit() and ":" not in name


class _Writer:
    def __init__(self, version: str, base_url: str) -> None:
        self.version = version
        self.undeclared = f"{base_url}/epcis/undeclared/"
        self.base_namespaces = {**STANDARD_NAMESPACES, PASSPORT_PREFIX: passport_namespace(base_url)}
        self.namespaces: dict[str, str] = self.base_namespaces
        self.used: dict[str, str] = {}  # prefix -> namespace, declared once on the root element

    def prefixes(self, context: Any) -> dict[str, str]:
        found = dict(self.base_namespaces)
        for entry in context if isinstance(context, list) else [context]:
            if isinstance(entry, dict):
                found.update({k: v for k, v in entry.items() if isinstance(v, str) and k not in STANDARD_NAMESPACES})
        return found

    def _tag(self, key: str) -> str | None:
        """The element name of a JSON member: ``prefix:local`` in the prefix's namespace, a bare name bare."""
        if ":" not in key:
            return key if _valid_name(key) else None
        prefix, local = key.split(":", 1)
        if not _valid_name(local):
            return None
        namespace = self.namespaces.get(prefix) or f"{self.undeclared}{prefix}#"
        if prefix not in ("epcis", "epcisq") and namespace not in self.used.values():
            self.used.setdefault(prefix if _valid_name(prefix) else f"ns{len(self.used) + 1}", namespace)
        return f"{{{namespace}}}{local}"

    # ---------------------------------------------------------------------------------------------- values

    def extension(self, parent: etree._Element, key: str, value: Any) -> None:
        tag = self._tag(key)
        if tag is None or value is None:
            return
        for item in value if isinstance(value, list) else [value]:
            child = etree.SubElement(parent, tag)
            if isinstance(item, dict):
                for k, v in item.items():
                    if k == "#text":
                        child.text = _text(v)
                    else:
                        self.extension(child, k, v)
            elif isinstance(item, list):
                for nested in item:
                    self.extension(child, key, nested)
            else:
                child.text = _text(item)

    def _extensions(self, parent: etree._Element, value: dict[str, Any], known: Iterable[str]) -> None:
        skip = set(known)
        for key, item in value.items():
            if key not in skip and not key.startswith("@"):
                self.extension(parent, key, item)

    def field(self, parent: etree._Element, name: str, value: Any) -> None:
        """One standard field of an event, in its XML form."""
        element = etree.SubElement(parent, name)
        if name in EPC_LISTS:
            for epc in value or []:
                etree.SubElement(element, "epc").text = _text(epc)
        elif name in QUANTITY_LISTS:
            for quantity in value or []:
                self._quantity(etree.SubElement(element, "quantityElement"), quantity)
        elif name in TYPED_LISTS:
            item_name = TYPED_LISTS[name]
            for item in value or []:
                child = etree.SubElement(element, item_name)
                if item.get("type") is not None:
                    child.set("type", _urn(item_name, item["type"]))
                child.text = _text(item.get(item_name, ""))
        elif name in ("bizStep", "disposition"):
            element.text = _urn(name, value)
        elif name in ("readPoint", "bizLocation"):
            etree.SubElement(element, "id").text = _text(value.get("id", ""))
            self._extensions(element, value, ("id",))
        elif name == "sensorElementList":
            for sensor in value or []:
                self._sensor(etree.SubElement(element, "sensorElement"), sensor)
        elif name == "persistentDisposition":
            for part in ("unset", "set"):
                for word in value.get(part, []):
                    etree.SubElement(element, part).text = _urn("disposition", word)
        elif name == "ilmd":
            self._extensions(element, value, ())
        elif name == "errorDeclaration":
            self._error_declaration(element, value)
        elif name == "certificationInfo":
            element.text = _text(value[0] if isinstance(value, list) and value else value)
        else:
            element.text = _text(value)

    def _quantity(self, element: etree._Element, quantity: dict[str, Any]) -> None:
        etree.SubElement(element, "epcClass").text = _text(quantity.get("epcClass", ""))
        if quantity.get("quantity") is not None:
            etree.SubElement(element, "quantity").text = _text(quantity["quantity"])
        if quantity.get("uom") is not None:
            etree.SubElement(element, "uom").text = _text(quantity["uom"])

    def _sensor(self, element: etree._Element, sensor: dict[str, Any]) -> None:
        metadata = sensor.get("sensorMetadata")
        if isinstance(metadata, dict):
            self._attributes(etree.SubElement(element, "sensorMetadata"), metadata)
        for report in sensor.get("sensorReport", []):
            self._attributes(etree.SubElement(element, "sensorReport"), report, sensor_report=True)
        self._extensions(element, sensor, ("sensorMetadata", "sensorReport"))

    def _attributes(self, element: etree._Element, values: dict[str, Any], *, sensor_report: bool = False) -> None:
        for key, value in values.items():
            if value is None or isinstance(value, dict | list):
                continue
            text = _text(value)
            if sensor_report and key == "type" and ":" not in text:
                text = f"gs1:{text}"
            tag = self._tag(key)
            if tag is not None:
                element.set(tag, text)

    def _error_declaration(self, element: etree._Element, value: dict[str, Any]) -> None:
        if value.get("declarationTime") is not None:
            etree.SubElement(element, "declarationTime").text = _text(value["declarationTime"])
        if value.get("reason") is not None:
            etree.SubElement(element, "reason").text = _urn("reason", value["reason"])
        if value.get("correctiveEventIDs"):
            ids = etree.SubElement(element, "correctiveEventIDs")
            for event_id in value["correctiveEventIDs"]:
                etree.SubElement(ids, "correctiveEventID").text = _text(event_id)
        self._extensions(element, value, ("declarationTime", "reason", "correctiveEventIDs"))

    # ---------------------------------------------------------------------------------------------- events

    def event(self, event_list: etree._Element, event: dict[str, Any], document_context: Any) -> None:
        own = event.get("@context")
        self.namespaces = self.prefixes([document_context, own] if own is not None else document_context)
        kind = str(event.get("type"))
        if self.version == "2.0":
            self._event_2_0(etree.SubElement(event_list, kind), event, kind)
        else:
            self._event_1_2(event_list, event, kind)

    def _event_2_0(self, element: etree._Element, event: dict[str, Any], kind: str) -> None:
        own = FIELDS_2_0.get(kind, ())
        for name in (*BASE_FIELDS, *own):
            if event.get(name) is not None:
                self.field(element, name, event[name])
        self._extensions(element, event, ("type", *BASE_FIELDS, *own))

    def _event_1_2(self, event_list: etree._Element, event: dict[str, Any], kind: str) -> None:
        if kind == "TransformationEvent":
            element = etree.SubElement(etree.SubElement(event_list, "extension"), kind)
        elif kind in FIELDS_1_2:
            element = etree.SubElement(event_list, kind)
        else:  # an AssociationEvent: 1.2 admits it in its lax extension point only, written as in 2.0
            holder = etree.SubElement(etree.SubElement(event_list, "extension"), "extension")
            self._event_2_0(etree.SubElement(holder, kind), event, kind)
            return
        own, extended = FIELDS_1_2[kind]
        for name in ("eventTime", "recordTime", "eventTimeZoneOffset"):
            if event.get(name) is not None:
                self.field(element, name, event[name])
        if event.get("eventID") is not None or event.get("errorDeclaration") is not None:
            base = etree.SubElement(element, "baseExtension")
            for name in ("eventID", "errorDeclaration"):
                if event.get(name) is not None:
                    self.field(base, name, event[name])
        for name in own:
            if event.get(name) is not None or name in REQUIRED_1_2.get(kind, ()):
                self.field(element, name, event.get(name) or [])
        later = [n for n in FIELDS_2_0[kind] if n not in own and n not in extended and event.get(n) is not None]
        if event.get("certificationInfo") is not None:
            later.append("certificationInfo")
        if kind == "TransformationEvent":  # its extension is already the open one
            if later:
                extension = etree.SubElement(element, "extension")
                for name in later:
                    self.field(extension, name, event[name])
        elif any(event.get(n) is not None for n in extended) or later:
            extension = etree.SubElement(element, "extension")
            for name in extended:
                if event.get(name) is not None:
                    self.field(extension, name, event[name])
            if later:
                deeper = etree.SubElement(extension, "extension")
                for name in later:
                    self.field(deeper, name, event[name])
        self._extensions(element, event, ("type", *BASE_FIELDS, *FIELDS_2_0[kind]))


def query_document_xml(document: dict[str, Any], *, version: str, base_url: str) -> bytes:
    """The XML of a JSON-LD ``EPCISQueryDocument`` (as :func:`app.domain.epcis_query.query_document` makes it)."""
    epcis_ns, query_ns = DOCUMENT_NS[version], QUERY_NS[version]
    root = etree.Element(f"{{{query_ns}}}EPCISQueryDocument", nsmap={"epcisq": query_ns, "epcis": epcis_ns})
    root.set("schemaVersion", version)
    root.set("creationDate", str(document.get("creationDate", "")))
    results = document.get("epcisBody", {}).get("queryResults", {})
    body = etree.SubElement(root, "EPCISBody")
    query_results = etree.SubElement(body, f"{{{query_ns}}}QueryResults")
    etree.SubElement(query_results, "queryName").text = str(results.get("queryName", "SimpleEventQuery"))
    if results.get("subscriptionID"):
        etree.SubElement(query_results, "subscriptionID").text = str(results["subscriptionID"])
    event_list = etree.SubElement(etree.SubElement(query_results, "resultsBody"), "EventList")
    writer = _Writer(version, base_url)
    for event in results.get("resultsBody", {}).get("eventList", []):
        writer.event(event_list, event, document.get("@context"))
    # the senders' prefixes, declared once on the root (a prefix two namespaces share: lxml names the second)
    etree.cleanup_namespaces(root, top_nsmap=writer.used)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))
