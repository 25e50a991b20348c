"""The EPCIS query parameters, page tokens and query document (app/domain/epcis_query.py): no database, no HTTP."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest

from app.domain.epcis import EPCIS_CONTEXT_URLS
from app.domain.epcis_fields import EpcRole
from app.domain.epcis_query import (
    PER_PAGE_DEFAULT,
    PER_PAGE_MAX,
    Position,
    Query,
    Source,
    decode_token,
    encode_token,
    native_actions,
    native_event_uri,
    native_ids,
    parse_request,
    query_document,
)
from app.domain.errors import InvalidInput

BASE = "https://passport.example"
T0 = datetime(2026, 3, 1, 8, tzinfo=UTC)


def _refused(params: list[tuple[str, str]], code: str = "invalid_query_parameter") -> str:
    with pytest.raises(InvalidInput) as caught:
        parse_request(params)
    assert caught.value.code == code, caught.value.detail
    return caught.value.detail


def test_no_parameters_ask_for_everything_a_default_page_at_a_time():
    request = parse_request([])
    assert request.query == Query()
    assert (request.per_page, request.after) == (PER_PAGE_DEFAULT, None)


def test_parameters_become_the_query():
    request = parse_request(
        [
            ("eventType", "ObjectEvent|https://example.com/MyEvent"),
            ("GE_eventTime", "2026-03-01T16:00:00+08:00"),
            ("EQ_action", "ADD|DELETE"),
            ("EQ_bizStep", "urn:epcglobal:cbv:bizstep:shipping|https://example.com/steps/mine"),
            ("EQ_disposition", "https://ref.gs1.org/cbv/Disp-in_transit"),
            ("EQ_readPoint", "urn:epc:id:sgln:0614141.07346.0"),
            ("MATCH_epc", "urn:epc:id:sgtin:0614141.107346.2017|urn:epc:idpat:sgtin:0614141.107346.*"),
            ("EQ_eventID", "e1|e2"),
            ("EXISTS_errorDeclaration", "true"),
            ("perPage", "5000"),
        ]
    )
    query = request.query
    assert query.event_types == {"ObjectEvent", "https://example.com/MyEvent"}
    assert query.times == {"GE_eventTime": T0}
    assert query.actions == {"ADD", "DELETE"}
    assert query.biz_steps == {"shipping", "https://example.com/steps/mine"}
    assert query.dispositions == {"in_transit"}
    assert query.read_points == {"https://id.gs1.org/414/0614141073467"}
    (match,) = query.matches
    assert match.roles == (EpcRole.EPC, EpcRole.CHILD)
    assert match.identifiers[0].canonical == "https://id.gs1.org/01/10614141073464/21/2017"
    assert match.gtins == ("10614141073464",)
    assert query.event_ids == {"e1", "e2"}
    assert query.error_declarations_only is True
    assert request.per_page == PER_PAGE_MAX


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ([("colour", "red")], "unknown query parameter 'colour'"),
        ([("EQ_action", "ADD"), ("EQ_action", "DELETE")], "given twice"),
        ([("EQ_action", "ADD|")], "empty value"),
        ([("EQ_action", "MOVE")], "not ADD, OBSERVE or DELETE"),
        ([("eventType", "Thing")], "nor an extension type URI"),
        ([("GE_eventTime", "2026-03-01T08:00:00")], "no time zone"),
        ([("LT_recordTime", "soon")], "not an RFC 3339 date-time"),
        ([("EQ_bizStep", "teleporting")], "not a CBV business step"),
        ([("EQ_disposition", "lost")], "not a CBV disposition"),
        ([("MATCH_epc", "urn:epc:idpat:sscc:0614141.*")], "is not supported"),
        ([("MATCH_anyEPC", "https://id.gs1.org/01/10614141073465/21/1")], "MATCH_anyEPC:"),
        ([("perPage", "0")], "not a positive integer"),
        ([("perPage", "١٢")], "not a positive integer"),
        ([("EXISTS_errorDeclaration", "yes")], "not true or false"),
    ],
)
def test_a_wrong_parameter_is_refused_saying_what_is_wrong(params, says):
    assert says in _refused(params)


@pytest.mark.parametrize("name", ["EQ_myField", "WD_somewhere", "MATCH_epcClassic", "GT_INNER_bizLocation_ex:f"])
def test_a_filter_passport_does_not_evaluate_is_refused_not_ignored(name):
    detail = _refused([(name, "x")], code="unsupported_query_parameter")
    assert "supported: " in detail and "MATCH_epc" in detail


def test_false_means_no_error_declaration_filter():
    assert parse_request([("EXISTS_errorDeclaration", "FALSE")]).query.error_declarations_only is False


# ------------------------------------------------------------------------------------------ tokens


def test_a_token_continues_only_the_query_that_made_it():
    filters = [("EQ_action", "ADD")]
    first = parse_request([*filters, ("perPage", "2")])
    token = encode_token(Position(T0, Source.NATIVE, 42), first.fingerprint)
    after = parse_request([*filters, ("perPage", "5"), ("nextPageToken", token)]).after
    assert after == Position(T0, Source.NATIVE, 42)
    assert after is not None and after.source is Source.NATIVE
    assert "other filters" in _refused([("EQ_action", "DELETE"), ("nextPageToken", token)])


@pytest.mark.parametrize(
    "token",
    [
        "not-a-token",
        "eyJ0IjoiMjAyNiJ9",  # {"t":"2026"}: no source, no row
        encode_token(Position(T0, Source.CAPTURED, 1), "f").replace("Ij", "Ik", 1),
    ],
)
def test_a_token_this_service_did_not_issue_is_refused(token):
    with pytest.raises(InvalidInput, match="not a token this service issued"):
        decode_token(token, "f")


@pytest.mark.parametrize(("source", "row"), [(2, 1), (-1, 1), (0, 2**63), (1, -1)])
def test_a_token_naming_an_unknown_source_or_row_is_refused(source, row):
    body = {"t": T0.isoformat(), "s": source, "i": row, "q": "f"}
    token = base64.urlsafe_b64encode(json.dumps(body).encode()).decode().rstrip("=")
    with pytest.raises(InvalidInput, match="not a token this service issued"):
        decode_token(token, "f")


# ------------------------------------------------------------------------------------------ native events


def test_native_actions_are_those_whose_epcis_form_passes_the_filters():
    assert native_actions(Query(biz_steps=frozenset({"shipping"}))) == ["ship"]
    assert native_actions(Query(biz_steps=frozenset({"receiving"}), dispositions=frozenset({"returned"}))) == ["return"]
    assert native_actions(Query(event_types=frozenset({"AggregationEvent"}), actions=frozenset({"ADD"}))) == ["pack"]
    assert native_actions(Query(event_types=frozenset({"TransformationEvent"}))) == []
    assert "undo" not in native_actions(Query(dispositions=frozenset({"in_progress"})))


def test_native_event_ids_are_this_services_event_uris_only():
    ids = [native_event_uri(BASE, 7), f"{BASE}/v1/events/0", f"{BASE}/v1/events/7/x", "https://other/v1/events/8"]
    assert native_ids(BASE, [*ids, native_event_uri(BASE, 3)]) == [3, 7]


# ------------------------------------------------------------------------------------------ the document


def test_the_query_document_merges_inline_contexts_unless_they_clash():
    mine = {"ex": "https://example.com/a#"}
    clash = {"ex": "https://example.com/b#"}
    events = [{"type": "ObjectEvent", "eventID": "1"}, {"type": "ObjectEvent", "eventID": "2"}, {"eventID": "3"}]
    document = query_document(events, [[EPCIS_CONTEXT_URLS[0], mine], [clash], None], base_url=BASE, now=T0)
    assert document["@context"] == [EPCIS_CONTEXT_URLS[0], {"passport": f"{BASE}/epcis/vocab#", **mine}]
    listed = document["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    assert listed[0] == events[0] and listed[2] == events[2]
    assert listed[1] == {"@context": [clash], **events[1]}
    assert document["creationDate"] == "2026-03-01T08:00:00Z"
    assert document["type"] == "EPCISQueryDocument"
