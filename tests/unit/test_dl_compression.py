"""GS1 Digital Link compression against the examples its publishers give.

Sources of the example strings (copied verbatim):
- DL_JS: github.com/gs1/digital-link.js, tests/index.js (GS1's Digital Link toolkit; its compression is the
  reference implementation GS1DigitalLinkCompressionPrototype of the standard's algorithm).
- RESOLVER_CE: github.com/gs1/GS1_DigitalLink_Resolver_CE, discussion #95 "Resolver v3.0 and GS1 Digital Link
  Compression" (GS1's own resolver, which compresses without optimisations).
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.dl_compression import (
    BASE64,
    OPTIMISATIONS,
    compress,
    decompress,
    decompress_uri,
    is_compressed,
    length_bits,
    uncompressed,
    value_bits,
)
from app.domain.errors import InvalidCode


def _segment(bits: str) -> str:
    bits += "0" * (-len(bits) % 6)
    return "".join(BASE64[int(bits[i : i + 6], 2)] for i in range(0, len(bits), 6))


PUBLISHED = [
    (  # DL_JS "should create from string - compressed URI"
        "https://gs1.evrythng.com/HxHKVAdpQhCTxbrOF_yEFcx_4a2GeAh1mFOZkChg6Z8pgcEMEWpMganmIQ",
        "https://gs1.evrythng.com/01/09780345418913/10/38737643/21/58943?15=230911&thngId=U5mQKGDpnymBwQwRakyBqeYh",
    ),
    (  # DL_JS "should decompress a compressed Digital Link URI"
        "https://dlnkd.tn.gg/HxHKVAdpQgZzjr-hCDKigI",
        "https://dlnkd.tn.gg/01/09780345418913/10/231/21/345345?15=120820",
    ),
    (  # DL_JS "should transparently validate a valid compressed URI"
        "https://dlnkd.tn.gg/ARHKVAdpQg",
        "https://dlnkd.tn.gg/01/09780345418913",
    ),
    (  # DL_JS "should use optimisations and compress other key-value pairs by default"
        "https://dlnkd.tn.gg/DBHKVAdpQgqrCvBv0UMG21W",
        "https://dlnkd.tn.gg/01/09780345418913/21/43786?foo=bar",
    ),
    (  # DL_JS "should allow not using optimisations and compressing other key-value pairs"
        "https://dlnkd.tn.gg/ARHKVAdpQkIKqwo?foo=bar",
        "https://dlnkd.tn.gg/01/09780345418913/21/43786?foo=bar",
    ),
    (  # RESOLVER_CE: https://example.com/01/05392000229648/10/LOT01/21/SERIAL01?compress=true
        "https://servername.com/AQnO2IRCICDKWcnpqQtCQiJABemo",
        "https://servername.com/01/05392000229648/10/LOT01/21/SERIAL01",
    ),
]


@pytest.mark.parametrize(("compressed", "expected"), PUBLISHED)
def test_published_examples_decompress(compressed: str, expected: str) -> None:
    assert decompress_uri(compressed) == expected


def test_published_compressions_with_optimisations() -> None:
    # DL_JS "should generate the correct compressed web URI string" (the GTIN-13 as given, no leading zero)
    elements = {"01": "9780345418913", "10": "38737643", "21": "58943", "15": "230911"}
    assert compress(elements, {"thngId": "U5mQKGDpnymBwQwRakyBqeYh"}) == (
        "HxHKVAdpQhCTxbrOF_yEFcx_4a2GeAh1mFOZkChg6Z8pgcEMEWpMganmIQ"
    )
    # DL_JS "should compress a Digital Link URI" (gtin/09780345418913/lot/231/ser/345345?15=120820)
    assert compress({"01": "09780345418913", "10": "231", "21": "345345", "15": "120820"}) == "HxHKVAdpQgZzjr-hCDKigI"
    # DL_JS "...compress other key-value pairs by default"
    assert compress({"01": "9780345418913", "21": "43786"}, {"foo": "bar"}) == "DBHKVAdpQgqrCvBv0UMG21W"


def test_published_compressions_without_optimisations() -> None:
    assert compress({"01": "9780345418913", "21": "43786"}, optimise=False) == "ARHKVAdpQkIKqwo"  # DL_JS
    assert compress({"01": "05392000229648", "10": "LOT01", "21": "SERIAL01"}, optimise=False) == (
        "AQnO2IRCICDKWcnpqQtCQiJABemo"  # RESOLVER_CE
    )


def test_decompress_gives_elements_and_other_pairs() -> None:
    assert decompress("DBHKVAdpQgqrCvBv0UMG21W") == ({"01": "09780345418913", "21": "43786"}, {"foo": "bar"})


def test_the_bit_widths_the_standard_computes() -> None:
    assert [value_bits(n) for n in (0, 1, 3, 6, 14, 18)] == [1, 4, 10, 20, 47, 60]
    assert [length_bits(m) for m in (2, 8, 20, 30, 90)] == [2, 4, 5, 5, 7]  # a power of two takes one more bit


def test_optimisation_sequences_are_sorted_as_the_reference_reads_them() -> None:
    assert OPTIMISATIONS["1A"] == ("01", "10", "17", "21")
    assert OPTIMISATIONS["9D"] == ("254", "414")


@pytest.mark.parametrize(
    "value", ["LOT42", "abc123", "ABC123", "a-b_c", "A/B%C", "0042", "7Q2K9M4XW8RT", "!\"%&'()*+,-./:;<=>?_"]
)
@pytest.mark.parametrize("optimise", [True, False])
def test_every_value_encoding_round_trips(value: str, optimise: bool) -> None:
    elements = {"01": "04012345123456", "10": value, "21": value[::-1], "17": "281231"}
    assert decompress(compress(elements, optimise=optimise))[0] == elements


def test_numeric_values_keep_their_leading_zeros() -> None:
    # The reference prototype drops them (parseInt); the length is in the bits, so we keep them.
    elements = {"01": "00000000000017", "21": "000123", "30": "007"}
    assert decompress(compress(elements))[0] == elements


def test_compound_values_round_trip() -> None:
    elements = {"253": "4012345000009" + "DOC-7", "7007": "230101" + "2302"}
    assert decompress(compress(elements))[0] == elements


@given(
    lot=st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=20),
    serial=st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=20),
    optimise=st.booleans(),
)
def test_any_ascii_lot_and_serial_round_trip(lot: str, serial: str, optimise: bool) -> None:
    elements = {"01": "04012345123456", "10": lot, "21": serial}
    assert decompress(compress(elements, optimise=optimise))[0] == elements


def test_uncompressed_path_puts_qualifiers_in_order_and_attributes_in_the_query() -> None:
    path, query = uncompressed({"21": "S/1", "17": "281231", "01": "04012345123456", "22": "V", "10": "L"}, {"x": "1"})
    assert path == "/01/04012345123456/22/V/10/L/21/S%2F1"
    assert query == "17=281231&x=1"


@pytest.mark.parametrize(
    ("segment", "message"),
    [
        ("", "one path segment"),
        ("AR+K", "one path segment"),
        ("A" * 1001, "one path segment"),
        ("ARHK", "ends in the middle of a value"),  # 01 and 16 bits of a 47-bit GTIN
        ("BB" * 8, "an AI starting 04, which GS1 reserves"),  # 0000 0100 -> AI 04..
        ("vv" * 8, "code BE, which the standard does not define"),  # 1011 1110
        (_segment(("00000001" + format(4012345123456, "047b")) * 2), "carries AI (01) twice"),
    ],
)
def test_malformed_segments_are_refused_by_name(segment: str, message: str) -> None:
    with pytest.raises(InvalidCode, match=message.replace("(", r"\(").replace(")", r"\)")):
        decompress(segment)


def test_a_link_without_a_primary_key_cannot_be_written_out() -> None:
    with pytest.raises(InvalidCode, match="no primary key"):
        uncompressed(decompress(compress({"10": "L1"}))[0])


def test_values_beyond_seven_bit_ascii_cannot_be_compressed() -> None:
    with pytest.raises(InvalidCode, match="7-bit ASCII"):
        compress({"01": "04012345123456", "10": "批次"})


def test_is_compressed() -> None:
    assert is_compressed("ARHKVAdpQg")
    assert not is_compressed("a.b")
    assert not is_compressed("")
