"""parse_request parameter by parameter: names, defaults and refusal texts (issue 21, mutation testing)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.domain.epcis_fields import EpcRole
from app.domain.epcis_query import Position, Query, Source, encode_token, native_actions, parse_request
from app.domain.errors import InvalidInput

# A hand-written twin of the sorted SUPPORTED parameters, as the refusals list them.
SUPPORTED_TEXT = (
    "EQ_action, EQ_bizLocation, EQ_bizRules, EQ_bizStep, EQ_booleanValue, EQ_chemicalSubstance, "
    "EQ_correctiveEventID, EQ_dataProcessingMethod, EQ_deviceID, EQ_disposition, EQ_errorReason, EQ_eventID, "
    "EQ_hexBinaryValue, EQ_microorganism, EQ_persistentDisposition_set, EQ_persistentDisposition_unset, "
    "EQ_readPoint, EQ_stringValue, EQ_transformationID, EQ_type, EQ_uriValue, EXISTS_errorDeclaration, "
    "EXISTS_sensorElementList, GE_endTime, GE_errorDeclarationTime, GE_eventTime, GE_percRank, GE_recordTime, "
    "GE_startTime, GE_time, GT_percRank, LE_percRank, LT_endTime, LT_errorDeclarationTime, LT_eventTime, "
    "LT_percRank, LT_recordTime, LT_startTime, LT_time, MATCH_anyEPC, MATCH_anyEPCClass, MATCH_epc, "
    "MATCH_epcClass, MATCH_inputEPC, MATCH_inputEPCClass, MATCH_outputEPC, MATCH_outputEPCClass, MATCH_parentID, "
    "WD_bizLocation, WD_readPoint, eventCountLimit, eventType, maxEventCount, nextPageToken, orderBy, "
    "orderDirection, perPage, "
    # the families of names (epcis_filters.FAMILIES)
    "EQ_|GT_|GE_|LT_|LE_quantity[_<UOM>], "
    "EQ_|GT_|GE_|LT_|LE_<value|minValue|maxValue|meanValue|sDev|percValue>_<UOM>, "
    "EQ_bizTransaction_<type>, EQ_source_<type>, EQ_destination_<type>, "
    "EQ_|GT_|GE_|LT_|LE_|EXISTS_[INNER_][ILMD_|ERROR_DECLARATION_|SENSORELEMENT_|SENSORMETADATA_|SENSORREPORT_]"
    "<prefix:field>, EQ_[INNER_]readPoint_|bizLocation_<prefix:field>"
)
BAD_GTIN = "https://id.gs1.org/01/10614141073465/21/1"  # wrong check digit
SGLN = "urn:epc:id:sgln:0614141.07346.0"
GLN_URI = "https://id.gs1.org/414/0614141073467"


def refusal(params: list[tuple[str, str]], code: str = "invalid_query_parameter") -> str:
    with pytest.raises(InvalidInput) as caught:
        parse_request(params)
    assert caught.value.code == code, caught.value.detail
    return caught.value.detail


def test_a_repeated_parameter_is_refused_with_the_whole_text() -> None:
    assert refusal([("perPage", "1"), ("perPage", "2")]) == (
        "perPage is given twice; give it once, several values separated by '|'"
    )


def test_an_unknown_parameter_lists_every_supported_one() -> None:
    assert refusal([("colour", "red")]) == f"unknown query parameter 'colour'; supported: {SUPPORTED_TEXT}"


@pytest.mark.parametrize("name", ["EXISTS_noPrefix", "EQ_myField", "GT_readPoint_example:f"])
def test_a_standard_parameter_not_evaluated_lists_every_supported_one(name: str) -> None:
    assert refusal([(name, "x")], code="unsupported_query_parameter") == (
        f"{name} is not a query parameter this repository evaluates; supported: {SUPPORTED_TEXT}"
    )


def test_every_absent_filter_is_none_not_empty() -> None:
    query = parse_request([("perPage", "3")]).query
    assert query.event_types is None
    assert query.actions is None
    assert query.biz_steps is None
    assert query.dispositions is None
    assert query.read_points is None
    assert query.biz_locations is None
    assert query.event_ids is None
    assert query.times == {}
    assert query.matches == ()
    assert query.error_declarations_only is False


@pytest.mark.parametrize(
    ("name", "raw", "field", "expected"),
    [
        ("eventType", "AggregationEvent", "event_types", frozenset({"AggregationEvent"})),
        ("EQ_action", "OBSERVE", "actions", frozenset({"OBSERVE"})),
        ("EQ_bizStep", "receiving", "biz_steps", frozenset({"receiving"})),
        ("EQ_disposition", "sellable_accessible", "dispositions", frozenset({"sellable_accessible"})),
        ("EQ_readPoint", SGLN, "read_points", frozenset({GLN_URI})),
        ("EQ_eventID", "urn:uuid:1|e2", "event_ids", frozenset({"urn:uuid:1", "e2"})),
    ],
)
def test_each_list_filter_lands_in_its_field(name: str, raw: str, field: str, expected: frozenset[str]) -> None:
    assert getattr(parse_request([(name, raw)]).query, field) == expected


def test_biz_locations_are_canonical_identifiers() -> None:
    (location,) = parse_request([("EQ_bizLocation", SGLN)]).query.biz_locations or ()
    assert (location.canonical, location.gln) == (GLN_URI, "0614141073467")


@pytest.mark.parametrize("name", ["GE_eventTime", "LT_eventTime", "GE_recordTime", "LT_recordTime"])
def test_each_time_lands_under_its_own_name(name: str) -> None:
    times = parse_request([(name, "2026-03-01T08:00:00Z")]).query.times
    assert times == {name: datetime(2026, 3, 1, 8, tzinfo=UTC)}


@pytest.mark.parametrize(
    ("name", "roles"),
    [
        ("MATCH_epc", (EpcRole.EPC, EpcRole.CHILD)),
        ("MATCH_parentID", (EpcRole.PARENT,)),
        ("MATCH_inputEPC", (EpcRole.INPUT,)),
        ("MATCH_outputEPC", (EpcRole.OUTPUT,)),
        ("MATCH_anyEPC", (EpcRole.EPC, EpcRole.CHILD, EpcRole.PARENT, EpcRole.INPUT, EpcRole.OUTPUT)),
        ("MATCH_anyEPCClass", (EpcRole.CLASS,)),
    ],
)
def test_each_match_parameter_looks_at_its_roles(name: str, roles: tuple[EpcRole, ...]) -> None:
    (match,) = parse_request([(name, SGLN)]).query.matches
    assert match.roles == roles
    assert [i.canonical for i in match.identifiers] == [GLN_URI]


def test_two_match_parameters_give_two_matches_in_table_order() -> None:
    matches = parse_request([("MATCH_anyEPC", SGLN), ("MATCH_epc", SGLN)]).query.matches
    assert [m.roles[-1] for m in matches] == [EpcRole.CHILD, EpcRole.OUTPUT]


@pytest.mark.parametrize(
    ("params", "detail"),
    [
        ([("eventType", "A|")], "eventType: empty value in 'A|' (several values are separated by '|')"),
        ([("EQ_action", " |ADD")], "EQ_action: empty value in ' |ADD' (several values are separated by '|')"),
        (
            [("EQ_bizStep", "teleporting")],
            "EQ_bizStep: 'teleporting' is not a CBV business step; a custom value must be a URI or CURIE",
        ),
        (
            [("EQ_disposition", "lost")],
            "EQ_disposition: 'lost' is not a CBV disposition; a custom value must be a URI or CURIE",
        ),
        ([("EQ_readPoint", "a||b")], "EQ_readPoint: empty value in 'a||b' (several values are separated by '|')"),
        ([("EQ_bizLocation", "|")], "EQ_bizLocation: empty value in '|' (several values are separated by '|')"),
        ([("EQ_eventID", "e1|")], "EQ_eventID: empty value in 'e1|' (several values are separated by '|')"),
        ([("EXISTS_errorDeclaration", "yes")], "EXISTS_errorDeclaration: 'yes' is not true or false"),
        ([("perPage", "-1")], "perPage: '-1' is not a positive integer"),
        ([("LT_eventTime", "soon")], "LT_eventTime: 'soon' is not an RFC 3339 date-time"),
    ],
)
def test_each_parameter_is_named_in_its_refusal(params: list[tuple[str, str]], detail: str) -> None:
    assert refusal(params) == detail


@pytest.mark.parametrize("name", ["EQ_readPoint", "EQ_bizLocation", "MATCH_parentID"])
def test_a_bad_identifier_is_refused_under_its_parameter(name: str) -> None:
    assert refusal([(name, BAD_GTIN)]).startswith(f"{name}: ")


@pytest.mark.parametrize(("raw", "expected"), [("true", True), (" TRUE ", True), ("false", False), ("False", False)])
def test_error_declarations_only_reads_true_and_false(raw: str, expected: bool) -> None:
    assert parse_request([("EXISTS_errorDeclaration", raw)]).query.error_declarations_only is expected


@pytest.mark.parametrize(("raw", "expected"), [("1", 1), ("30", 30), ("999", 999), ("1000", 1000), ("1001", 1000)])
def test_per_page_is_read_and_capped(raw: str, expected: int) -> None:
    assert parse_request([("perPage", raw)]).per_page == expected


def test_no_per_page_is_thirty_and_no_token_is_no_position() -> None:
    request = parse_request([("EQ_action", "ADD")])
    assert (request.per_page, request.after) == (30, None)


def test_the_fingerprint_ignores_the_page_parameters_only() -> None:
    plain = parse_request([("EQ_action", "ADD")]).fingerprint
    assert parse_request([("perPage", "7"), ("EQ_action", "ADD")]).fingerprint == plain
    assert parse_request([("EQ_action", "DELETE")]).fingerprint != plain
    assert len(plain) == 16


def test_a_token_is_decoded_against_this_requests_filters() -> None:
    when = datetime(2026, 3, 1, 8, tzinfo=UTC)
    fingerprint = parse_request([("EQ_eventID", "e1")]).fingerprint
    token = encode_token(Position(when, Source.CAPTURED, 9), fingerprint)
    request = parse_request([("EQ_eventID", "e1"), ("nextPageToken", token)])
    assert request.after == Position(when, Source.CAPTURED, 9)
    assert request.fingerprint == fingerprint
    assert refusal([("EQ_eventID", "e2"), ("nextPageToken", token)]) == (
        "nextPageToken: the token belongs to a query with other filters; repeat the same parameters"
    )


def test_an_unsupported_pattern_is_refused_with_the_whole_text() -> None:
    assert refusal([("MATCH_epc", "urn:epc:idpat:sscc:0614141.*")]) == (
        "MATCH_epc: pattern 'urn:epc:idpat:sscc:0614141.*' is not supported; use an identifier or "
        "urn:epc:idpat:sgtin:<company prefix>.<item reference>.*"
    )


def test_a_class_pattern_is_kept_as_itself_and_as_its_gtin() -> None:
    (match,) = parse_request([("MATCH_anyEPCClass", "urn:epc:idpat:sgtin:0614141.107346.*")]).query.matches
    assert [i.canonical for i in match.identifiers] == ["urn:epc:idpat:sgtin:0614141.107346.*"]
    assert match.gtins == ("10614141073464",)


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"event_types": frozenset({"ObjectEvent"})}, 13),  # pack and unpack are skipped, the rest kept
        ({"actions": frozenset({"DELETE"})}, ["unpack", "destroy", "recycle"]),
        ({"biz_steps": frozenset({"destroying"})}, ["destroy", "recycle"]),
        ({"dispositions": frozenset({"in_transit"})}, ["ship", "export"]),
    ],
)
def test_a_filtered_out_action_does_not_stop_the_others(filters: dict[str, frozenset[str]], expected: object) -> None:
    found = native_actions(Query(**filters))  # type: ignore[arg-type]
    if isinstance(expected, int):
        assert len(found) == expected and found[0] == "ship" and found[-1] == "undo"
    else:
        assert found == expected


@pytest.mark.parametrize(
    ("params", "detail"),
    [
        ([("MATCH_epc", "a|")], "MATCH_epc: empty value in 'a|' (several values are separated by '|')"),
        ([("EQ_bizStep", "|")], "EQ_bizStep: empty value in '|' (several values are separated by '|')"),
        (
            [("MATCH_inputEPC", "urn:epc:idpat:sgtin:1.2.*")],
            "MATCH_inputEPC: urn:epc:id:sgtin:1.2.0: company prefix and item reference must have 13 digits together",
        ),
    ],
)
def test_match_and_vocabulary_refusals_name_their_parameter(params: list[tuple[str, str]], detail: str) -> None:
    assert refusal(params) == detail


def test_times_and_token_positions_are_in_utc_itself() -> None:
    times = parse_request([("GE_eventTime", "2026-03-01T16:00:00+08:00")]).query.times
    assert times["GE_eventTime"].tzinfo is UTC
    fingerprint = parse_request([]).fingerprint
    token = encode_token(Position(datetime(2026, 3, 1, 8, tzinfo=UTC), Source.NATIVE, 1), fingerprint)
    after = parse_request([("nextPageToken", token)]).after
    assert after is not None and after.key.tzinfo is UTC
