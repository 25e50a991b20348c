"""What mutation testing of app/domain/epcis_filters.py found untested (issue 21, session E): every refusal's text
and code, the name a filter keeps, how values are read (booleans are no numbers, NaN and infinities no operands,
lower-case times, JSON-LD value objects), every place an extension field can be, sources and destinations that are
not the one asked for, EPC class refusals, and the fixed names on events that lack what they read."""

from __future__ import annotations

from typing import Any

import pytest

from app.domain.epcis_filters import parse
from app.domain.errors import InvalidInput


def holds(name: str, raw: str, event: dict[str, Any]) -> bool:
    found = parse(name, raw)
    assert found is not None, name
    assert found.name == name
    return found.test(event)


def refusal(name: str, raw: str) -> InvalidInput:
    with pytest.raises(InvalidInput) as refused:
        parse(name, raw)
    return refused.value


# ------------------------------------------------------------------------------------------ refusals


@pytest.mark.parametrize(
    ("name", "raw", "detail"),
    [
        ("EQ_example:f", "a||b", "EQ_example:f: empty value in 'a||b' (several values are separated by '|')"),
        ("EQ_quantity", "1|", "EQ_quantity: empty value in '1|' (several values are separated by '|')"),
        (
            "EQ_source_owning_party",
            "|x",
            "EQ_source_owning_party: empty value in '|x' (several values are separated by '|')",
        ),
        ("MATCH_epcClass", " |x", "MATCH_epcClass: empty value in ' |x' (several values are separated by '|')"),
        ("EQ_errorReason", "a|", "EQ_errorReason: empty value in 'a|' (several values are separated by '|')"),
        (
            "EQ_persistentDisposition_set",
            "|",
            "EQ_persistentDisposition_set: empty value in '|' (several values are separated by '|')",
        ),
        ("GT_example:f", "heavy", "GT_example:f: 'heavy' is neither a number nor an RFC 3339 date-time with an offset"),
        (
            "LT_example:f",
            "2026-03-01T08:00:00",
            "LT_example:f: '2026-03-01T08:00:00' is neither a number nor an RFC 3339 date-time with an offset",
        ),
        ("GE_example:f", "NaN", "GE_example:f: 'NaN' is neither a number nor an RFC 3339 date-time with an offset"),
        ("GE_example:f", "inf", "GE_example:f: 'inf' is neither a number nor an RFC 3339 date-time with an offset"),
        (
            "LE_example:f",
            "-Infinity",
            "LE_example:f: '-Infinity' is neither a number nor an RFC 3339 date-time with an offset",
        ),
        (
            "LE_example:f",
            "infinity",
            "LE_example:f: 'infinity' is neither a number nor an RFC 3339 date-time with an offset",
        ),
        ("LE_example:f", "-inf", "LE_example:f: '-inf' is neither a number nor an RFC 3339 date-time with an offset"),
        ("GT_quantity_KGM", "heavy", "GT_quantity_KGM: 'heavy' is not a number"),
        ("EQ_quantity", "1|two", "EQ_quantity: 'two' is not a number"),
        ("GE_value_CEL", "warm", "GE_value_CEL: 'warm' is not a number"),
        ("GT_example:f", "1|2", "GT_example:f: '1|2' is neither a number nor an RFC 3339 date-time with an offset"),
        ("GE_value_CEL", "1|2", "GE_value_CEL: '1|2' is not a number"),  # one value only
        ("EQ_value_CEL", "1|", "EQ_value_CEL: empty value in '1|' (several values are separated by '|')"),
        ("EQ_value_CEL", "1|warm", "EQ_value_CEL: 'warm' is not a number"),
        ("GE_time", "yesterday", "GE_time: 'yesterday' is not an RFC 3339 date-time with an offset"),
        (
            "LT_errorDeclarationTime",
            "2026-01-01",
            "LT_errorDeclarationTime: '2026-01-01' is not an RFC 3339 date-time with an offset",
        ),
        ("EQ_booleanValue", "yes", "EQ_booleanValue: 'yes' is not true or false"),
        ("GT_percRank", "high", "GT_percRank: 'high' is not a number"),
        (
            "MATCH_epcClass",
            "urn:epc:idpat:sgtin:4012345.*.*",
            "MATCH_epcClass: pattern 'urn:epc:idpat:sgtin:4012345.*.*' is not supported; "
            "use urn:epc:idpat:sgtin:<prefix>.<item>.*",
        ),
        (
            "MATCH_inputEPCClass",
            "urn:epc:id:sgtin:1.2.3",
            "MATCH_inputEPCClass: urn:epc:id:sgtin:1.2.3: company prefix and item reference must have 13 digits together",
        ),
        (
            "MATCH_outputEPCClass",
            "urn:epc:idpat:sgtin:1.2.*",
            "MATCH_outputEPCClass: urn:epc:id:sgtin:1.2.0: company prefix and item reference must have 13 digits together",
        ),
    ],
)
def test_refusals_name_the_parameter_and_say_why(name, raw, detail):
    refused = refusal(name, raw)
    assert refused.detail == detail
    assert refused.code == "invalid_query_parameter"


@pytest.mark.parametrize(
    "name",
    [
        "EQ_transformationID",
        "EQ_correctiveEventID",
        "EQ_errorReason",
        "EQ_persistentDisposition_unset",
        "EQ_type",
        "EQ_deviceID",
        "EQ_stringValue",
        "EQ_hexBinaryValue",
        "EQ_bizTransaction_po",
        "EQ_destination_owning_party",
        "MATCH_inputEPCClass",
        "EQ_quantity_KGM",
        "EQ_INNER_ILMD_example:f",
    ],
)
def test_an_empty_value_is_refused_by_every_name_that_takes_several(name):
    refused = refusal(name, "x|")
    assert refused.detail == f"{name}: empty value in 'x|' (several values are separated by '|')"
    assert refused.code == "invalid_query_parameter"


@pytest.mark.parametrize("name", ["HASATTR_example:f", "EQATTR_example:f", "EQ_ATTR_example:f"])
def test_master_data_parameters_are_unsupported(name):
    refused = refusal(name, "x")
    assert refused.detail == f"{name}: master-data attributes are not kept here (no vocabulary master data)"
    assert refused.code == "unsupported_query_parameter"


@pytest.mark.parametrize(
    "name",
    ["GT_readPoint_example:dock", "EXISTS_bizLocation_example:dock", "LE_INNER_readPoint_example:dock", "EQ_weight"],
)
def test_names_outside_the_families_are_not_filters(name):
    assert parse(name, "1") is None


# ------------------------------------------------------------------------------------------ values


def test_a_boolean_is_not_a_number():
    assert not holds("EQ_quantity", "1", {"quantityList": [{"quantity": True}]})
    assert not holds("GE_example:f", "0", {"example:f": True})
    assert not holds("GE_example:f", "0", {"example:f": {"nested": 1}})


def test_numbers_written_as_text_compare_as_numbers():
    assert holds("EQ_example:f", " 2.0 ", {"example:f": " 2 "})
    assert holds("LT_example:f", "10", {"example:f": "9.5"})
    assert not holds("LT_example:f", "10", {"example:f": "ten"})


def test_nan_and_infinities_are_text_for_eq():
    assert holds("EQ_example:f", "nan", {"example:f": "nan"})
    assert not holds("EQ_example:f", "nan", {"example:f": float("nan")})


def test_times_compare_as_instants_whatever_their_case_and_offset():
    event = {"example:t": "2026-03-01t09:00:00+01:00"}
    assert holds("EQ_example:t", "2026-03-01T08:00:00Z", event)
    assert holds("GE_example:t", "2026-03-01t08:00:00z", event)
    assert not holds("GT_example:t", "2026-03-01T08:00:00Z", event)
    assert not holds("GE_example:t", "2026-03-01T08:00:00Z", {"example:t": "2026-03-01T09:00:00"})  # no offset
    assert not holds("GE_example:t", "2026-03-01T08:00:00Z", {"example:t": "2026-03-01"})  # no time
    assert not holds("GE_example:t", "2026-03-01T08:00:00Z", {"example:t": "2026-13-01T09:00:00Z"})
    assert not holds("GE_example:t", "2026-03-01T08:00:00Z", {"example:t": 5})


def test_text_values_match_text_only():
    assert holds("EQ_example:f", "a|b", {"example:f": "b"})
    assert holds("EQ_example:f", "a|5", {"example:f": 5})  # a number is no text, but the next value is a number
    assert not holds("EQ_example:f", "a", {"example:f": ["A", None, {"x": "a"}]})


def test_json_ld_value_objects_and_xml_text_read_as_their_value():
    assert holds("EQ_example:f", "7", {"example:f": {"@value": "7", "@type": "xsd:int"}})
    assert holds("EQ_example:f", "7", {"example:f": {"#text": "7", "@unit": "x"}})
    assert holds("EQ_example:f", "7", {"example:f": [["1"], [{"@value": 7}]]})
    assert not holds("EQ_example:f", "7", {"example:f": {"value": "7"}})


# ------------------------------------------------------------------------------------------ places


SENSORS = {
    "sensorElementList": [
        {
            "sensorMetadata": {"example:where": "M", "time": "2026-01-01T00:00:00Z"},
            "sensorReport": [{"example:where": "R", "time": "2026-01-03T00:00:00Z"}, "not an object"],
            "example:where": "E",
            "example:box": {"example:deep": "E2"},
        },
        "not an element",
    ],
    "ilmd": {"example:box": [{"example:deep": "I2"}]},
    "errorDeclaration": {"example:box": {"example:deep": "D2"}},
    "readPoint": {"example:where": "RP", "example:box": {"example:deep": "RP2"}},
    "bizLocation": {"example:where": "BL", "example:box": [{"example:deep": "BL2"}]},
    "example:box": [{"example:deep": "X2"}, {"example:other": {"example:deep": "X3"}}],
}


@pytest.mark.parametrize(
    ("name", "raw", "expected"),
    [
        ("EQ_SENSORELEMENT_example:where", "E", True),
        ("EQ_SENSORELEMENT_example:where", "M|R", False),
        ("EQ_SENSORMETADATA_example:where", "M", True),
        ("EQ_SENSORMETADATA_example:where", "E|R", False),
        ("EQ_SENSORREPORT_example:where", "R", True),
        ("EQ_SENSORREPORT_example:where", "E|M", False),
        ("EQ_readPoint_example:where", "RP", True),
        ("EQ_bizLocation_example:where", "BL", True),
        ("EQ_bizLocation_example:where", "RP", False),
        ("EQ_INNER_SENSORELEMENT_example:deep", "E2", True),
        ("EQ_INNER_SENSORELEMENT_example:deep", "I2", False),
        ("EQ_INNER_ILMD_example:deep", "I2", True),  # inside a list of objects
        ("EQ_INNER_ERROR_DECLARATION_example:deep", "D2", True),
        ("EQ_INNER_readPoint_example:deep", "RP2", True),
        ("EQ_INNER_bizLocation_example:deep", "BL2", True),
        ("EQ_INNER_bizLocation_example:deep", "RP2", False),
        ("EQ_INNER_example:deep", "X2", True),  # an object in a list
        ("EQ_INNER_example:deep", "X3", True),  # deeper still
        ("EQ_INNER_example:deep", "E2|I2|D2|RP2|BL2", False),  # the top level's extensions only
        ("EXISTS_INNER_SENSORMETADATA_example:deep", "", False),
        ("EXISTS_SENSORREPORT_example:where", "", True),
    ],
)
def test_extension_fields_are_read_where_the_name_says(name, raw, expected):
    assert holds(name, raw, SENSORS) is expected


def test_only_qualified_names_are_extensions_for_inner():
    event = {"plain": {"example:deep": "1"}, "example:box": {"plain": {"example:deep": "2"}}}
    assert not holds("EQ_INNER_example:deep", "1", event)
    assert holds("EQ_INNER_example:deep", "2", event)


def test_native_events_can_only_match_passport_fields_at_the_top_level():
    assert parse("EXISTS_passport:channel", "").native
    assert parse("GT_passport:count", "1").native
    assert not parse("EQ_INNER_passport:channel", "x").native
    assert not parse("EQ_readPoint_passport:channel", "x").native
    assert not parse("EQ_quantity", "1").native
    assert not parse("EQ_type", "Temperature").native


# ------------------------------------------------------------------------------------------ quantities and sensors


def test_every_quantity_list_counts_and_the_unit_must_match():
    for listing in ("quantityList", "childQuantityList", "inputQuantityList", "outputQuantityList"):
        event = {listing: [{"quantity": 5, "uom": "KGM"}, "x"]}
        assert holds("EQ_quantity", "5", event), listing
        assert holds("EQ_quantity_KGM", "5", event), listing
        assert not holds("EQ_quantity_LTR", "5", event), listing
    assert refusal("GT_quantity", "4|9").detail  # one value only == "GT_quantity: '4|9' is not a number"


def test_sensor_numbers_need_the_unit_and_the_field():
    event = {"sensorElementList": [{"sensorReport": [{"uom": "CEL", "minValue": 3, "value": 9}]}]}
    assert holds("EQ_minValue_CEL", "3", event)
    assert not holds("EQ_maxValue_CEL", "3", event)
    assert not holds("EQ_minValue_FAH", "3", event)
    assert holds("LE_value_CEL", "9", event) and not holds("LT_value_CEL", "9", event)
    assert holds("EQ_value_CEL", "1|9", event)


@pytest.mark.parametrize(
    "written",
    [
        "Temperature",
        "gs1:Temperature",
        "gs1:MeasurementType-Temperature",
        "https://gs1.org/voc/Temperature",
        "http://gs1.org/voc/MeasurementType-Temperature",
    ],
)
def test_a_measurement_type_in_any_gs1_form(written):
    event = {"sensorElementList": [{"sensorReport": [{"type": written}, {"type": 5}]}]}
    assert holds("EQ_type", "Temperature", event)
    assert holds("EQ_type", "https://gs1.org/voc/Temperature", event)
    assert not holds("EQ_type", "Humidity", event)


def test_a_type_outside_gs1_is_compared_as_written():
    event = {"sensorElementList": [{"sensorReport": [{"type": "example:Temperature"}]}]}
    assert holds("EQ_type", "example:Temperature", event)
    assert not holds("EQ_type", "Temperature", event)


def test_device_and_rules_attributes_are_read_from_metadata_too_others_from_reports_only():
    element = {"sensorMetadata": {}, "sensorReport": [{}]}
    for field in ("deviceID", "dataProcessingMethod", "bizRules"):
        in_metadata = {"sensorElementList": [{**element, "sensorMetadata": {field: "urn:x"}}]}
        assert holds(f"EQ_{field}", "urn:x", in_metadata), field
    for field in ("microorganism", "chemicalSubstance", "uriValue", "stringValue"):
        in_metadata = {"sensorElementList": [{**element, "sensorMetadata": {field: "urn:x"}}]}
        in_report = {"sensorElementList": [{**element, "sensorReport": [{field: "urn:x"}]}]}
        assert not holds(f"EQ_{field}", "urn:x", in_metadata), field
        assert holds(f"EQ_{field}", "urn:x|urn:y", in_report), field
        assert not holds(f"EQ_{field}", "URN:X", in_report), field  # only hex digits ignore case
    hexes = {"sensorElementList": [{"sensorReport": [{"hexBinaryValue": "ab"}, {"hexBinaryValue": 5}]}]}
    assert holds("EQ_hexBinaryValue", "AB", hexes) and holds("EQ_hexBinaryValue", "ab", hexes)
    assert not holds("EQ_hexBinaryValue", "AC", hexes)


@pytest.mark.parametrize(("raw", "found"), [(" TRUE ", True), ("False", False)])
def test_boolean_values_are_json_booleans(raw, found):
    reports = [{"booleanValue": "true"}, {"booleanValue": 1}, {"booleanValue": found}]
    assert holds("EQ_booleanValue", raw, {"sensorElementList": [{"sensorReport": reports}]})
    assert not holds("EQ_booleanValue", raw, {"sensorElementList": [{"sensorReport": reports[:2]}]})


def test_every_percentile_rank_comparison():
    event = {"sensorElementList": [{"sensorReport": [{"percRank": "50"}]}]}
    assert holds("LE_percRank", "50", event) and not holds("LT_percRank", "50", event)
    assert holds("GE_percRank", " 50 ", event) and holds("GT_percRank", "49.5", event)


def test_sensor_times_read_metadata_and_reports():
    assert holds("GE_time", "2026-01-03T00:00:00Z", SENSORS)  # a report's
    assert holds("LT_time", "2026-01-01T00:00:01Z", SENSORS)  # the metadata's
    assert not holds("LT_time", "2026-01-01T00:00:00Z", SENSORS)
    event = {
        "sensorElementList": [
            {"sensorReport": [{"startTime": "2026-01-01T00:00:00Z", "endTime": "2026-01-02T00:00:00Z"}]}
        ]
    }
    assert holds("LT_startTime", "2026-01-01T00:00:01Z", event) and not holds(
        "GE_startTime", "2026-01-01T00:00:01Z", event
    )
    assert holds("GE_endTime", "2026-01-02T00:00:00Z", event) and not holds("LT_endTime", "2026-01-02T00:00:00Z", event)
    assert not holds("GE_time", "2000-01-01T00:00:00Z", {})


# ------------------------------------------------------------------------------------------ parties and classes


PARTY = "urn:epc:id:pgln:0614141.00001"


def test_only_the_party_asked_for_matches():
    event = {"destinationList": [{"type": "owning_party", "destination": PARTY}, "x"]}
    assert holds("EQ_destination_owning_party", f"urn:epc:id:pgln:0614141.00002|{PARTY}", event)
    assert not holds("EQ_destination_owning_party", "urn:epc:id:pgln:0614141.00002", event)
    assert not holds("EQ_destination_owning_party", "not an identifier", event)
    cbv = {"sourceList": [{"type": "urn:epcglobal:cbv:sdt:owning_party", "source": PARTY}]}
    assert holds("EQ_source_owning_party", PARTY, cbv)


def test_a_party_that_is_missing_or_no_identifier_matches_nothing():
    assert not holds("EQ_source_owning_party", PARTY, {"sourceList": [{"type": "owning_party"}]})
    assert not holds("EQ_source_owning_party", PARTY, {"sourceList": [{"type": "owning_party", "source": 7}]})
    broken = {"sourceList": [{"type": "owning_party", "source": "urn:epc:id:sgtin:1.2.3"}]}
    assert not holds("EQ_source_owning_party", PARTY, broken)
    assert holds("EQ_source_owning_party", "urn:epc:id:sgtin:1.2.3", broken)  # the same text


def test_biz_transactions_compare_like_parties():
    event = {"bizTransactionList": [{"type": "po", "bizTransaction": "urn:x:1"}]}
    assert holds("EQ_bizTransaction_po", "urn:x:1", event)
    assert not holds("EQ_bizTransaction_po", "urn:x:2", event)


def test_classes_match_by_canonical_form_or_by_gtin_pattern_in_their_lists_only():
    lgtin = "urn:epc:class:lgtin:4012345.012345.998877"
    event = {
        "outputQuantityList": [{"epcClass": lgtin}, {"epcClass": 5}, {"quantity": 1}],
        "childQuantityList": [{"epcClass": "urn:epc:class:lgtin:4012345.099999.1"}],
    }
    assert holds("MATCH_outputEPCClass", lgtin, event)
    assert holds("MATCH_outputEPCClass", "urn:epc:idpat:sgtin:4012345.012345.*", event)
    assert not holds("MATCH_outputEPCClass", "urn:epc:idpat:sgtin:4012345.099999.*", event)
    assert holds("MATCH_epcClass", "urn:epc:idpat:sgtin:4012345.099999.*", event)
    assert not holds("MATCH_inputEPCClass", lgtin, event)
    assert not holds("MATCH_epcClass", lgtin, event)
    other = {"quantityList": [{"epcClass": "urn:epc:class:lgtin:4012345.012346.998877"}]}
    assert not holds("MATCH_epcClass", lgtin, {"quantityList": [{"epcClass": "urn:epc:id:sgtin:1.2.3"}]})  # no id
    assert not holds("MATCH_epcClass", f"{lgtin}|urn:epc:idpat:sgtin:4012345.012345.*", other)


# ------------------------------------------------------------------------------------------ fixed names


def test_fixed_names_on_events_that_lack_what_they_read():
    bare: dict[str, Any] = {}
    for name, raw in [
        ("EQ_persistentDisposition_set", "damaged"),
        ("EQ_transformationID", "urn:x"),
        ("GE_errorDeclarationTime", "2000-01-01T00:00:00Z"),
        ("EQ_errorReason", "did_not_occur"),
        ("EQ_correctiveEventID", "urn:x"),
        ("EXISTS_sensorElementList", ""),
        ("EQ_deviceID", "urn:x"),
        ("GE_percRank", "0"),
        ("EQ_booleanValue", "false"),
    ]:
        assert not holds(name, raw, bare), name
    odd = {"persistentDisposition": ["damaged"], "errorDeclaration": ["did_not_occur"], "sensorElementList": []}
    assert not holds("EQ_persistentDisposition_set", "damaged", odd)
    assert not holds("GE_errorDeclarationTime", "2000-01-01T00:00:00Z", odd)
    assert not holds("EQ_errorReason", "did_not_occur", odd)
    assert not holds("EXISTS_sensorElementList", "", odd)


def test_persistent_dispositions_read_their_side_in_any_cbv_form():
    event = {"persistentDisposition": {"set": ["urn:epcglobal:cbv:disp:damaged", 5], "unset": ["expired"]}}
    assert holds("EQ_persistentDisposition_set", "damaged|recalled", event)
    assert holds("EQ_persistentDisposition_set", "https://ref.gs1.org/cbv/Disp-damaged", event)
    assert not holds("EQ_persistentDisposition_unset", "damaged", event)
    assert holds("EQ_persistentDisposition_unset", "expired", event)


def test_error_declarations():
    declared = {"errorDeclaration": {"reason": "urn:epcglobal:cbv:er:did_not_occur", "correctiveEventIDs": ["a", "b"]}}
    assert holds("EQ_errorReason", "did_not_occur|incorrect_data", declared)
    assert holds("EQ_correctiveEventID", "b|c", declared)
    assert not holds("EQ_correctiveEventID", "c", declared)
    no_reason = {"errorDeclaration": {"declarationTime": "2026-01-01T00:00:00Z"}}
    assert not holds("EQ_errorReason", "did_not_occur", no_reason)
    assert holds("GE_errorDeclarationTime", "2026-01-01T00:00:00Z", no_reason)
    assert holds("LT_errorDeclarationTime", "2026-01-01T00:00:00.001Z", no_reason)
    assert not holds("LT_errorDeclarationTime", "2026-01-01T00:00:00Z", no_reason)


def test_transformation_ids():
    event = {"transformationID": "urn:t:2"}
    assert holds("EQ_transformationID", "urn:t:1|urn:t:2", event)
    assert not holds("EQ_transformationID", "urn:t:1", event)
