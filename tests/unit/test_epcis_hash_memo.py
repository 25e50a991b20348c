"""The hash shortcut's per-document memo of properties already expanded (``hash_expansion._Reader.seen``) is keyed
by the event's type as well as the property and its value: a type whose term carries a scoped context changes what
a property's value expands to, so the same text under two types can give two different vocabulary IRIs.

The case built here uses the standard EPCIS context as shipped: ``bizStep`` is a term with a scoped context defining
the business-step words, so a node typed ``bizStep`` expands ``"disposition": "accepting"`` to the BizStep IRI,
where an ``ObjectEvent`` leaves ``accepting`` a relative IRI the vocabulary set does not take. A memo keyed without
the type would skip the second lookup and miss that IRI (and the library's bare-word replacement with it).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
from epcis_event_hash_generator import hash_generator, json_to_py
from pyld import jsonld

from app.domain.epcis import EPCIS_CONTEXT_URLS
from app.services.epcis import hash as adapter
from app.services.epcis import hash_expansion

EPCIS = EPCIS_CONTEXT_URLS[0]
BIZ_STEP_IRI = "https://ref.gs1.org/cbv/BizStep-accepting"


@pytest.fixture
def offline() -> Iterator[None]:
    previous = jsonld.get_document_loader()
    jsonld.set_document_loader(adapter._offline_loader)
    try:
        yield
    finally:
        jsonld.set_document_loader(previous)


def _reader() -> hash_expansion._Reader:
    return hash_expansion._Reader([EPCIS], adapter._standard_context(), adapter._expansion_rules())


def _event(kind: str, **fields: Any) -> dict[str, Any]:
    return {
        "type": kind,
        "eventTime": "2020-01-01T10:00:00.000Z",
        "eventTimeZoneOffset": "+00:00",
        "epcList": ["urn:epc:id:sgtin:0614141.107346.2017"],
        "action": "OBSERVE",
        **fields,
    }


def _document(*events: dict[str, Any]) -> dict[str, Any]:
    return {
        "@context": [EPCIS],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2020-01-01T10:00:00Z",
        "epcisBody": {"eventList": list(events)},
    }


def _prepared(document: dict[str, Any]) -> dict[str, Any]:
    return adapter._milliseconds(adapter._hashable(copy.deepcopy(document)))


def _whole_expansion(document: dict[str, Any]) -> set[str]:
    values: list[str] = []
    json_to_py._find_expanded_values(jsonld.expand(_prepared(document)), values)
    return {v for v in values if v.startswith(hash_expansion.VOCABULARIES)}


def test_the_case_differs_by_type_in_the_expansion_itself(offline):
    """The premise: one property and value, two types, two answers (else the test below proves nothing)."""
    answers = {}
    for kind in ("ObjectEvent", "bizStep"):
        values: list[str] = []
        json_to_py._find_expanded_values(
            jsonld.expand({"@context": [EPCIS], "type": kind, "disposition": "accepting"}), values
        )
        answers[kind] = {v for v in values if v.startswith(hash_expansion.VOCABULARIES)}
    assert answers == {"ObjectEvent": set(), "bizStep": {BIZ_STEP_IRI}}


@pytest.mark.parametrize("kinds", [("ObjectEvent", "bizStep"), ("bizStep", "ObjectEvent")])
def test_one_value_under_two_types_is_looked_up_under_each(offline, kinds):
    reader = _reader()
    for kind in kinds:
        reader.property(kind, "disposition", "accepting")
    assert reader.found == {BIZ_STEP_IRI}
    assert {(kind, "disposition", "accepting") for kind in kinds} <= reader.seen


def test_each_type_gives_its_own_answer_read_alone(offline):
    plain, scoped = _reader(), _reader()
    plain.property("ObjectEvent", "disposition", "accepting")
    scoped.property("bizStep", "disposition", "accepting")
    assert (plain.found, scoped.found) == (set(), {BIZ_STEP_IRI})


def test_the_same_type_property_and_value_are_expanded_once(offline, monkeypatch):
    """What the memo is for; and a third lookup under another type is not taken for a repeat."""
    reader = _reader()
    expanded: list[dict[str, Any]] = []
    real = reader.expand
    monkeypatch.setattr(reader, "expand", lambda node: (expanded.append(node), real(node))[1])
    reader.property("ObjectEvent", "disposition", "accepting")
    reader.property("ObjectEvent", "disposition", "accepting")
    assert expanded == [{"type": "ObjectEvent", "disposition": "accepting"}]
    reader.property("bizStep", "disposition", "accepting")
    assert expanded[1:] == [{"type": "bizStep", "disposition": "accepting"}]
    assert reader.found == {BIZ_STEP_IRI}


def test_a_document_with_the_value_under_both_types_has_the_whole_expansions_set(offline):
    document = _document(
        _event("ObjectEvent", disposition="accepting"),
        _event("bizStep", disposition="accepting"),
    )
    values = hash_expansion.vocabulary_iris(
        _prepared(document), EPCIS, adapter._standard_context(), adapter._expansion_rules()
    )
    assert values == _whole_expansion(document) == {BIZ_STEP_IRI}


def test_the_pre_hash_strings_are_the_librarys(offline):
    """End to end: the first event's bare ``accepting`` is written as the BizStep IRI the second event's type
    gave, as the library's whole-document steps write it."""
    document = _document(
        _event("ObjectEvent", disposition="accepting"),
        _event("bizStep", disposition="accepting"),
    )
    json_to_py._namespaces = {}
    expected = list(
        hash_generator.derive_prehashes_from_events(json_to_py.event_list_from_epcis_document_json(_prepared(document)))
    )
    ours = adapter.pre_hash_strings(copy.deepcopy(document))
    assert ours == expected
    assert ours[0].endswith("disposition=" + BIZ_STEP_IRI)
