"""The query parameters that read inside an event (app/domain/epcis_filters.py), on GS1's own examples and on
events written here: what each name means, what matches, what does not, and what is refused."""

from __future__ import annotations

import json
from typing import Any

import pytest

from app.domain.epcis_filters import parse
from app.domain.epcis_query import Order, parse_request
from app.domain.errors import InvalidInput, QueryParameterError
from tests.epcis_examples import example


def _events(name: str) -> list[dict[str, Any]]:
    body = json.loads(example(name).read_text())["epcisBody"]
    return body["queryResults"]["resultsBody"]["eventList"] if "queryResults" in body else body["eventList"]


SENSOR = _events("SensorDataExample1.jsonld")[0]
DECLARED = _events("Example_9.6.1-ObjectEvent-with-error-declaration.jsonld")[0]
ALL_FIELDS = _events("transformation_event_all_possible_fields.jsonld")[0]
PERSISTENT = _events("PersistentDisposition-example.jsonld")


def holds(name: str, raw: str, event: dict[str, Any]) -> bool:
    found = parse(name, raw)
    assert found is not None, name
    return found.test(event)


# ------------------------------------------------------------------------------------------ sensors


@pytest.mark.parametrize(
    ("name", "raw", "expected"),
    [
        ("EQ_type", "Temperature", True),
        ("EQ_type", "gs1:Temperature", True),
        ("EQ_type", "Pressure", False),
        ("EQ_type", "Pressure|Speed", True),
        ("GE_value_CEL", "26.2", True),
        ("GT_value_CEL", "26.2", False),
        ("LT_value_CEL", "26", False),
        ("LE_value_CEL", "26", True),
        ("EQ_value_KMH", "161|999", True),
        ("EQ_value_KMH", "163", False),
        ("GE_value_FAH", "0", False),  # no report in FAH: units are not converted
        ("EQ_deviceID", "urn:epc:id:giai:4000001.111", True),
        ("EQ_deviceID", "urn:epc:id:giai:4000001.112", False),
        ("EXISTS_sensorElementList", "", True),
        ("GE_time", "2019-04-02T13:55:00Z", True),  # 14:55+01:00 is 13:55Z
        ("GE_time", "2019-04-02T13:55:00.001Z", False),
        ("LT_time", "2019-04-02T13:05:00.001Z", True),
        ("LT_time", "2019-04-02T14:05:00+01:00", False),
    ],
)
def test_sensor_parameters_on_gs1s_example(name, raw, expected):
    assert holds(name, raw, SENSOR) is expected


def test_sensor_parameters_need_sensor_data():
    assert not holds("EXISTS_sensorElementList", "", DECLARED)
    assert not holds("EQ_type", "Temperature", DECLARED)


def test_sensor_attributes_of_reports():
    event = {
        "sensorElementList": [
            {
                "sensorMetadata": {"startTime": "2026-01-01T00:00:00Z", "endTime": "2026-01-02T00:00:00Z"},
                "sensorReport": [
                    {"type": "Temperature", "stringValue": "ok", "booleanValue": True, "percRank": 50},
                    {"hexBinaryValue": "0a1B", "uriValue": "https://example.com/x", "example:probe": "P7"},
                ],
                "example:batteryLevel": 90,
            }
        ]
    }
    assert holds("EQ_stringValue", "ok", event) and not holds("EQ_stringValue", "OK", event)
    assert holds("EQ_booleanValue", "true", event) and not holds("EQ_booleanValue", "false", event)
    assert holds("EQ_hexBinaryValue", "0A1B", event)  # hex digits compare without case
    assert holds("EQ_uriValue", "https://example.com/x", event)
    assert holds("GE_percRank", "50", event) and not holds("GT_percRank", "50", event)
    assert holds("GE_startTime", "2026-01-01T00:00:00Z", event) and not holds(
        "LT_endTime", "2026-01-01T08:00:00Z", event
    )
    assert holds("EQ_SENSORREPORT_example:probe", "P7", event)
    assert holds("GE_SENSORELEMENT_example:batteryLevel", "90", event)
    assert not holds("GT_SENSORELEMENT_example:batteryLevel", "90", event)
    assert not holds("EQ_SENSORMETADATA_example:probe", "P7", event)  # not where it is
    with pytest.raises(InvalidInput, match="true or false"):
        parse("EQ_booleanValue", "yes")


# ------------------------------------------------------------------------------------------ quantities


QUANTITIES = {
    "quantityList": [{"epcClass": "urn:epc:class:lgtin:4012345.012345.998877", "quantity": 200, "uom": "KGM"}],
    "childQuantityList": [{"epcClass": "urn:epc:idpat:sgtin:4012345.066666.*", "quantity": 12}],
    "inputQuantityList": [{"epcClass": "urn:epc:class:lgtin:4012345.011111.4444", "quantity": 10.5, "uom": "KGM"}],
}


@pytest.mark.parametrize(
    ("name", "raw", "expected"),
    [
        ("EQ_quantity", "12", True),
        ("EQ_quantity", "12.0", True),
        ("EQ_quantity", "13|14", False),
        ("GT_quantity", "199", True),
        ("GT_quantity", "200", False),
        ("GE_quantity", "200", True),
        ("LT_quantity", "10.5", False),
        ("LE_quantity", "10.5", True),
        ("EQ_quantity_KGM", "12", False),  # 12 has no unit
        ("EQ_quantity_KGM", "200", True),
        ("LT_quantity_KGM", "11", True),
        ("GT_quantity_LTR", "0", False),
    ],
)
def test_quantity_parameters(name, raw, expected):
    assert holds(name, raw, QUANTITIES) is expected


def test_classes_by_list():
    assert holds("MATCH_epcClass", "urn:epc:class:lgtin:4012345.012345.998877", QUANTITIES)
    assert holds("MATCH_epcClass", "https://id.gs1.org/01/04012345123456/10/998877", QUANTITIES)  # either form
    assert holds("MATCH_epcClass", "urn:epc:idpat:sgtin:4012345.012345.*", QUANTITIES)  # the GTIN's lots
    assert not holds("MATCH_epcClass", "urn:epc:class:lgtin:4012345.011111.4444", QUANTITIES)  # an input
    assert holds("MATCH_inputEPCClass", "urn:epc:class:lgtin:4012345.011111.4444", QUANTITIES)
    assert not holds("MATCH_outputEPCClass", "urn:epc:class:lgtin:4012345.011111.4444", QUANTITIES)
    with pytest.raises(InvalidInput, match="not supported"):
        parse("MATCH_epcClass", "urn:epc:idpat:sgtin:4012345.*.*")


# ------------------------------------------------------------------------------------------ declarations, others


def test_error_declaration_parameters_on_gs1s_example():
    assert holds("EQ_errorReason", "incorrect_data", DECLARED)
    assert holds("EQ_errorReason", "urn:epcglobal:cbv:er:incorrect_data", DECLARED)
    assert not holds("EQ_errorReason", "did_not_occur", DECLARED)
    assert holds("EQ_correctiveEventID", "urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6|urn:x", DECLARED)
    assert not holds("EQ_correctiveEventID", "urn:uuid:00000000-7dec-11d0-a765-00a0c91e6bf6", DECLARED)
    assert holds("GE_errorDeclarationTime", "2021-02-01T22:46:31.117Z", DECLARED)
    assert not holds("LT_errorDeclarationTime", "2021-02-01T22:46:31.117Z", DECLARED)
    assert not holds("EQ_errorReason", "incorrect_data", SENSOR)
    assert holds("EQ_bizTransaction_po", "http://transaction.acme.com/po/12345678", DECLARED)
    assert not holds("EQ_bizTransaction_inv", "http://transaction.acme.com/po/12345678", DECLARED)


def test_persistent_disposition_and_transformation_id():
    set_only, changed = (e for e in PERSISTENT if "persistentDisposition" in e)
    assert holds("EQ_persistentDisposition_set", "completeness_inferred", set_only)
    assert not holds("EQ_persistentDisposition_unset", "completeness_inferred", set_only)
    assert holds("EQ_persistentDisposition_unset", "completeness_inferred|damaged", changed)
    assert not holds("EQ_persistentDisposition_set", "completeness_inferred", changed)
    assert not holds("EQ_persistentDisposition_set", "completeness_inferred", SENSOR)
    transformation_id = ALL_FIELDS["transformationID"]
    assert holds("EQ_transformationID", transformation_id, ALL_FIELDS)
    assert not holds("EQ_transformationID", transformation_id + "0", ALL_FIELDS)


def test_sources_and_destinations_compare_identifiers_in_any_form():
    event = {"sourceList": [{"type": "owning_party", "source": "urn:epc:id:pgln:0614141.00001"}]}
    assert holds("EQ_source_owning_party", "urn:epc:id:pgln:0614141.00001", event)
    assert holds("EQ_source_owning_party", "https://id.gs1.org/417/0614141000012", event)
    assert not holds("EQ_source_possessing_party", "urn:epc:id:pgln:0614141.00001", event)
    assert not holds("EQ_destination_owning_party", "urn:epc:id:pgln:0614141.00001", event)
    assert parse("EQ_source_owning_party", "x").native  # natives export sources
    assert not parse("EQ_bizTransaction_po", "x").native


# ------------------------------------------------------------------------------------------ extension fields


EXTENDED = {
    "example:myField2": "0",
    "example:weight": 12.5,
    "example:made": "2026-03-01T08:00:00+08:00",
    "example:myField1": {"example:mySubField1": "2", "example:deeper": {"example:mySubField3": ["3", "1"]}},
    "ilmd": {
        "cbvmda:lotNumber": "LOT-7",
        "cbvmda:itemExpirationDate": "2027-01-01",
        "example:grading": {"example:grade": "A"},
    },
    "readPoint": {"id": "urn:epc:id:sgln:0614141.00777.0", "example:dock": "D4"},
}


@pytest.mark.parametrize(
    ("name", "raw", "expected"),
    [
        ("EQ_example:myField2", "0", True),
        ("EQ_example:myField2", "0.0", True),  # numbers compare as numbers
        ("EQ_example:myField2", "1|2", False),
        ("GT_example:weight", "12", True),
        ("LE_example:weight", "12.4", False),
        ("GE_example:made", "2026-03-01T00:00:00Z", True),  # 08:00+08:00 is 00:00Z
        ("GT_example:made", "2026-03-01T00:00:00Z", False),
        ("EXISTS_example:weight", "", True),
        ("EXISTS_example:height", "", False),
        ("EQ_example:mySubField1", "2", False),  # nested: INNER_ only
        ("EQ_INNER_example:mySubField1", "2", True),
        ("EQ_INNER_example:mySubField3", "1", True),  # at any depth, any element of an array
        ("EXISTS_INNER_example:deeper", "", True),
        ("EQ_ILMD_cbvmda:lotNumber", "LOT-7", True),
        ("EQ_ILMD_cbvmda:lotNumber", "LOT-8", False),
        ("EXISTS_ILMD_cbvmda:itemExpirationDate", "", True),
        ("EQ_INNER_ILMD_example:grade", "A", True),
        ("EQ_ILMD_example:grade", "A", False),
        ("EQ_readPoint_example:dock", "D4", True),
        ("EQ_bizLocation_example:dock", "D4", False),
    ],
)
def test_extension_fields_by_place(name, raw, expected):
    assert holds(name, raw, EXTENDED) is expected


def test_error_declaration_extensions():
    event = {"errorDeclaration": {"reason": "did_not_occur", "example:vendorExtension": {"example:ticket": "T-9"}}}
    assert holds("EXISTS_ERROR_DECLARATION_example:vendorExtension", "", event)
    assert holds("EQ_INNER_ERROR_DECLARATION_example:ticket", "T-9", event)
    assert not holds("EQ_ERROR_DECLARATION_example:ticket", "T-9", event)


def test_only_passport_extensions_can_match_native_events():
    assert parse("EQ_passport:channel", "online").native
    assert not parse("EQ_example:channel", "online").native
    assert not parse("EQ_ILMD_passport:channel", "online").native


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ([("GT_example:weight", "heavy")], "neither a number nor an RFC 3339"),
        ([("GT_quantity", "1|2")], "not a number"),
        ([("EQ_quantity", "3|")], "empty value"),
        ([("GE_value_CEL", "warm")], "not a number"),
        ([("GE_time", "yesterday")], "RFC 3339"),
        ([("HASATTR_example:f", "x")], "master-data"),
        ([("EQ_ATTR_a_b", "x")], "master-data"),
        ([("orderBy", "example:weight")], "not evaluated here"),
        ([("orderBy", "weight")], "is not eventTime or recordTime"),
        ([("orderBy", "eventTime"), ("orderDirection", "asc")], "ASC or DESC"),
        ([("eventCountLimit", "2")], "needs orderBy"),
        ([("orderBy", "eventTime"), ("eventCountLimit", "2"), ("maxEventCount", "3")], "mutually exclusive"),
        ([("maxEventCount", "0")], "positive integer"),
    ],
)
def test_refusals_are_query_parameter_exceptions(params, says):
    with pytest.raises(QueryParameterError) as refused:
        parse_request(params)
    assert says in refused.value.detail
    assert refused.value.problem_type == "epcisException:QueryParameterException"


def test_order_parameters():
    assert parse_request([]).query.order == Order("recordTime", descending=False)
    assert parse_request([("orderBy", "eventTime")]).query.order == Order("eventTime", descending=True)
    assert parse_request([("orderBy", "recordTime"), ("orderDirection", "ASC")]).query.order == Order("recordTime")
    query = parse_request([("orderBy", "eventTime"), ("eventCountLimit", "5")]).query
    assert (query.event_count_limit, query.max_event_count) == (5, None)
    assert parse_request([("maxEventCount", "7")]).query.max_event_count == 7


def test_several_filters_are_a_conjunction():
    query = parse_request([("EQ_type", "Temperature"), ("GE_value_CEL", "26.1")]).query
    assert query.test(SENSOR)
    query = parse_request([("EQ_type", "Temperature"), ("GE_value_CEL", "27")]).query
    assert not query.test(SENSOR)
    assert not parse_request([("EQ_type", "Temperature")]).query.natives_possible
    assert parse_request([("EQ_passport:channel", "x")]).query.natives_possible
