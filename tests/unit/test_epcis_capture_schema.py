"""The capture's schema check by type (:func:`app.services.epcis.capture_schema._typed_validators`): for an object
of a type GS1's schema names, the schema compiled for that type, with quicker definitions, says valid exactly when
the whole schema does (jsonschema's reference validator), over every GS1 example and over generated objects,
valid and not."""

from __future__ import annotations

import json
from typing import Any

import fastjsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.services.epcis import capture_schema
from app.services.epcis.capture_schema import schema_problem, schema_validator
from tests.epcis_examples import example_files

TYPES = [
    "EPCISDocument",
    "EPCISQueryDocument",
    "ObjectEvent",
    "AggregationEvent",
    "AssociationEvent",
    "TransformationEvent",
    "TransactionEvent",
]
CONTEXT = ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"]


def _typed_verdict(instance: dict[str, Any]) -> bool:
    try:
        capture_schema._typed_validators()[instance["type"]](instance)
    except fastjsonschema.JsonSchemaException:
        return False
    return True


def test_every_type_the_schema_names_has_its_own_validator():
    assert sorted(capture_schema._typed_validators()) == sorted(TYPES)


def _instances(document: dict[str, Any]) -> list[dict[str, Any]]:
    body = document["epcisBody"]
    events = body["queryResults"]["resultsBody"]["eventList"] if "queryResults" in body else body["eventList"]
    header = {**document, "epcisBody": {**body}}
    if "queryResults" in body:
        header["epcisBody"] = {"queryResults": {**body["queryResults"], "resultsBody": {"eventList": []}}}
    else:
        header["epcisBody"] = {"eventList": []}
    return [header, *({**event, "@context": document["@context"]} for event in events)]


@pytest.mark.parametrize("path", example_files(), ids=[p.name for p in example_files()])
def test_every_gs1_example_is_judged_as_the_whole_schema_judges_it(path):
    for instance in _instances(json.loads(path.read_text())):
        if instance.get("type") in TYPES:
            assert _typed_verdict(instance) == schema_validator().is_valid(instance), instance
            assert (schema_problem(instance) is None) == schema_validator().is_valid(instance)


_URIS = [
    "urn:epc:id:sgtin:0614141.107346.2017",
    "https://id.gs1.org/01/09506000134352/21/S1",
    "urn:epc:id:sscc:0614141.1234567890",
    "urn:epc:id:pgln:0614141.00000",
    "urn:epc:class:lgtin:4012345.012345.998877",
    "urn:epcglobal:cbv:bizstep:shipping",
    "https://ns.gs1.org/cbv/Disp-in_transit",
    "https://example.com/x",
    "example:a",
    "not a uri",
    "",
]
_WORDS = ["shipping", "receiving", "in_transit", "owning_party", "location", "ADD", "OBSERVE", "DELETE", "nonsense"]
_TIMES = ["2026-01-02T03:04:05.678Z", "2026-01-02T03:04:05+01:00", "2026-13-02T03:04:05Z", "yesterday"]
_OFFSETS = ["+00:00", "-05:30", "+14:00", "+15:00", "0"]
_SCALARS = st.sampled_from([*_URIS, *_WORDS, *_TIMES, *_OFFSETS]) | st.integers(-2, 5) | st.booleans() | st.none()
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(["type", "id", "source", "destination", "quantity", "uom", "epcClass"]), inner
        )
    ),
    max_leaves=6,
)
_KEYS = [
    "eventTime",
    "eventTimeZoneOffset",
    "recordTime",
    "eventID",
    "certificationInfo",
    "errorDeclaration",
    "action",
    "epcList",
    "quantityList",
    "bizStep",
    "disposition",
    "persistentDisposition",
    "readPoint",
    "bizLocation",
    "bizTransactionList",
    "sourceList",
    "destinationList",
    "sensorElementList",
    "ilmd",
    "parentID",
    "childEPCs",
    "childQuantityList",
    "inputEPCList",
    "inputQuantityList",
    "outputEPCList",
    "outputQuantityList",
    "transformationID",
    "schemaVersion",
    "creationDate",
    "epcisBody",
    "example:ext",
    "https://example.com/ext",
    "plain",
    "@context",
]


_BASES = [
    instance
    for path in example_files()
    for instance in _instances(json.loads(path.read_text()))
    if instance.get("type") in TYPES
]


@st.composite
def _objects(draw: st.DrawFn) -> dict[str, Any]:
    """An object of a type the schema names: a GS1 example's event or document header (valid), often changed: a
    field or two taken away, some added or replaced from a pool of valid and invalid names and values,
    sometimes given another type."""
    base = dict(draw(st.sampled_from(_BASES)))
    for key in draw(st.lists(st.sampled_from(sorted(base)), max_size=2)):
        if key != "type":
            base.pop(key, None)
    base.update(draw(st.dictionaries(st.sampled_from(_KEYS), _VALUES, max_size=2)))
    if draw(st.integers(0, 9)) == 0:
        base["type"] = draw(st.sampled_from(TYPES))
    return base


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_objects())
def test_generated_objects_are_judged_as_the_whole_schema_judges_them(instance):
    valid = schema_validator().is_valid(instance)
    assert _typed_verdict(instance) == valid
    assert (schema_problem(instance) is None) == valid


def test_the_quicker_definitions_merge_an_events_property_names():
    definitions = capture_schema._quicker(capture_schema._schema()["definitions"])
    names = next(p["propertyNames"] for p in definitions["ObjectEvent"]["allOf"] if "propertyNames" in p)
    enum, uri = names["anyOf"]
    assert {"eventTime", "action", "epcList"} <= set(enum["enum"])
    assert uri == {"$ref": "#/definitions/vocab-uri"}
    step = definitions["bizStep"]["anyOf"]
    assert "enum" in step[0] and step[1] == {"$ref": "#/definitions/vocab-other-uri"}  # the word first


def test_a_valid_event_of_a_named_type_needs_no_other_validator(monkeypatch):
    event = {
        "type": "ObjectEvent",
        "@context": CONTEXT,
        "eventTime": "2026-01-02T03:04:05.678Z",
        "eventTimeZoneOffset": "+00:00",
        "action": "OBSERVE",
        "epcList": ["urn:epc:id:sgtin:0614141.107346.2017"],
        "bizStep": "shipping",
    }
    capture_schema._typed_validators()

    def fail() -> None:
        raise AssertionError("the whole schema was compiled or called")

    monkeypatch.setattr(capture_schema, "_fast_validator", fail)
    assert schema_problem(event) is None
