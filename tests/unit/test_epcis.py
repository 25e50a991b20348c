"""The pure EPCIS core: canonical identifiers, the custody meaning of events, the CBV 2.0 event hash."""

from __future__ import annotations

import json

import pytest
from epcis_event_hash_generator import hash_generator, json_to_py
from hypothesis import given
from hypothesis import strategies as st
from pyld import jsonld

from app.domain.custody import Action
from app.domain.epcis import NATIVE_AS_EPCIS, bare_word, canonical_identifier, custody_meaning
from app.domain.errors import InvalidCode, InvalidInput
from app.domain.identifiers import CSET82, check_digit
from app.services.epcis.hash import _offline_loader, event_hashes
from tests.epcis_examples import example


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("urn:epc:id:sgtin:0614141.107346.2017", "https://id.gs1.org/01/10614141073464/21/2017"),
        ("https://example.com/01/10614141073464/21/2017", "https://id.gs1.org/01/10614141073464/21/2017"),
        (
            "https://example.com/a/b/01/10614141073464/10/L1/21/2017?17=291231",
            "https://id.gs1.org/01/10614141073464/21/2017",
        ),
        ("urn:epc:id:sgtin:0614141.107346.A%2FB", "https://id.gs1.org/01/10614141073464/21/A%2FB"),
        ("urn:epc:id:sscc:0614141.1234567890", "https://id.gs1.org/00/106141412345678908"),
        ("https://id.gs1.org/00/106141412345678908", "https://id.gs1.org/00/106141412345678908"),
        ("urn:epc:id:sgln:0614141.07346.1234", "https://id.gs1.org/414/0614141073467/254/1234"),
        ("urn:epc:id:sgln:0614141.07346.0", "https://id.gs1.org/414/0614141073467"),
        ("urn:epc:id:pgln:0614141.00001", "https://id.gs1.org/417/0614141000012"),
        ("urn:epc:class:lgtin:4012345.012345.998877", "https://id.gs1.org/01/04012345123456/10/998877"),
        ("https://id.gs1.org/01/04012345666663", "https://id.gs1.org/01/04012345666663"),
        ("urn:epc:id:grai:0614141.12345.400", "urn:epc:id:grai:0614141.12345.400"),
        ("https://example.org/anything", "https://example.org/anything"),
    ],
)
def test_canonical_identifiers(text, canonical):
    assert canonical_identifier(text).canonical == canonical


@pytest.mark.parametrize(
    "text",
    [
        "https://id.gs1.org/01/10614141073465/21/2017",  # GTIN check digit
        "https://id.gs1.org/00/106141412345678909",  # SSCC check digit
        "https://id.gs1.org/414/0614141073468",  # GLN check digit
        "urn:epc:id:sgtin:0614141.10734.2017",  # 12 digits, not 13
        "urn:epc:id:sgtin:06141X1.107346.2017",
    ],
)
def test_malformed_gs1_identifiers_are_errors_not_second_identities(text):
    with pytest.raises(InvalidCode):
        canonical_identifier(text)


@given(
    prefix_len=st.integers(6, 12),
    digits=st.text("0123456789", min_size=13, max_size=13),
    serial=st.text(sorted(CSET82 - {"%"}), min_size=1, max_size=20),
)
def test_a_urn_and_a_digital_link_of_the_same_unit_are_one_identifier(prefix_len, digits, serial):
    indicator, prefix, item = digits[0], digits[1 : 1 + prefix_len], digits[1 + prefix_len :]
    gtin = indicator + prefix + item[: 12 - prefix_len]
    gtin = gtin[:13] + check_digit(gtin[:13])
    from urllib.parse import quote

    urn = f"urn:epc:id:sgtin:{prefix}.{indicator}{item[: 12 - prefix_len]}.{quote(serial, safe='')}"
    link = f"https://brand.example/01/{gtin}/21/{quote(serial, safe='')}"
    a, b = canonical_identifier(urn), canonical_identifier(link)
    assert a == b
    assert (a.gtin, a.serial) == (gtin, serial)


def test_bare_words():
    assert bare_word("https://ref.gs1.org/cbv/BizStep-shipping") == "shipping"
    assert bare_word("urn:epcglobal:cbv:disp:in_transit") == "in_transit"
    assert bare_word("shipping") == "shipping"
    assert bare_word(None) is None


@pytest.mark.parametrize(
    ("event", "kind", "action"),
    [
        ({"type": "ObjectEvent", "action": "ADD", "bizStep": "commissioning"}, "commission", None),
        ({"type": "ObjectEvent", "action": "OBSERVE", "bizStep": "shipping"}, "action", Action.SHIP),
        ({"type": "ObjectEvent", "action": "OBSERVE", "bizStep": "receiving"}, "action", Action.RECEIVE),
        (
            {"type": "ObjectEvent", "action": "OBSERVE", "bizStep": "receiving", "disposition": "returned"},
            "action",
            Action.RETURN,
        ),
        ({"type": "ObjectEvent", "action": "OBSERVE", "bizStep": "retail_selling"}, "action", Action.SELL),
        ({"type": "ObjectEvent", "action": "OBSERVE", "bizStep": "dispensing"}, "action", Action.DISPENSE),
        ({"type": "ObjectEvent", "action": "DELETE", "bizStep": "destroying"}, "action", Action.DESTROY),
        ({"type": "ObjectEvent", "action": "DELETE", "bizStep": "decommissioning"}, "action", Action.DESTROY),
        ({"type": "ObjectEvent", "action": "OBSERVE", "disposition": "stolen"}, "action", Action.REPORT_STOLEN),
        ({"type": "ObjectEvent", "action": "OBSERVE", "disposition": "recalled"}, "recall", None),
        (
            {"type": "ObjectEvent", "action": "OBSERVE", "bizStep": "holding", "disposition": "non_sellable_other"},
            "action",
            Action.LOCK,
        ),
        ({"type": "ObjectEvent", "action": "OBSERVE", "bizStep": "holding"}, "none", None),
        (
            {"type": "ObjectEvent", "action": "OBSERVE", "bizStep": "holding", "disposition": "sellable_accessible"},
            "action",
            Action.UNLOCK,
        ),
        (
            {"type": "ObjectEvent", "action": "OBSERVE", "bizStep": "shipping", "disposition": "recalled"},
            "action",
            Action.SHIP,
        ),
        ({"type": "ObjectEvent", "action": "OBSERVE", "bizStep": "holding", "disposition": "recalled"}, "recall", None),
        ({"type": "ObjectEvent", "action": "OBSERVE", "bizStep": "inspecting"}, "none", None),
        ({"type": "ObjectEvent", "action": "OBSERVE", "bizStep": "sensor_reporting"}, "none", None),
        ({"type": "AggregationEvent", "action": "ADD", "bizStep": "packing"}, "action", Action.PACK),
        ({"type": "AggregationEvent", "action": "DELETE"}, "action", Action.UNPACK),
        ({"type": "AggregationEvent", "action": "OBSERVE"}, "none", None),
        ({"type": "TransformationEvent"}, "none", None),
        ({"type": "TransactionEvent", "action": "ADD", "bizStep": "shipping"}, "none", None),
        ({"type": "AssociationEvent", "action": "ADD"}, "none", None),
        (
            {"type": "ObjectEvent", "action": "OBSERVE", "bizStep": "https://ref.gs1.org/cbv/BizStep-shipping"},
            "action",
            Action.SHIP,
        ),
    ],
)
def test_custody_meaning(event, kind, action):
    meaning = custody_meaning(event)
    assert (meaning.kind, meaning.action) == (kind, action)


def test_every_native_action_has_an_epcis_form_and_comes_back_as_itself():
    assert set(NATIVE_AS_EPCIS) == {a.value for a in Action}
    for native in (
        "pack",
        "unpack",
        "ship",
        "receive",
        "sell",
        "dispense",
        "return",
        "destroy",
        "lock",
        "unlock",
        "report_stolen",
    ):
        event_type, action, biz_step, disposition = NATIVE_AS_EPCIS[native]
        event = {"type": event_type, "action": action, "bizStep": biz_step, "disposition": disposition}
        assert custody_meaning(event).action == Action(native)


def _reference(document: dict) -> list[str]:
    """The library called directly (with the bundled context), none of the wrapper's preparation."""
    previous = jsonld.get_document_loader()
    jsonld.set_document_loader(_offline_loader)
    try:
        return hash_generator.epcis_hashes_from_events(json_to_py.event_list_from_epcis_document_json(document))
    finally:
        jsonld.set_document_loader(previous)


@pytest.mark.parametrize("name", ["Example_9.6.1-ObjectEvent.jsonld", "Example_9.6.3-AggregationEvent.jsonld"])
def test_event_hashes_are_the_reference_implementations(name):
    document = json.loads(example(name).read_text())
    assert event_hashes(document) == _reference(json.loads(example(name).read_text()))
    assert all(h.startswith("ni:///sha-256;") and h.endswith("?ver=CBV2.0") for h in event_hashes(document))


def test_a_protected_term_redefined_inline_does_not_stop_the_hash():
    document = json.loads(example("transformation_event_all_possible_fields.jsonld").read_text())
    assert len(event_hashes(document)) == 1


def test_sub_millisecond_times_round_with_their_carry():
    def doc(time: str) -> dict:
        event = {
            "type": "ObjectEvent",
            "eventTime": time,
            "eventTimeZoneOffset": "+00:00",
            "action": "OBSERVE",
            "epcList": ["urn:epc:id:sgtin:0614141.107346.2017"],
        }
        return {
            "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
            "type": "EPCISDocument",
            "epcisBody": {"eventList": [event]},
        }

    assert event_hashes(doc("2026-01-01T23:59:59.9996Z")) == event_hashes(doc("2026-01-02T00:00:00.000Z"))
    assert event_hashes(doc("2026-01-01T10:00:00.0004+02:00")) == event_hashes(doc("2026-01-01T08:00:00Z"))


def test_remote_contexts_are_never_fetched():
    document = json.loads(example("Example_9.6.1-ObjectEvent.jsonld").read_text())
    document["@context"] = [*document["@context"], "https://contexts.example.com/mine.jsonld"]
    with pytest.raises(InvalidInput, match="is not fetched"):
        event_hashes(document)
