"""The EPCIS query's page tokens, refusal texts and document fields (issue 21, mutation testing)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

from app.domain.epcis_query import (
    Position,
    Source,
    _actions,
    _event_types,
    decode_token,
    encode_token,
    query_document,
)
from app.domain.errors import InvalidInput

WHEN = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def refusal(call: object, *args: object) -> str:
    with pytest.raises(InvalidInput) as info:
        call(*args)  # type: ignore[operator]
    assert info.value.code == "invalid_query_parameter"
    return info.value.detail


def test_a_token_is_compact_json_without_padding() -> None:
    token = encode_token(Position(WHEN, Source.NATIVE, 7), "f")
    assert "=" not in token
    assert base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)) == (
        b'{"t":"2026-01-02T03:04:05+00:00","s":1,"i":7,"q":"f"}'
    )


@pytest.mark.parametrize("fingerprint", ["a", "ab", "abc", "abcd", "abcde"])  # every padding length
@pytest.mark.parametrize("row_id", [0, 200, 2**63 - 1])
def test_a_token_decodes_to_its_position(fingerprint: str, row_id: int) -> None:
    position = Position(WHEN, Source.CAPTURED, row_id)
    assert decode_token(encode_token(position, fingerprint), fingerprint) == position


def test_tokens_this_service_did_not_issue_are_refused() -> None:
    out_of_range = encode_token(Position(WHEN, Source.CAPTURED, 2**63), "f")
    for raw in ("!!!", out_of_range, encode_token(Position(WHEN, Source.CAPTURED, -1), "f")):
        assert refusal(decode_token, raw, "f") == "nextPageToken: not a token this service issued"
    other = encode_token(Position(WHEN, Source.CAPTURED, 1), "f")
    assert refusal(decode_token, other, "g") == (
        "nextPageToken: the token belongs to a query with other filters; repeat the same parameters"
    )


def test_event_type_and_action_refusals() -> None:
    assert refusal(_event_types, "Foo") == (
        "eventType: 'Foo' is not one of ObjectEvent, AggregationEvent, TransactionEvent, TransformationEvent, "
        "AssociationEvent nor an extension type URI"
    )
    assert refusal(_event_types, "ObjectEvent|") == (
        "eventType: empty value in 'ObjectEvent|' (several values are separated by '|')"
    )
    assert refusal(_actions, "ADD| ") == "EQ_action: empty value in 'ADD| ' (several values are separated by '|')"


def test_the_query_document_fields() -> None:
    document = query_document([], [], base_url="https://passport.test", now=WHEN)
    assert document["type"] == "EPCISQueryDocument"
    assert document["schemaVersion"] == "2.0"
    assert document["creationDate"] == "2026-01-02T03:04:05Z"
    assert document["epcisBody"] == {
        "queryResults": {"queryName": "SimpleEventQuery", "resultsBody": {"eventList": []}}
    }


def test_remote_contexts_of_events_are_listed_once() -> None:
    url = "https://example.com/ctx.jsonld"
    document = query_document([{}, {}], [[url], [url]], base_url="https://passport.test", now=WHEN)
    assert document["@context"][1:-1] == [url]
