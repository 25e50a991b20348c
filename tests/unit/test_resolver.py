"""The resolver's pure rules: a product or lot scan's verdict and its precedence, which lots a recall covers, link
types as GS1 CURIEs, the maker's and the service's own links, the language choice, the RFC 9264 linkset and the
resolver description file."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from app.domain.recall import RecallScope
from app.domain.resolver import (
    Link,
    LinkType,
    ProductVerdict,
    choose,
    covers_lot,
    description,
    linkset,
    maker_links,
    normalised_link_type,
    own_links,
    product_reasons,
    product_verdict,
    relation,
)

TODAY = date(2026, 6, 1)
URL = "https://passport.test/01/09506000134352"


def verdict(**facts: Any) -> str:
    values: dict[str, Any] = {"product_known": True, "lot": None, "lot_expires_on": None, "recalled": False}
    return product_verdict(**{**values, **facts}, today=TODAY).value


def test_verdict_precedence() -> None:
    assert verdict() == "registered"
    assert verdict(product_known=False, recalled=True, lot="L1") == "unknown"
    assert verdict(recalled=True, lot="L1", lot_expires_on=None) == "recalled"  # before an unknown lot
    assert verdict(recalled=True, lot="L1", lot_expires_on=date(2020, 1, 1)) == "recalled"  # before expiry
    assert verdict(lot="L1") == "unknown_lot"
    assert verdict(lot="L1", lot_expires_on=date(2026, 5, 31)) == "expired"
    assert verdict(lot="L1", lot_expires_on=TODAY) == "registered"  # expiring today: not yet expired
    assert verdict(lot="L1", lot_expires_on=date(2027, 1, 1)) == "registered"
    assert verdict(lot="", lot_expires_on=None) == "unknown_lot"  # an empty lot is still a lot


def test_a_lot_under_investigation_is_suspect_after_a_recall() -> None:
    current = date(2027, 1, 1)
    assert verdict(lot="L1", lot_expires_on=current, investigated=True) == "suspect"
    assert verdict(lot="L1", lot_expires_on=date(2020, 1, 1), investigated=True) == "suspect"  # before expiry
    assert verdict(lot="L1", lot_expires_on=current, investigated=True, recalled=True) == "recalled"
    assert verdict(product_known=False, lot="L1", investigated=True) == "unknown"
    assert verdict(lot=None, investigated=True) == "registered"  # a product scan: no lot in hand
    assert product_reasons(ProductVerdict.SUSPECT) == ["under_investigation"]
    assert [product_reasons(v) for v in ProductVerdict if v != "suspect"] == [[], [], [], [], []]


def test_verdict_values() -> None:
    assert [v.value for v in ProductVerdict] == [
        "unknown",
        "unknown_lot",
        "recalled",
        "suspect",
        "expired",
        "registered",
    ]


def scope(lots: tuple[str, ...] = (), serials: tuple[str, ...] = ()) -> RecallScope:
    return RecallScope(1, "I", "contamination", frozenset(lots), frozenset(serials))


def test_which_lots_a_recall_covers() -> None:
    assert covers_lot(scope(), "L1")
    assert covers_lot(scope(), None)  # the whole product
    assert covers_lot(scope(lots=("L1",)), "L1")
    assert not covers_lot(scope(lots=("L1",)), "L2")
    assert not covers_lot(scope(lots=("L1",)), None)
    assert not covers_lot(scope(serials=("S1",)), "L1")  # serials only: no lot as a whole
    assert not covers_lot(scope(serials=("S1",)), None)
    assert covers_lot(scope(lots=("L1",), serials=("S1",)), "L1")


def test_relation_uris() -> None:
    assert relation("gs1:pip") == "https://gs1.org/voc/pip"
    assert relation("gs1:defaultLink") == "https://gs1.org/voc/defaultLink"
    assert relation("https://example.com/voc/x") == "https://example.com/voc/x"
    assert relation("gs1pip") == "gs1pip"


@pytest.mark.parametrize(
    ("value", "curie"),
    [
        ("pip", "gs1:pip"),
        ("gs1:pip", "gs1:pip"),
        ("https://gs1.org/voc/pip", "gs1:pip"),
        ("http://gs1.org/voc/recallStatus", "gs1:recallStatus"),
        ("  epil ", "gs1:epil"),
        (" https://gs1.org/voc/epil", "gs1:epil"),
        ("all", "all"),
        ("https://example.com/voc/x", "https://example.com/voc/x"),
        ("ex:thing", "ex:thing"),
        ("All", "gs1:All"),
    ],
)
def test_link_types_become_gs1_curies(value: str, curie: str) -> None:
    assert normalised_link_type(value) == curie


def test_link_type_values() -> None:
    assert [t.value for t in LinkType] == [
        "gs1:defaultLink",
        "gs1:pip",
        "gs1:epil",
        "gs1:recallStatus",
        "gs1:certificationInfo",
        "gs1:verificationService",
        "gs1:traceability",
    ]


def test_maker_links_are_read_as_far_as_they_are_links() -> None:
    passport = {
        "links": [
            {
                "linkType": "epil",
                "href": "https://m.example/leaflet.pdf",
                "title": "Leaflet",
                "lang": ["zh", "en"],
                "type": "application/pdf",
            },
            {"href": "https://m.example/info"},  # no type: a product information page, titled by its type
            {"linkType": "https://gs1.org/voc/recallStatus", "href": "https://m.example/r", "lang": "en-GB"},
            {"linkType": "gs1:pip", "href": "https://m.example/p", "title": "", "lang": ""},
            {"linkType": "pip", "href": 7},  # no usable href: left out
            {"linkType": "pip"},
            "https://m.example/not-a-mapping",
            {"linkType": "gs1:epil", "href": "https://m.example/after"},  # what follows a bad item is still read
        ]
    }
    assert maker_links(passport) == [
        Link("gs1:epil", "https://m.example/leaflet.pdf", "Leaflet", ("zh", "en"), "application/pdf"),
        Link("gs1:pip", "https://m.example/info", "gs1:pip", (), None),
        Link("gs1:recallStatus", "https://m.example/r", "gs1:recallStatus", ("en-GB",), None),
        Link("gs1:pip", "https://m.example/p", "gs1:pip", (), None),
        Link("gs1:epil", "https://m.example/after", "gs1:epil", (), None),
    ]


@pytest.mark.parametrize("passport", [None, {}, {"links": None}, {"links": []}])
def test_no_maker_links(passport: dict[str, Any] | None) -> None:
    assert maker_links(passport) == []


def test_own_links_of_a_product_without_passport() -> None:
    assert own_links(URL, has_passport=False, unit=False) == [
        Link("gs1:defaultLink", URL, "Product check", (), "text/html"),
        Link("gs1:pip", URL, "Product information and passport", (), "text/html"),
        Link(
            "gs1:verificationService", URL + "?linkType=gs1:verificationService", "Verification", (), "application/json"
        ),
        Link("gs1:recallStatus", URL + "?linkType=gs1:recallStatus", "Recall status", (), "application/json"),
    ]


def test_own_links_add_certificates_with_a_passport_and_the_journey_of_a_unit() -> None:
    links = own_links(URL, has_passport=True, unit=True)
    assert len(links) == 6
    assert links[4] == Link(
        "gs1:certificationInfo", URL + "?linkType=gs1:certificationInfo", "Certificates", (), "application/json"
    )
    assert links[5] == Link("gs1:traceability", URL + "?linkType=gs1:traceability", "Journey", (), "application/json")
    assert [link.link_type for link in own_links(URL, has_passport=False, unit=True)][-1] == "gs1:traceability"
    assert [link.link_type for link in own_links(URL, has_passport=True, unit=False)][-1] == "gs1:certificationInfo"


ZH = Link("gs1:epil", "https://m.example/zh", "说明书", ("zh-CN",))
EN = Link("gs1:epil", "https://m.example/en", "Leaflet", ("EN", "fr"))
PIP = Link("gs1:pip", "https://m.example/p", "Info")


def test_the_link_in_the_first_language_that_has_one() -> None:
    links = [PIP, ZH, EN]
    assert choose(links, "gs1:epil", ["en-US", "zh"]) is EN  # language subtags and case ignored
    assert choose(links, "gs1:epil", ["de", "ZH-tw"]) is ZH
    assert choose(links, "gs1:epil", ["fr"]) is EN
    assert choose(links, "gs1:epil", ["de"]) is ZH  # no language matches: the first of the type
    assert choose(links, "gs1:epil", []) is ZH
    assert choose(links, "gs1:pip", ["en"]) is PIP
    assert choose(links, "gs1:recallStatus", ["en"]) is None
    assert choose([EN, ZH], "gs1:epil", ["zh"]) is ZH  # zh-CN is zh


def test_linkset_groups_targets_by_relation_in_order() -> None:
    links = [
        Link("gs1:pip", "https://a/1", "One", (), "text/html"),
        Link("gs1:epil", "https://a/2", "Two", ("zh", "en")),
        Link("gs1:pip", "https://a/3", "Three"),
        Link("https://example.com/voc/x", "https://a/4", "Four", (), ""),
    ]
    assert linkset("https://passport.test/01/1", links) == {
        "linkset": [
            {
                "anchor": "https://passport.test/01/1",
                "https://gs1.org/voc/pip": [
                    {"href": "https://a/1", "title": "One", "type": "text/html"},
                    {"href": "https://a/3", "title": "Three"},
                ],
                "https://gs1.org/voc/epil": [{"href": "https://a/2", "title": "Two", "hreflang": ["zh", "en"]}],
                "https://example.com/voc/x": [{"href": "https://a/4", "title": "Four"}],
            }
        ]
    }
    assert linkset("https://x", []) == {"linkset": [{"anchor": "https://x"}]}


def test_the_resolver_description_file() -> None:
    assert description("https://passport.test", "Passport") == {
        "name": "Passport",
        "resolverRoot": "https://passport.test",
        "supportedPrimaryKeys": ["01"],
        "supportedLinkType": [
            {"namespace": "https://gs1.org/voc/", "prefix": "gs1:", "profile": "https://gs1.org/voc/?show=linktypes"}
        ],
        "linkTypeDefaultCanBeLinkset": True,
        "linkTypeDefaultCanBeAll": True,
        "supportedContextValuesEnumerated": ["dscsaSaleableReturn", "suspectOrIllegitimate", "statusCheck"],
        "supportedContextValuesExternal": [],
        "compression": True,
        "validatesSyntax": True,
    }
