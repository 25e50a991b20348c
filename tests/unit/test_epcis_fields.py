"""Reading a captured EPCIS document and its events (app/domain/epcis_fields.py): no database, no HTTP."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.domain import epcis_fields as fields
from app.domain.custody import Action
from app.domain.epcis import EPCIS_CONTEXT_URLS, Identifier, Meaning, MeaningKind
from app.domain.epcis_fields import EpcRole, ErrorBehaviour, RecordKind
from app.domain.errors import InvalidInput, NotFound

SGTIN = "urn:epc:id:sgtin:0614141.107346.2017"
SGTIN_DL = "https://id.gs1.org/01/10614141073464/21/2017"
SSCC = "urn:epc:id:sscc:0614141.1234567890"
SSCC_DL = "https://id.gs1.org/00/106141412345678908"
PGLN = "urn:epc:id:pgln:0614141.00001"


def _refused(code: str, call, *args):
    with pytest.raises(InvalidInput) as caught:
        call(*args)
    assert caught.value.code == code, caught.value.detail
    return caught.value


@pytest.mark.parametrize(
    ("header", "behaviour"),
    [(None, ErrorBehaviour.ROLLBACK), ("", ErrorBehaviour.ROLLBACK), (" Proceed ", ErrorBehaviour.PROCEED)],
)
def test_error_behaviour_defaults_to_rollback_and_ignores_case(header, behaviour):
    assert fields.error_behaviour(header) is behaviour


def test_an_unknown_error_behaviour_is_refused_naming_the_choices():
    error = _refused("invalid_header", fields.error_behaviour, "abort")
    assert "'rollback' or 'proceed'" in error.detail


def test_an_error_declaration_is_its_own_kind_of_record():
    assert fields.record_kind({"type": "ObjectEvent"}) is RecordKind.EVENT
    assert fields.record_kind({"type": "ObjectEvent", "errorDeclaration": {}}) is RecordKind.ERROR_DECLARATION


# ------------------------------------------------------------------------------------------ documents


def test_events_come_from_event_event_list_or_query_results():
    one, two = {"type": "ObjectEvent"}, {"type": "AggregationEvent"}
    assert fields.event_list({"type": "EPCISDocument", "epcisBody": {"event": one}}) == [one]
    assert fields.event_list({"type": "EPCISDocument", "epcisBody": {"eventList": [one, two]}}) == [one, two]
    assert fields.event_list({"type": "EPCISDocument", "epcisBody": {}}) == []
    query = {"queryResults": {"resultsBody": {"eventList": [two]}}}
    assert fields.event_list({"type": "EPCISQueryDocument", "epcisBody": query}) == [two]
    assert fields.event_list({"type": "EPCISQueryDocument", "epcisBody": {"queryResults": "x"}}) == []


@pytest.mark.parametrize(
    "document",
    [{"type": "EPCISDocument"}, {"type": "EPCISDocument", "epcisBody": []}, {"type": "EPCISDocument", "epcisBody": 1}],
)
def test_a_document_without_a_body_object_is_refused(document):
    _refused("invalid_epcis_document", fields.event_list, document)


def test_an_event_list_that_is_not_an_array_is_refused():
    _refused("invalid_epcis_document", fields.event_list, {"type": "EPCISDocument", "epcisBody": {"eventList": {}}})


def test_the_document_without_its_events_keeps_its_header_and_leaves_the_original_alone():
    document = {"type": "EPCISDocument", "schemaVersion": "2.0", "epcisBody": {"event": {"type": "ObjectEvent"}}}
    shell = fields.without_events(document)
    assert shell == {"type": "EPCISDocument", "schemaVersion": "2.0", "epcisBody": {"eventList": []}}
    assert document["epcisBody"] == {"event": {"type": "ObjectEvent"}}
    query = {"type": "EPCISQueryDocument", "epcisBody": {"queryResults": {"queryName": "q", "resultsBody": {"x": 1}}}}
    assert fields.without_events(query)["epcisBody"] == {
        "queryResults": {"queryName": "q", "resultsBody": {"eventList": []}}
    }


def test_only_inline_context_entries_are_kept_with_the_events():
    prefixes = {"ex": "https://example.com/"}
    assert fields.inline_context({"@context": [EPCIS_CONTEXT_URLS[0], prefixes]}) == [prefixes]
    assert fields.inline_context({"@context": prefixes}) == [prefixes]
    assert fields.inline_context({"@context": EPCIS_CONTEXT_URLS[0]}) is None
    assert fields.inline_context({}) is None


def test_a_remote_context_other_than_epcis_is_refused_and_never_fetched():
    for url in EPCIS_CONTEXT_URLS:
        fields.check_context({"@context": [url, {"ex": "https://example.com/"}]})
    error = _refused("remote_context_refused", fields.check_context, {"@context": "https://example.com/ctx.jsonld"})
    assert "https://example.com/ctx.jsonld" in error.detail


def test_an_event_problem_names_the_event_and_keeps_only_plain_extras():
    error = NotFound("no such unit", code="unit_not_found", serial="S1", count=2, rows=[1, 2])
    problem = fields.event_problem(error, 3, {"eventID": "urn:uuid:1"})
    assert problem["type"] == "/problems/unit_not_found"
    assert problem["detail"] == "event 3 (urn:uuid:1): no such unit"
    assert (problem["index"], problem["eventID"], problem["serial"], problem["count"]) == (3, "urn:uuid:1", "S1", 2)
    assert "rows" not in problem
    assert fields.event_problem(error, 0, "not an object")["detail"] == "event 0: no such unit"


# ------------------------------------------------------------------------------------------ identifiers


def test_identifiers_carry_their_role_in_canonical_form():
    event = {
        "parentID": SSCC,
        "childEPCs": [SGTIN],
        "epcList": [SSCC_DL],
        "inputEPCList": [SGTIN],
        "outputEPCList": [SSCC],
        "quantityList": [{"epcClass": "urn:epc:class:lgtin:4012345.012345.998877"}, {"quantity": 1}],
    }
    found = [(role, ident.canonical) for role, ident in fields.identifiers(event)]
    assert found == [
        (EpcRole.PARENT, SSCC_DL),
        (EpcRole.EPC, SSCC_DL),
        (EpcRole.CHILD, SGTIN_DL),
        (EpcRole.INPUT, SGTIN_DL),
        (EpcRole.OUTPUT, SSCC_DL),
        (EpcRole.CLASS, "https://id.gs1.org/01/04012345123456/10/998877"),
    ]


def test_a_malformed_gs1_identifier_is_an_error_of_the_event():
    with pytest.raises(InvalidInput):
        fields.identifiers({"epcList": ["https://id.gs1.org/01/10614141073465/21/2017"]})  # wrong check digit


def test_lock_keys_are_units_and_containers_and_skip_what_cannot_be_read():
    events = [
        {"parentID": SSCC, "childEPCs": [SGTIN, "https://id.gs1.org/01/10614141073465/21/X"]},
        "not an event",
        {"epcList": "not a list", "parentID": 7},
        {"epcList": [PGLN, SGTIN]},
    ]
    assert fields.lock_keys(events) == (
        [("10614141073464", "2017"), ("10614141073464", "2017")],
        ["106141412345678908"],
    )


def test_a_unit_key_is_gtin_and_serial_and_only_a_unit_has_one():
    assert Identifier(SGTIN_DL, gtin="10614141073464", serial="2017").unit_key == ("10614141073464", "2017")
    assert Identifier(SSCC_DL, sscc="106141412345678908").unit_key is None
    assert Identifier("https://id.gs1.org/01/10614141073464", gtin="10614141073464").unit_key is None


def test_a_location_is_its_canonical_id():
    assert fields.location({"readPoint": {"id": "urn:epc:id:sgln:0614141.07346.0"}}, "readPoint") == (
        "https://id.gs1.org/414/0614141073467"
    )
    assert fields.location({"readPoint": "urn:epc:id:sgln:0614141.07346.0"}, "readPoint") is None
    assert fields.location({}, "bizLocation") is None


def test_the_owning_party_decides_whatever_the_order_then_the_possessing_party():
    owner = "urn:epc:id:pgln:0614141.00001"
    holder = "urn:epc:id:pgln:0614141.00002"
    event = {
        "destinationList": [
            {"type": "location", "destination": "urn:epc:id:sgln:0614141.07346.0"},
            {"type": "possessing_party", "destination": holder},
            {"type": "https://ref.gs1.org/cbv/SDT-owning_party", "destination": owner},
        ]
    }
    assert fields.party(event, "destinationList") is not None
    assert fields.party(event, "destinationList").canonical == "https://id.gs1.org/417/0614141000012"
    event["destinationList"].pop()
    assert fields.party(event, "destinationList").canonical == "https://id.gs1.org/417/0614141000029"
    assert fields.party({"sourceList": [{"type": "owning_party", "source": owner}]}, "sourceList") is not None
    assert fields.party({"destinationList": [{"type": "other", "destination": owner}]}, "destinationList") is None
    assert fields.party({}, "destinationList") is None


# ------------------------------------------------------------------------------------------ values


def test_ilmd_attributes_are_found_under_any_prefix():
    assert fields.ilmd({"ilmd": {"cbvmda:lotNumber": "L1"}}, "lotNumber") == "L1"
    assert fields.ilmd({"ilmd": {"https://ref.gs1.org/cbv/mda#lotNumber": "L2"}}, "lotNumber") == "L2"
    assert fields.ilmd({"ilmd": {"lotNumber": "L3"}}, "lotNumber") == "L3"
    assert fields.ilmd({"ilmd": {"cbvmda:lotNumberX": "no"}}, "lotNumber") is None
    assert fields.ilmd({"ilmd": "L4"}, "lotNumber") is None


@pytest.mark.parametrize(
    ("text", "utc"),
    [
        ("2026-03-01T10:00:00+08:00", datetime(2026, 3, 1, 2, tzinfo=UTC)),
        ("2026-03-01t02:00:00z", datetime(2026, 3, 1, 2, tzinfo=UTC)),
        ("2026-12-31T23:59:60Z", datetime(2026, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)),
    ],
)
def test_times_are_read_in_utc(text, utc):
    assert fields.to_utc(text) == utc
    assert fields.to_utc(text).tzinfo is UTC


@pytest.mark.parametrize("text", ["2026-03-01T10:00:00", "yesterday", "2026-02-30T10:00:00Z"])
def test_a_time_without_offset_or_not_a_time_is_refused(text):
    error = _refused("invalid_time", fields.to_utc, text)
    assert repr(text) in error.detail


def test_extension_texts_keep_the_native_limits():
    assert fields.extension_text({"passport:region": "CN-31"}, "region") == "CN-31"
    assert fields.extension_text({}, "channel") is None
    _refused("invalid_extension", fields.extension_text, {"passport:region": "x" * 11}, "region")
    _refused("invalid_extension", fields.extension_text, {"passport:orderRef": 12}, "orderRef")


def test_a_prescription_needs_id_prescriber_and_a_time():
    facts = fields.prescription(
        {"passport:prescription": {"id": "RX1", "prescriber": "Dr Li", "issued_at": "2026-03-01T08:00:00Z"}}
    )
    assert facts is not None and (facts.id, facts.prescriber) == ("RX1", "Dr Li")
    assert facts.issued_at == datetime(2026, 3, 1, 8, tzinfo=UTC)
    assert fields.prescription({}) is None
    for bad in ({"id": "RX1"}, "RX1", {"id": "RX1", "prescriber": "Dr Li", "issued_at": "soon"}):
        _refused("invalid_extension", fields.prescription, {"passport:prescription": bad})


def test_values_longer_than_their_columns_are_refused():
    fields.check_lengths({"ilmd": {"cbvmda:lotNumber": "L" * 20}}, "e1", [])
    error = _refused("value_too_long", fields.check_lengths, {"ilmd": {"cbvmda:lotNumber": "L" * 21}}, "e1", [])
    assert "lotNumber" in error.detail
    _refused("value_too_long", fields.check_lengths, {}, "e" * 501, [])
    _refused("value_too_long", fields.check_lengths, {"readPoint": {"id": "x" * 501}}, "e1", [])
    long_one = [(EpcRole.CHILD, Identifier("urn:x:" + "y" * 500))]
    assert "child identifier" in _refused("value_too_long", fields.check_lengths, {}, "e1", long_one).detail


# ------------------------------------------------------------------------------------------ meanings


def test_a_meaning_has_an_action_exactly_when_it_is_an_action():
    assert Meaning.of(Action.SHIP) == Meaning(MeaningKind.ACTION, Action.SHIP)
    with pytest.raises(ValueError, match="needs"):
        Meaning(MeaningKind.ACTION)
    with pytest.raises(ValueError, match="takes no"):
        Meaning(MeaningKind.RECALL, Action.LOCK)
    assert MeaningKind.NONE == "none"  # stored and compared as the plain word
