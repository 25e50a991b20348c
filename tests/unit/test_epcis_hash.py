"""The CBV 2.0 event hash adapter against GS1's reference implementation, and the JSON-LD it must not fail on:
``@context`` term definitions (objects), keywords, aliases, event-level contexts."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from epcis_event_hash_generator import hash_generator, json_to_py
from pyld import jsonld

from app.domain.errors import InvalidInput
from app.services.epcis.hash import _offline_loader, event_hashes
from tests.epcis_examples import capture_document, example_files, without_redefined_standard_terms

EPCIS = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
NS = "http://ns.example.com/epcis/"


def _reference(document: dict[str, Any]) -> list[str]:
    """The library called directly (with the bundled context), none of the wrapper's preparation."""
    json_to_py._namespaces = {}
    previous = jsonld.get_document_loader()
    jsonld.set_document_loader(_offline_loader)
    try:
        return list(hash_generator.epcis_hashes_from_events(json_to_py.event_list_from_epcis_document_json(document)))
    finally:
        jsonld.set_document_loader(previous)


@pytest.mark.parametrize("path", example_files(), ids=[p.name for p in example_files()])
def test_every_shipped_example_hashes_as_the_reference_implementation(path):
    document = capture_document(json.loads(path.read_text()))
    ours = event_hashes(copy.deepcopy(document))
    reference = _reference(without_redefined_standard_terms(copy.deepcopy(document)))
    assert ours == reference
    assert len(ours) == len(document["epcisBody"]["eventList"])


def test_the_reference_implementation_fails_where_the_adapter_does_not():
    """The bug this adapter exists for: a term definition object makes the library concatenate a dict."""
    document = _document(_event(**{"example:temp": 5}), {"example": NS, "example:temp": {"@type": "xsd:integer"}})
    with pytest.raises(TypeError, match="concatenate"):
        _reference(copy.deepcopy(document))
    assert len(event_hashes(document)) == 1


def _event(**extra: Any) -> dict[str, Any]:
    return {
        "type": "ObjectEvent",
        "eventTime": "2020-01-01T10:00:00.000Z",
        "eventTimeZoneOffset": "+00:00",
        "epcList": ["urn:epc:id:sgtin:0614141.107346.2017"],
        "action": "OBSERVE",
        "bizStep": "shipping",
        **extra,
    }


def _document(event: dict[str, Any], *inline: Any) -> dict[str, Any]:
    return {
        "@context": [EPCIS, *inline],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2020-01-01T10:00:00Z",
        "epcisBody": {"eventList": [event]},
    }


def _hash(event: dict[str, Any], *inline: Any) -> str:
    return event_hashes(_document(event, *inline))[0]


PLAIN = _hash(_event(**{"example:temp": 5, "example:ref": "https://example.com/x"}), {"example": NS})


@pytest.mark.parametrize(
    "inline",
    [
        # type coercions change no name
        {"example": NS, "xsd": "http://www.w3.org/2001/XMLSchema#", "example:temp": {"@type": "xsd:integer"}},
        {"example": NS, "example:ref": {"@type": "@id"}},
        # a prefix written as an object
        {"example": {"@id": NS}},
        {"example": {"@id": NS, "@prefix": True}, "unused": None},
        # keywords are not prefixes
        {"@version": 1.1, "@protected": True, "example": NS},
        {"@vocab": "https://vocab.example.com/", "example": NS},
    ],
)
def test_context_term_definitions_change_no_hash(inline):
    assert _hash(_event(**{"example:temp": 5, "example:ref": "https://example.com/x"}), inline) == PLAIN


def test_another_namespace_is_another_hash():
    other = {"example": {"@id": "http://ns.example.com/other/", "@prefix": True}}
    assert _hash(_event(**{"example:temp": 5, "example:ref": "https://example.com/x"}), other) != PLAIN


def test_an_alias_hashes_as_the_field_it_stands_for():
    aliased = {"example": NS, "temp": {"@id": "example:temp", "@type": "xsd:integer"}, "ref": f"{NS}ref"}
    assert _hash(_event(temp=5, **{"example:ref": "https://example.com/x"}), aliased) == PLAIN
    absolute = {"example": NS, "temp": {"@id": f"{NS}temp"}}
    assert _hash(_event(temp=5, **{"example:ref": "https://example.com/x"}), absolute) == PLAIN
    # the same alias in another namespace is another field
    elsewhere = {"example": NS, "temp": {"@id": "https://other.example.org/ns/temp"}}
    assert _hash(_event(temp=5, **{"example:ref": "https://example.com/x"}), elsewhere) != PLAIN


def test_an_alias_nested_in_an_extension_is_renamed_too():
    nested = {"example": NS, "sub": {"@id": "example:sub"}}
    written = _hash(_event(**{"example:outer": {"example:sub": "1"}}), {"example": NS})
    assert _hash(_event(**{"example:outer": {"sub": "1"}}), nested) == written


def test_an_event_level_context_counts_as_the_documents():
    inner = _event(**{"@context": [{"example": NS}], "example:temp": 5, "example:ref": "https://example.com/x"})
    assert _hash(inner) == PLAIN


def test_a_remote_context_is_still_refused_with_a_reason():
    with pytest.raises(InvalidInput, match="is not fetched") as refused:
        _hash(_event(), "https://contexts.example.com/mine.jsonld")
    assert refused.value.code == "remote_context_refused"
