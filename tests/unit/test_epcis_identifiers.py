"""EPCIS identifiers and custody meaning, pinned one rule at a time: each EPC URN scheme and each Digital Link key
with its refusal texts (the TDS 2.1 examples: GTIN 10614141073464, SSCC 106141412345678908, GLN 0614141123452,
LGTIN 04012345123456), the CBV word forms, and every branch of ``custody_meaning`` with its reason."""

from __future__ import annotations

import pytest

from app.domain.custody import Action
from app.domain.epcis import Identifier, Meaning, MeaningKind, bare_word, canonical_identifier, custody_meaning
from app.domain.errors import InvalidCode

URN_SGTIN = "urn:epc:id:sgtin:0614141.107346.2017"


def refused(text: str) -> str:
    with pytest.raises(InvalidCode) as info:
        canonical_identifier(text)
    return info.value.detail


@pytest.mark.parametrize(
    ("text", "identifier"),
    [
        (
            URN_SGTIN,
            Identifier("https://id.gs1.org/01/10614141073464/21/2017", gtin="10614141073464", serial="2017"),
        ),
        (  # a serial may hold dots: only the first two split
            "urn:epc:id:sgtin:0614141.107346.20.17",
            Identifier("https://id.gs1.org/01/10614141073464/21/20.17", gtin="10614141073464", serial="20.17"),
        ),
        (
            "urn:epc:id:sscc:0614141.1234567890",
            Identifier("https://id.gs1.org/00/106141412345678908", sscc="106141412345678908"),
        ),
        (
            "urn:epc:id:sgln:0614141.12345.400",
            Identifier("https://id.gs1.org/414/0614141123452/254/400", gln="0614141123452"),
        ),
        (  # extension 0: the location itself
            "urn:epc:id:sgln:0614141.12345.0",
            Identifier("https://id.gs1.org/414/0614141123452", gln="0614141123452"),
        ),
        (
            "urn:epc:id:sgln:0614141.12345.A.B%2FC",
            Identifier("https://id.gs1.org/414/0614141123452/254/A.B%2FC", gln="0614141123452"),
        ),
        (
            "urn:epc:id:pgln:0614141.12345",
            Identifier("https://id.gs1.org/417/0614141123452", gln="0614141123452"),
        ),
        (
            "urn:epc:class:lgtin:4012345.012345.998877",
            Identifier("https://id.gs1.org/01/04012345123456/10/998877", gtin="04012345123456", lot="998877"),
        ),
        (
            "urn:epc:class:lgtin:4012345.012345.A.1%2F2",
            Identifier("https://id.gs1.org/01/04012345123456/10/A.1%2F2", gtin="04012345123456", lot="A.1/2"),
        ),
        ("  " + URN_SGTIN + "\n", Identifier("https://id.gs1.org/01/10614141073464/21/2017", "10614141073464", "2017")),
    ],
)
def test_epc_urns_become_canonical_digital_links(text: str, identifier: Identifier) -> None:
    assert canonical_identifier(text) == identifier


@pytest.mark.parametrize(
    "text",
    [
        "urn:epc:id:sgtin",  # too few components
        "urn:epc:id:sgtin:0614141.107346.2017:x",  # too many
        "urn:epc:id:sgtin:0614141.107346",  # no serial
        "urn:epc:class:sgtin:0614141.107346.2017",  # sgtin is an id, not a class
        "urn:epc:id:lgtin:4012345.012345.998877",  # lgtin is a class
        "urn:epc:class:sscc:0614141.1234567890",
        "urn:epc:id:sscc:0614141",
        "urn:epc:class:sgln:0614141.12345.400",
        "urn:epc:id:sgln:0614141.12345",
        "urn:epc:class:pgln:0614141.12345",
        "urn:epc:id:pgln:0614141",
        "urn:epc:class:lgtin:4012345.012345",
        "urn:epc:id:grai:0614141.12345.400",  # other schemes: kept as sent
        "urn:epc:idpat:sgtin:0614141.107346.*",
        "urn:epcx:id:sgtin:0614141.107346.2017",
        "https://example.com/8004/0614141ABC",  # another GS1 key
        "https://example.com/01/1061414107346",  # 13 digits
        "https://example.com/01/10614141073464/99/x",
        "https://example.com/00/10614141234567890",
        "https://example.com/414/061414112345",
        "ftp://example.com/01/10614141073464",
        "01/10614141073464",
        "",
    ],
)
def test_other_identifiers_are_kept_as_sent(text: str) -> None:
    assert canonical_identifier(text) == Identifier(text.strip())


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        (
            "urn:epc:id:sgtin:061414a.107346.1",
            "the company prefix of urn:epc:id:sgtin:061414a.107346.1 must be digits, got '061414a'",
        ),
        (
            "urn:epc:id:sgtin:0614141.10734b.1",
            "the item reference of urn:epc:id:sgtin:0614141.10734b.1 must be digits, got '10734b'",
        ),
        (
            "urn:epc:id:sgtin:0614141.10734.1",
            "urn:epc:id:sgtin:0614141.10734.1: company prefix and item reference must have 13 digits together",
        ),
        (
            "urn:epc:id:sgtin:0614141.1073460.1",
            "urn:epc:id:sgtin:0614141.1073460.1: company prefix and item reference must have 13 digits together",
        ),
        (
            "urn:epc:id:sscc:061414x.1234567890",
            "the company prefix of urn:epc:id:sscc:061414x.1234567890 must be digits, got '061414x'",
        ),
        (  # an SSCC's serial reference is the last component: a dot in it is no third one
            "urn:epc:id:sscc:0614141.123.4567890",
            "the serial reference of urn:epc:id:sscc:0614141.123.4567890 must be digits, got '123.4567890'",
        ),
        (
            "urn:epc:id:sscc:0614141.123456789",
            "urn:epc:id:sscc:0614141.123456789: company prefix and serial reference must have 17 digits together",
        ),
        (
            "urn:epc:id:sgln:0614141.1234x.0",
            "the location of urn:epc:id:sgln:0614141.1234x.0 must be digits, got '1234x'",
        ),
        (
            "urn:epc:id:sgln:x614141.12345.0",
            "the company prefix of urn:epc:id:sgln:x614141.12345.0 must be digits, got 'x614141'",
        ),
        (
            "urn:epc:id:pgln:0614141.123456",
            "urn:epc:id:pgln:0614141.123456: company prefix and location reference must have 12 digits together",
        ),
        (
            "urn:epc:class:lgtin:4012345.01234.1",
            "urn:epc:class:lgtin:4012345.01234.1: company prefix and item reference must have 13 digits together",
        ),
        (
            "https://example.com/414/0614141123453",
            "https://example.com/414/0614141123453: the GLN check digit is wrong",
        ),
        (
            "https://example.com/417/0614141123451",
            "https://example.com/417/0614141123451: the GLN check digit is wrong",
        ),
        (
            "https://example.com/00/106141412345678909",
            "https://example.com/00/106141412345678909: the SSCC check digit is wrong",
        ),
        (
            "https://example.com/01/10614141073465/21/1",
            "https://example.com/01/10614141073465/21/1: the GTIN check digit is wrong",
        ),
    ],
)
def test_malformed_gs1_identifiers_are_refused(text: str, detail: str) -> None:
    assert refused(text) == detail


@pytest.mark.parametrize(
    ("text", "identifier"),
    [
        (
            "https://example.com/414/0614141123452",
            Identifier("https://id.gs1.org/414/0614141123452", gln="0614141123452"),
        ),
        (
            "http://example.com/a/b/414/0614141123452/254/A%20B/?x=1",
            Identifier("https://id.gs1.org/414/0614141123452/254/A%20B", gln="0614141123452"),
        ),
        (
            "https://example.com/417/0614141123452#here",
            Identifier("https://id.gs1.org/417/0614141123452", gln="0614141123452"),
        ),
        (
            "https://example.com/00/106141412345678908",
            Identifier("https://id.gs1.org/00/106141412345678908", sscc="106141412345678908"),
        ),
        (
            "http://example.com/x/00/106141412345678908/?y",
            Identifier("https://id.gs1.org/00/106141412345678908", sscc="106141412345678908"),
        ),
        (
            "https://example.com/01/09506000134352",
            Identifier("https://id.gs1.org/01/09506000134352", gtin="09506000134352"),
        ),
        (
            "https://example.com/01/09506000134352/22/CPV1",  # a variant alone names the product
            Identifier("https://id.gs1.org/01/09506000134352", gtin="09506000134352"),
        ),
        (
            "https://example.com/01/09506000134352/10/L%2F1",
            Identifier("https://id.gs1.org/01/09506000134352/10/L%2F1", gtin="09506000134352", lot="L/1"),
        ),
        (
            "https://example.com/01/09506000134352/10/L1/21/S%201/",
            Identifier("https://id.gs1.org/01/09506000134352/21/S%201", gtin="09506000134352", serial="S 1"),
        ),
    ],
)
def test_digital_links_on_any_host_become_canonical(text: str, identifier: Identifier) -> None:
    assert canonical_identifier(text) == identifier


def test_unit_keys() -> None:
    unit = canonical_identifier(URN_SGTIN)
    assert unit.is_unit
    assert unit.unit_key == ("10614141073464", "2017")
    lot = canonical_identifier("urn:epc:class:lgtin:4012345.012345.998877")
    assert not lot.is_unit
    assert lot.unit_key is None
    serial_only = Identifier("x", serial="1")
    assert not serial_only.is_unit
    assert serial_only.unit_key is None


@pytest.mark.parametrize(
    ("value", "word"),
    [
        ("https://ref.gs1.org/cbv/BizStep-shipping", "shipping"),
        ("https://gs1.org/voc/Disp-in_transit", "in_transit"),
        ("https://ref.gs1.org/cbv/Disp-non-sellable", "sellable"),  # the last dash splits
        ("urn:epcglobal:cbv:bizstep:receiving", "receiving"),
        ("urn:epcglobal:cbv:disp:retail_sold", "retail_sold"),
        ("retail_selling", "retail_selling"),
        ("https://example.com/BizStep-x", "https://example.com/BizStep-x"),
        ("urn:example:x", "urn:example:x"),
        ("https://ref.gs1.org/cbv/shipping", "https://ref.gs1.org/cbv/shipping"),  # no dash: kept whole
        (None, None),
    ],
)
def test_cbv_values_as_bare_words(value: str | None, word: str | None) -> None:
    assert bare_word(value) == word


def meaning(**event: object) -> Meaning:
    return custody_meaning({"type": "ObjectEvent", "action": "OBSERVE", **event})


def test_aggregations_pack_and_unpack() -> None:
    assert custody_meaning({"type": "AggregationEvent", "action": "ADD"}) == Meaning.of(Action.PACK)
    assert custody_meaning({"type": "AggregationEvent", "action": "DELETE"}) == Meaning.of(Action.UNPACK)
    assert custody_meaning({"type": "AggregationEvent", "action": "OBSERVE", "bizStep": "shipping"}) == Meaning(
        MeaningKind.NONE, why="an aggregation observed, not changed"
    )


def test_other_event_types_mean_nothing() -> None:
    assert custody_meaning({"type": "TransactionEvent", "action": "ADD", "bizStep": "shipping"}) == Meaning(
        MeaningKind.NONE, why="a TransactionEvent has no custody meaning in Passport"
    )
    assert custody_meaning({"action": "ADD"}) == Meaning(
        MeaningKind.NONE, why="a None has no custody meaning in Passport"
    )


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        ({"action": "ADD", "bizStep": "commissioning"}, Meaning(MeaningKind.COMMISSION)),
        ({"action": "ADD", "bizStep": "urn:epcglobal:cbv:bizstep:commissioning"}, Meaning(MeaningKind.COMMISSION)),
        ({"bizStep": "https://ref.gs1.org/cbv/BizStep-shipping"}, Meaning.of(Action.SHIP)),
        ({"bizStep": "shipping", "disposition": "recalled"}, Meaning.of(Action.SHIP)),  # the step wins
        ({"bizStep": "receiving"}, Meaning.of(Action.RECEIVE)),
        ({"bizStep": "accepting"}, Meaning.of(Action.RECEIVE)),
        ({"bizStep": "arriving"}, Meaning.of(Action.RECEIVE)),
        ({"bizStep": "receiving", "disposition": "returned"}, Meaning.of(Action.RETURN)),
        ({"bizStep": "accepting", "disposition": "urn:epcglobal:cbv:disp:returned"}, Meaning.of(Action.RETURN)),
        ({"bizStep": "retail_selling", "disposition": "returned"}, Meaning.of(Action.SELL)),
        ({"bizStep": "dispensing"}, Meaning.of(Action.DISPENSE)),
        ({"bizStep": "destroying"}, Meaning.of(Action.DESTROY)),
        ({"bizStep": "decommissioning", "action": "DELETE"}, Meaning.of(Action.DESTROY)),
        ({"disposition": "recalled"}, Meaning(MeaningKind.RECALL)),
        ({"bizStep": "holding", "disposition": "recalled"}, Meaning(MeaningKind.RECALL)),
        ({"bizStep": "holding", "disposition": "non_sellable_other"}, Meaning.of(Action.LOCK)),
        ({"bizStep": "holding", "disposition": "damaged"}, Meaning.of(Action.LOCK)),
        ({"bizStep": "holding", "disposition": "expired"}, Meaning.of(Action.LOCK)),
        ({"bizStep": "holding", "disposition": "sellable_accessible"}, Meaning.of(Action.UNLOCK)),
        (
            {"bizStep": "holding", "disposition": "stolen"},
            Meaning(MeaningKind.NONE, why="holding without a change of sellability changes nothing"),
        ),
        (
            {"bizStep": "holding", "action": "DELETE"},
            Meaning(MeaningKind.NONE, why="holding without a change of sellability changes nothing"),
        ),
        ({"disposition": "stolen"}, Meaning.of(Action.REPORT_STOLEN)),
        ({"bizStep": "other", "disposition": "returned"}, Meaning.of(Action.RETURN)),
        ({"disposition": "destroyed"}, Meaning.of(Action.DESTROY)),
        ({"action": "DELETE"}, Meaning.of(Action.DESTROY)),
        ({"action": "DELETE", "disposition": "stolen"}, Meaning.of(Action.REPORT_STOLEN)),
        (
            {"bizStep": "commissioning"},
            Meaning(MeaningKind.NONE, why="business step 'commissioning' has no custody meaning in Passport"),
        ),
        (
            {"bizStep": "inspecting", "disposition": "active"},
            Meaning(MeaningKind.NONE, why="business step 'inspecting' has no custody meaning in Passport"),
        ),
        ({}, Meaning(MeaningKind.NONE, why="business step None has no custody meaning in Passport")),
        (
            {"bizStep": 7, "disposition": ["stolen"]},  # not text: no word
            Meaning(MeaningKind.NONE, why="business step None has no custody meaning in Passport"),
        ),
    ],
)
def test_custody_meaning_of_object_events(event: dict[str, object], expected: Meaning) -> None:
    assert meaning(**event) == expected


def test_a_meaning_has_an_action_exactly_when_it_is_an_action() -> None:
    with pytest.raises(ValueError, match=r"^a meaning of kind action needs action$"):
        Meaning(MeaningKind.ACTION)
    with pytest.raises(ValueError, match=r"^a meaning of kind recall takes no action$"):
        Meaning(MeaningKind.RECALL, Action.SHIP)
    assert Meaning.of(Action.SHIP) == Meaning(MeaningKind.ACTION, Action.SHIP, "")
