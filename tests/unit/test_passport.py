"""The passport domain: tiers, merging levels, certificate status, the leaf bytes, and the published schema."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from app.domain.leaf import LeafEvent, leaf_bytes
from app.domain.merkle import leaf_hash
from app.domain.passport import (
    DEFAULT_TIERS,
    CertificateStatus,
    Tier,
    certificate_status,
    documents_named,
    lapsing,
    merge,
    tier_of,
    visible,
)
from app.domain.passport_leaf import PassportLeaf, canonical, is_passport_leaf, passport_leaf_bytes

SCHEMA_DIR = Path(__file__).parents[2] / "passport_schema"
TODAY = date(2026, 12, 5)

EVERY_FIELD = {
    "manufacturer": {"name": "M", "gln": "9506000000007", "uscc": "91310000MA1K4XXXXX"},
    "facility": {"name": "F", "address": "1 Road"},
    "origin": {"country": "CN", "region": "CN-31"},
    "standards": [{"code": "GB 28050-2011", "title": "Nutrition labelling"}],
    "certifications": [{"scheme": "CCC", "number": "1", "issuer": "CQC", "valid_until": "2027-01-01"}],
    "test_reports": [{"lab": "L", "number": "R1", "date": "2026-01-01", "result": "pass"}],
    "composition": "water",
    "instructions": {"zh": "用", "en": "use"},
    "warnings": {"zh": "警", "en": "warn"},
    "disposal": {"zh": "回收", "en": "recycle"},
    "links": [{"linkType": "gs1:epil", "href": "https://x/l", "title": "Leaflet", "lang": "en"}],
    "leaflet": {"zh": "说明书", "en": "leaflet"},
    "storage": {"zh": "阴凉", "en": "cool"},
}


@pytest.mark.parametrize("field", sorted(EVERY_FIELD))
@pytest.mark.parametrize("tier", list(Tier))
def test_every_field_kind_is_shown_exactly_to_its_tier_and_above(field: str, tier: Tier) -> None:
    document = {field: EVERY_FIELD[field], "tiers": {field: tier.value}}
    seen = {reader: field in visible(document, reader, TODAY) for reader in Tier}
    order = [Tier.PUBLIC, Tier.PARTNER, Tier.AUTHORITY]
    assert seen == {reader: order.index(reader) >= order.index(tier) for reader in Tier}


def test_default_tiers_cover_every_field_and_fill_in_what_tiers_omits() -> None:
    assert set(DEFAULT_TIERS) == set(EVERY_FIELD)
    assert tier_of({}, "facility") is Tier.PARTNER
    assert tier_of({}, "test_reports") is Tier.PARTNER
    assert tier_of({}, "origin") is Tier.PUBLIC
    assert tier_of({}, "something_new") is Tier.AUTHORITY
    public = visible(EVERY_FIELD, Tier.PUBLIC, TODAY)
    assert "facility" not in public and "test_reports" not in public and "origin" in public
    assert public["tiers"]["origin"] == "public" and "facility" not in public["tiers"]


@pytest.mark.parametrize(
    ("certification", "status"),
    [
        ({"valid_until": "2026-12-05"}, CertificateStatus.VALID),  # the last day still holds
        ({"valid_until": "2026-12-04"}, CertificateStatus.EXPIRED),
        ({"valid_from": "2026-12-06"}, CertificateStatus.NOT_YET_VALID),
        ({"valid_from": "2026-12-05", "valid_until": "2027-01-01"}, CertificateStatus.VALID),
        ({"valid_until": "2027-01-01", "revoked_on": "2026-12-05"}, CertificateStatus.EXPIRED),
        ({"valid_until": "2027-01-01", "revoked_on": "2026-12-06"}, CertificateStatus.VALID),
        ({}, CertificateStatus.VALID),
    ],
)
def test_certificate_status_for_today(certification: dict[str, str], status: CertificateStatus) -> None:
    assert certificate_status(certification, TODAY) is status


def test_every_certification_shown_carries_its_status() -> None:
    shown = visible(
        {"certifications": [{"number": "a", "valid_until": "2020-01-01"}, {"number": "b"}]}, Tier.PUBLIC, TODAY
    )
    assert [c["status"] for c in shown["certifications"]] == ["expired", "valid"]


def test_levels_add_to_the_one_above() -> None:
    product = {
        "origin": {"country": "CN"},
        "certifications": [{"scheme": "CCC", "number": "1", "valid_until": "2027-01-01"}],
        "composition": "a",
        "tiers": {"test_reports": "authority"},
    }
    lot = {
        "origin": {"region": "CN-31"},
        "certifications": [
            {"scheme": "CCC", "number": "1", "valid_until": "2026-01-01"},
            {"scheme": "CE", "number": "2"},
        ],
        "test_reports": [{"lab": "L", "number": "R"}],
        "composition": ["b"],
    }
    unit = {"tiers": {"origin": "partner"}}
    merged = merge([product, lot, unit])
    assert merged["origin"] == {"country": "CN", "region": "CN-31"}
    assert merged["certifications"] == [
        {"scheme": "CCC", "number": "1", "valid_until": "2026-01-01"},
        {"scheme": "CE", "number": "2"},
    ]
    assert merged["composition"] == ["b"]
    assert merged["tiers"] == {"test_reports": "authority", "origin": "partner"}
    assert "test_reports" not in visible(merged, Tier.PARTNER, TODAY)
    assert merge([None, lot, None]) == lot


def test_documents_named_and_lapsing() -> None:
    sha = "a" * 64
    document = {
        "certifications": [
            {"number": "1", "document": sha, "valid_until": "2026-12-20"},
            {"number": "2", "valid_until": "2027-12-20"},
            {"number": "3", "valid_until": "2026-12-01"},
        ],
        "test_reports": [{"number": "r", "document": "b" * 64}],
        "leaflet": {"document": "c" * 64},
    }
    assert documents_named(document) == [("certifications", sha), ("test_reports", "b" * 64), ("leaflet", "c" * 64)]
    assert [c["number"] for c in lapsing(document, TODAY, date(2026, 12, 31))] == ["1"]


LEAF = PassportLeaf(
    subject="01/09506000134352/10/LOT42",
    level="lot",
    gtin="09506000134352",
    lot="LOT42",
    serial=None,
    version=2,
    org="org_maker",
    recorded_at=datetime(2026, 12, 5, 8, 0, tzinfo=UTC),
    passport={"origin": {"country": "CN", "region": "CN-31"}, "tiers": {"origin": "public"}},
)


def test_passport_leaf_bytes_are_canonical_and_not_an_event() -> None:
    data = passport_leaf_bytes(LEAF)
    document = json.loads(data)
    assert canonical(document) == data
    assert is_passport_leaf(document)
    assert "event_id" not in document
    event = LeafEvent(
        1, "o", "ship", LEAF.recorded_at, LEAF.recorded_at, None, None, None, None, None, None, None, None, []
    )
    assert not is_passport_leaf(json.loads(leaf_bytes(event)))
    with pytest.raises(ValueError):
        canonical({"x": float("nan")})


def _example_block(name: str) -> str:
    text = (SCHEMA_DIR / "passport-leaf.md").read_text()
    match = re.search(rf"<!-- {name} -->\s*```[a-z]*\n(.*?)\n```", text, re.S)
    assert match, name
    return match.group(1)


def test_the_documented_leaf_example_is_byte_for_byte_the_services() -> None:
    assert _example_block("leaf-bytes").encode() == passport_leaf_bytes(LEAF)
    assert _example_block("leaf-hash") == leaf_hash(passport_leaf_bytes(LEAF)).hex()


def test_the_worked_example_validates_against_the_schema() -> None:
    schema = json.loads((SCHEMA_DIR / "product-passport.schema.json").read_text())
    Draft202012Validator.check_schema(schema)
    example = json.loads((SCHEMA_DIR / "product-passport.example.json").read_text())
    assert list(Draft202012Validator(schema).iter_errors(example)) == []
    assert set(EVERY_FIELD) <= set(schema["properties"])
    bad = {**example, "certifications": [{"scheme": "CCC", "number": "1", "valid_until": "someday"}]}
    assert list(Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER).iter_errors(bad))
