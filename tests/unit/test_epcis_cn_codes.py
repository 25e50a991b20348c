"""A 20-digit drug traceability code in EPCIS (app/domain/epcis.py; issue 21, session E: these were unreached or
survived mutation testing): the URI Passport writes for it, how such a URI is read back as the code itself, and the
code as the unit of a product."""

from __future__ import annotations

import pytest

from app.domain.epcis import Identifier, canonical_identifier, cn_code_uri
from app.domain.errors import InvalidCode

CODE = "81234561234567890123"
GTIN = "09506000134352"


@pytest.mark.parametrize("base", ["https://passport.example", "https://passport.example/"])
def test_the_uri_of_a_code_is_its_scan_path_on_this_service(base):
    assert cn_code_uri(base, CODE) == f"https://passport.example/cn/{CODE}"


def test_only_the_trailing_slash_of_the_base_is_cut():
    assert cn_code_uri("https://example.com/BOX/", CODE) == f"https://example.com/BOX/cn/{CODE}"


@pytest.mark.parametrize(
    "uri",
    [
        f"https://passport.example/cn/{CODE}",
        f"http://other.example/scan/cn/{CODE}/?src=label#top",
        "https://passport.example/cn/8123456123456789012%33",  # percent-encoded digit
    ],
)
def test_a_code_uri_on_any_host_reads_as_the_code(uri):
    assert canonical_identifier(uri) == Identifier(CODE, cn_code=CODE)


def test_a_code_uri_round_trips():
    assert canonical_identifier(cn_code_uri("https://passport.example", CODE)).cn_code == CODE


def test_a_malformed_code_in_a_uri_is_refused_naming_the_uri():
    uri = "https://passport.example/cn/8123"
    with pytest.raises(InvalidCode) as refused:
        canonical_identifier(uri)
    assert refused.value.code == "invalid_cn_code"
    assert refused.value.detail == (
        f"{uri}: a drug traceability code (药品追溯码) has 20 digits, this one has 4: not a 20-digit code"
    )


def test_a_code_as_the_unit_of_a_product_keeps_the_code_as_serial():
    unit = canonical_identifier(cn_code_uri("https://passport.example", CODE)).as_unit(GTIN)
    assert unit == Identifier(CODE, gtin=GTIN, serial=CODE, cn_code=CODE)
