"""GS1 Digital Link compression, rule by rule: the bits of each value encoding, which optimisation code wins, GTIN
zero-filling, the limits of non-GS1 pairs, padding, the segment's size limit, and every refusal text in full.

The expected bit strings are written out here from the standard's description (release 1.2, "Compression"), never
computed by the module under test, so a changed width, encoding number or alphabet fails a test (issue 21).
"""

from __future__ import annotations

import re

import pytest

from app.domain.dl_compression import compress, decompress, decompress_uri, is_compressed, uncompressed
from app.domain.errors import InvalidCode

BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"  # RFC 4648 section 5
GTIN = "04012345123456"
AI_01 = "0000" + "0001" + format(4012345123456, "047b")  # AI 01 as two nibbles, then 14 digits in 47 bits
AI_10 = "0001" + "0000"


def _segment(bits: str) -> str:
    bits += "0" * (-len(bits) % 6)
    return "".join(BASE64[int(bits[i : i + 6], 2)] for i in range(0, len(bits), 6))


def _bits(segment: str) -> str:
    return "".join(format(BASE64.index(char), "06b") for char in segment)


def _refused(message: str) -> pytest.RaisesExc[InvalidCode]:
    return pytest.raises(InvalidCode, match=f"^{re.escape(message)}$")


# --------------------------------------------------------------------------------------------- value encodings


@pytest.mark.parametrize(
    ("lot", "encoding"),
    [
        ("123", "000" + "00011" + format(123, "010b")),  # digits: one number in ceil(3 * log2(10)) = 10 bits
        ("abc1", "001" + "00100" + "1010" + "1011" + "1100" + "0001"),  # lower-case hex: 4 bits each
        ("ABC1", "010" + "00100" + "1010" + "1011" + "1100" + "0001"),  # upper-case hex
        ("Lo-_", "011" + "00100" + "001011" + "101000" + "111110" + "111111"),  # URI-safe base64: 6 bits each
        ("A/b", "100" + "00011" + "1000001" + "0101111" + "1100010"),  # 7-bit ASCII
        ("\x7f", "100" + "00001" + "1111111"),  # the last 7-bit character
    ],
)
def test_each_value_encoding_writes_the_bits_the_standard_names(lot: str, encoding: str) -> None:
    # AI 10 is X..20: a 3-bit encoding, a 5-bit length (ceil(log2(20))), then the characters.
    segment = compress({"01": GTIN, "10": lot}, optimise=False)
    assert segment == _segment(AI_01 + AI_10 + encoding)
    assert decompress(segment) == ({"01": GTIN, "10": lot}, {})


@pytest.mark.parametrize("char", ["\x80", "\xff", "é"])
def test_characters_past_seven_bits_are_refused(char: str) -> None:
    with _refused(f"{char!r} cannot be written in a compressed Digital Link (7-bit ASCII only)"):
        compress({"01": GTIN, "10": "A" + char})


def test_a_value_of_zero_digits_reads_no_bits() -> None:
    # Our encoder writes an empty lot as 7-bit ASCII, but a foreign one may write it as zero digits.
    seven = "000" + "00001" + format(7, "04b")
    elements, _ = decompress(_segment(AI_01 + AI_10 + "000" + "00000" + "0010" + "0001" + seven))
    assert elements == {"01": GTIN, "10": "", "21": "7"}


def test_an_empty_variable_number_round_trips() -> None:
    # AI 30 (N..8): a 4-bit length of 0, then a single 0 bit.
    segment = compress({"30": ""})
    assert segment == _segment("0011" + "0000" + "0000" + "0")
    assert decompress(segment) == ({"30": ""}, {})


# --------------------------------------------------------------------------------------------- optimisations


def test_the_optimisation_covering_the_most_ai_digits_wins() -> None:
    # 1A (01 10 17 21) beats A0 (01 3920), though A0 comes later in the table.
    elements = {"01": GTIN, "10": "L", "17": "281231", "21": "S", "3920": "995"}
    segment = compress(elements)
    assert _bits(segment)[:8] == "0001" + "1010"
    assert decompress(segment)[0] == elements


def test_between_equally_long_optimisations_the_first_in_the_table_wins() -> None:
    # 0E (01 7003) and 2D (01 3103) both cover six AI digits.
    elements = {"01": GTIN, "7003": "2612311200", "3103": "000500"}
    segment = compress(elements)
    assert _bits(segment)[:8] == "0000" + "1110"
    assert decompress(segment)[0] == elements


@pytest.mark.parametrize(
    ("ai", "short"), [("01", "40123455"), ("01", "401234512340"), ("01", "4012345123456"), ("02", "4012345123456")]
)
def test_gtin_8_12_and_13_are_gtin_14s_with_leading_zeros(ai: str, short: str) -> None:
    elements = {"00": "340123450000000000", ai: short}
    assert decompress(compress(elements))[0] == {"00": "340123450000000000", ai: short.zfill(14)}


# --------------------------------------------------------------------------------------------- non-GS1 pairs


def test_non_gs1_pairs_of_up_to_127_characters_round_trip() -> None:
    others = {"k" * 127: "v" * 127}
    assert decompress(compress({"01": GTIN}, others)) == ({"01": GTIN}, others)


@pytest.mark.parametrize(("key", "value"), [("k" * 128, "v"), ("k", "v" * 128), ("a.b", "v"), ("", "v")])
def test_non_gs1_pairs_that_cannot_be_written_are_refused(key: str, value: str) -> None:
    with _refused(f"query parameter {key!r} cannot be compressed"):
        compress({"01": GTIN}, {key: value})


# --------------------------------------------------------------------------------------------- compression refusals


@pytest.mark.parametrize(
    ("elements", "message"),
    [
        ({"01": GTIN, "7240": "x"}, "AI (7240) has no compressed form"),
        ({"01": "0401234512345X"}, "AI (01) must be numeric here, got '0401234512345X'"),
        ({"01": "٠٤٠١٢٣٤٥١٢٣٤٥٦"}, "AI (01) must be numeric here, got '٠٤٠١٢٣٤٥١٢٣٤٥٦'"),  # digits, not ASCII
        ({"30": "12a"}, "AI (30) must be numeric here, got '12a'"),
        ({"7007": "261205x"}, "AI (7007) must be numeric here, got 'x'"),
        ({"17": "2812"}, "AI (17) needs 6 characters here, got 4"),
        ({"10": "x" * 21}, "AI (10) is at most 20 characters here, got 21"),
        ({"30": "123456789"}, "AI (30) is at most 8 characters here, got 9"),
    ],
)
def test_values_that_do_not_fit_their_format_are_refused_by_name(elements: dict[str, str], message: str) -> None:
    with _refused(message):
        compress(elements)


# --------------------------------------------------------------------------------------------- decompression


def test_up_to_eight_bits_after_the_last_element_are_padding() -> None:
    ai_11 = "0001" + "0001" + format(261205, "020b")  # 28 bits
    assert decompress(_segment(ai_11 + "0" * 8)) == ({"11": "261205"}, {})


def test_nine_bits_after_the_last_element_are_read_as_another_element() -> None:
    ai_20 = "0010" + "0000" + format(42, "07b")  # 15 bits
    assert decompress(_segment(ai_20)) == ({"20": "42"}, {})
    with _refused("the compressed Digital Link ends in the middle of a value"):
        decompress(_segment(ai_20 + "0" * 9))  # 0000 0000: AI 00, whose 60 bits are missing


def test_a_segment_of_up_to_1000_characters_is_read() -> None:
    assert is_compressed("A" * 1000)
    assert not is_compressed("A" * 1001)
    with _refused("the compressed Digital Link carries AI (00) twice"):  # read, unlike one character more
        decompress("A" * 1000)
    with _refused("a compressed Digital Link is one path segment of URI-safe base64 characters"):
        decompress("A" * 1001)


def test_a_fixed_number_keeps_within_its_digits() -> None:
    ai_20 = "0010" + "0000"  # N2 in 7 bits, which could hold up to 127
    assert decompress(_segment(ai_20 + format(99, "07b"))) == ({"20": "99"}, {})
    with _refused("the compressed value of AI (20) has more than 2 digits"):
        decompress(_segment(ai_20 + format(100, "07b")))


@pytest.mark.parametrize(
    ("bits", "message"),
    [
        ("0001" * 4, "the compressed Digital Link ends in the middle of a value"),  # AI 11, 20 bits missing
        (AI_10 + "101" + "00001" + "0" * 8, "the compressed Digital Link uses an unknown value encoding (5)"),
        ("0010" + "0011" + "0000", "the compressed Digital Link carries AI (230), which has no compressed form"),
        ("0011" + "0001" + "1010" + "0000", "the compressed Digital Link names AI 31A0, which is not all digits"),
    ],
)
def test_malformed_bits_are_refused_in_full(bits: str, message: str) -> None:
    with _refused(message):
        decompress(_segment(bits))


@pytest.mark.parametrize("segment", ["", "AR+K", "AR=", "AR/K"])
def test_what_is_not_one_base64_segment_is_refused_in_full(segment: str) -> None:
    with _refused("a compressed Digital Link is one path segment of URI-safe base64 characters"):
        decompress(segment)


# --------------------------------------------------------------------------------------------- written out


def test_a_key_without_qualifiers_is_the_whole_path() -> None:
    assert uncompressed({"00": "340123450000000000"}) == ("/00/340123450000000000", "")


def test_attributes_are_in_numeric_order_not_text_order() -> None:
    path, query = uncompressed({"01": GTIN, "8030": "b", "91": "a", "17": "281231"})
    assert (path, query) == (f"/01/{GTIN}", "17=281231&91=a&8030=b")


def test_query_values_are_percent_encoded_slashes_included() -> None:
    path, query = uncompressed({"01": GTIN, "21": "S/1", "91": "a/b"}, {"x": "c/d&e"})
    assert path == f"/01/{GTIN}/21/S%2F1"
    assert query == "91=a%2Fb&x=c%2Fd%26e"


def test_no_primary_key_is_refused_in_full() -> None:
    with _refused("the compressed Digital Link carries no primary key (such as a GTIN, AI 01)"):
        uncompressed({"10": "L1", "17": "281231"})


def test_a_compressed_uri_keeps_its_own_query_after_the_decompressed_one() -> None:
    segment = compress({"01": GTIN, "17": "281231"})
    assert decompress_uri(f"https://id.example/{segment}?foo=bar") == (
        f"https://id.example/01/{GTIN}?17=281231&foo=bar"
    )
    assert decompress_uri(f"https://id.example/{segment}") == f"https://id.example/01/{GTIN}?17=281231"
