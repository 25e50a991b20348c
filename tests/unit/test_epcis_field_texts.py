"""The refusal texts and limits of the EPCIS capture fields (issue 21, mutation testing): what a client reads when
a header, a document, an extension or a length is wrong."""

from __future__ import annotations

from typing import Any

import pytest

from app.domain.epcis_fields import (
    check_context,
    check_lengths,
    error_behaviour,
    event_list,
    event_problem,
    extension_text,
    prescription,
)
from app.domain.errors import InvalidInput, NotFound


def refusal(call: Any, *args: Any) -> tuple[str, str]:
    with pytest.raises(InvalidInput) as info:
        call(*args)
    return info.value.code, info.value.detail


def test_the_error_behaviour_header() -> None:
    assert error_behaviour(None).value == "rollback"
    assert error_behaviour("").value == "rollback"
    assert error_behaviour(" Proceed ").value == "proceed"
    assert refusal(error_behaviour, "ignore") == (
        "invalid_header",
        "GS1-Capture-Error-Behaviour must be 'rollback' or 'proceed'",
    )


def test_document_refusals() -> None:
    assert refusal(event_list, {"type": "EPCISDocument"}) == (
        "invalid_epcis_document",
        "the document has no epcisBody object",
    )
    assert refusal(event_list, {"type": "EPCISDocument", "epcisBody": {"eventList": {}}}) == (
        "invalid_epcis_document",
        "epcisBody.eventList must be an array",
    )


def test_a_remote_context_is_refused_with_the_way_out() -> None:
    assert refusal(check_context, {"@context": ["https://example.com/ctx.jsonld"]}) == (
        "remote_context_refused",
        "remote JSON-LD context https://example.com/ctx.jsonld is not fetched: only the EPCIS 2.0 context is known "
        "here; declare extension prefixes inline in @context",
    )


def test_an_event_problem() -> None:
    problem = event_problem(NotFound("no such thing", code="thing_missing"), 2, {"eventID": "ni:///x"})
    assert problem == {
        "type": "/problems/thing_missing",
        "title": "Not found",
        "detail": "event 2 (ni:///x): no such thing",
        "code": "thing_missing",
        "index": 2,
        "eventID": "ni:///x",
    }


def test_extension_texts_up_to_their_limit() -> None:
    assert extension_text({"passport:platform": "p" * 32}, "platform") == "p" * 32
    assert refusal(extension_text, {"passport:platform": "p" * 33}, "platform") == (
        "invalid_extension",
        "passport:platform must be a string of at most 32 characters",
    )


def test_a_prescription_keeps_100_and_200_characters() -> None:
    facts = prescription(
        {"passport:prescription": {"id": "i" * 150, "prescriber": "p" * 250, "issued_at": "2026-01-02T03:04:05Z"}}
    )
    assert facts is not None
    assert (facts.id, facts.prescriber) == ("i" * 100, "p" * 200)
    assert refusal(prescription, {"passport:prescription": {"id": "x"}}) == (
        "invalid_extension",
        "passport:prescription must be {id, prescriber, issued_at (RFC 3339)}",
    )


@pytest.mark.parametrize(
    ("event", "detail"),
    [
        ({"bizStep": "b" * 501}, "bizStep is longer than 500 characters"),
        ({"disposition": "d" * 501}, "disposition is longer than 500 characters"),
    ],
)
def test_column_lengths(event: dict[str, Any], detail: str) -> None:
    assert refusal(check_lengths, event, "e1", []) == ("value_too_long", detail)
    check_lengths({"bizStep": "b" * 500, "disposition": "d" * 500}, "e" * 500, [])


def test_the_event_id_length() -> None:
    assert refusal(check_lengths, {}, "e" * 501, []) == ("value_too_long", "eventID is longer than 500 characters")
