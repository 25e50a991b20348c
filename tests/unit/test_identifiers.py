"""Unit tests of GS1 identifiers: check digits, dates, serials and the strict parsing of scanned codes.

Pure domain: no database, no HTTP, no clock.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import replace
from datetime import date
from urllib.parse import quote, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain.errors import InvalidCode, InvalidInput
from app.domain.identifiers import (
    CSET82,
    GS,
    SERIAL_ALPHABET,
    SERIAL_LENGTH,
    ContainerCode,
    UnitCode,
    check_digit,
    date_to_yymmdd,
    digital_link,
    digital_link_prefix,
    element_string,
    parse_code,
    parse_digital_link_path,
    parse_element_string,
    serials_from_random,
    validate_ai_value,
    validate_gtin,
    validate_sscc,
    yymmdd_to_date,
)
from tests.strategies import BASES, CSET82_TEXT, YYMMDD, gtins, unit_codes

GTIN = "09506000134352"  # GS1's own example GTIN (GS1 Digital Link standard)
SSCC = "106141411234567897"
BASE = "https://id.example.com"


def to_digits(zero: int, ascii_digits: str) -> str:
    """The same digits in another Unicode digit block (``zero`` is the code point of that block's 0)."""
    return "".join(chr(zero + int(d)) for d in ascii_digits)


FULL_WIDTH_GTIN = to_digits(0xFF10, GTIN)


def gs1_mod10_ok(number: str) -> bool:
    """Independent reference: a GS1 key is valid when the weighted sum of ALL its digits, weights 1, 3, 1,
    3... from the right (the check digit has weight 1), is a multiple of 10."""
    return sum(int(d) * (1 if i % 2 == 0 else 3) for i, d in enumerate(reversed(number))) % 10 == 0


def raises_invalid(text: str, fragment: str, code: str = "invalid_code") -> InvalidCode:
    with pytest.raises(InvalidCode) as info:
        parse_code(text)
    assert fragment in str(info.value), str(info.value)
    assert info.value.detail == str(info.value)
    assert info.value.code == code
    return info.value


# Inside a bracketed element string a value containing "(NN)" is ambiguous: it reads as the start of a new AI.
_AI_IN_BRACKETS = re.compile(r"\(\d{2,4}\)", re.ASCII)


def unambiguous_in_brackets(code: UnitCode) -> bool:
    return not any(_AI_IN_BRACKETS.search(v) for v in (code.serial, code.lot or ""))


# --------------------------------------------------------------------------------------------- check digits


@pytest.mark.parametrize(
    "gtin",
    [
        "09506000134352",  # GS1 example GTIN used throughout GS1 Digital Link documents
        "09520123456788",  # GS1 Digital Link standard example
        "06291041500213",  # GS1 General Specifications check digit worked example (GTIN-13 6291041500213)
        "00012345600012",  # GTIN-12 012345600012, zero-padded
    ],
)
def test_published_gtins_are_valid(gtin: str) -> None:
    assert gs1_mod10_ok(gtin)  # the example really is valid by the spec's rule
    assert check_digit(gtin[:-1]) == gtin[-1]
    assert validate_gtin(gtin) == gtin


@pytest.mark.parametrize("sscc", ["106141411234567897", "106141412345678908", "376104250021234569"])
def test_published_ssccs_are_valid(sscc: str) -> None:
    assert gs1_mod10_ok(sscc)
    assert check_digit(sscc[:-1]) == sscc[-1]
    assert validate_sscc(sscc) == sscc


def test_check_digit_worked_example() -> None:
    # 0950600013435: weights 3,1,3... from the right give 78, so the check digit is 10 - 8 = 2.
    assert check_digit("0950600013435") == "2"
    # A body whose weighted sum is already a multiple of 10 gets check digit 0, not 10.
    assert check_digit("0000000000000") == "0"
    assert check_digit("0000000000005") == "5"  # 5 * 3 = 15 -> 5
    assert check_digit("0000000000050") == "5"  # 5 * 1 = 5 -> 5


@given(st.text(alphabet="0123456789", min_size=1, max_size=30))
def test_check_digit_agrees_with_the_whole_number_rule(body: str) -> None:
    digit = check_digit(body)
    assert len(digit) == 1 and digit.isdigit()
    assert gs1_mod10_ok(body + digit)
    assert sum(gs1_mod10_ok(body + str(d)) for d in range(10)) == 1


def test_wrong_check_digit_is_named() -> None:
    with pytest.raises(InvalidCode) as info:
        validate_gtin("09506000134353")
    assert info.value.code == "invalid_gtin"
    assert "check digit 3, expected 2" in str(info.value)
    with pytest.raises(InvalidCode) as info:
        validate_sscc("106141411234567890")
    assert info.value.code == "invalid_sscc"
    assert "check digit 0, expected 7" in str(info.value)


@given(gtins())
def test_every_single_digit_error_is_caught(gtin: str) -> None:
    for position in range(14):
        for digit in "0123456789":
            if digit == gtin[position]:
                continue
            mutated = gtin[:position] + digit + gtin[position + 1 :]
            with pytest.raises(InvalidCode) as info:
                validate_gtin(mutated)
            assert info.value.code == "invalid_gtin"
            assert "check digit" in str(info.value)


@given(gtins())
def test_adjacent_transpositions_are_caught_unless_the_digits_differ_by_5(gtin: str) -> None:
    for i in range(13):
        a, b = gtin[i], gtin[i + 1]
        if a == b:
            continue
        swapped = gtin[:i] + b + a + gtin[i + 2 :]
        if abs(int(a) - int(b)) == 5:
            # Weights 3 and 1: the sum changes by 2 * (a - b) = +-10, invisible to mod 10.
            assert validate_gtin(swapped) == swapped
        else:
            with pytest.raises(InvalidCode, match="check digit"):
                validate_gtin(swapped)


def test_transposition_blind_spot_on_a_concrete_gtin() -> None:
    # 0950...: "5" and "0" (positions 3 and 4) differ by 5, so swapping them yields another valid GTIN.
    assert validate_gtin("09056000134352") == "09056000134352"
    # "9" and "5" differ by 4: caught.
    with pytest.raises(InvalidCode, match="check digit"):
        validate_gtin("05906000134352")


@pytest.mark.parametrize(
    "value",
    [
        "",
        "0950600013435",
        "095060001343520",
        "9506000134352",
        "0950600013435 2",
        " 09506000134352",
        "0950600013435X",
    ],
)
def test_gtin_wrong_length_or_not_digits(value: str) -> None:
    with pytest.raises(InvalidCode) as info:
        validate_gtin(value)
    assert info.value.code == "invalid_gtin"
    assert "exactly 14 digits" in str(info.value)


@pytest.mark.parametrize(
    "value",
    [
        FULL_WIDTH_GTIN,  # full-width digits U+FF10..U+FF19
        "0950600013435" + to_digits(0xFF10, "2"),  # one full-width digit
        to_digits(0x0660, GTIN),  # Arabic-Indic digits
        to_digits(0x06F0, GTIN),  # Extended Arabic-Indic (Persian) digits
        "0950600013435²",  # superscript two: str.isdigit() is True for it
    ],
)
def test_gtin_non_ascii_digits_are_rejected(value: str) -> None:
    assert len(value) == 14 and value.isdigit()  # Python would accept these as digits
    with pytest.raises(InvalidCode) as info:
        validate_gtin(value)
    assert info.value.code == "invalid_gtin"
    assert "exactly 14 digits" in str(info.value)


@pytest.mark.parametrize(
    "value", ["10614141123456789", "1061414112345678970", to_digits(0xFF10, "1") + "06141411234567897", ""]
)
def test_sscc_wrong_length_or_not_ascii(value: str) -> None:
    with pytest.raises(InvalidCode) as info:
        validate_sscc(value)
    assert info.value.code == "invalid_sscc"
    assert "exactly 18 digits" in str(info.value)


def test_invalid_code_is_an_invalid_input() -> None:
    with pytest.raises(InvalidInput):
        validate_gtin("1")


# -------------------------------------------------------------------------------------- AI values and dates


def test_validate_ai_value_names_the_character_and_position() -> None:
    with pytest.raises(InvalidCode) as info:
        validate_ai_value("21", "AB CD")
    assert "AI 21 (serial) has ' ' at position 3" in str(info.value)
    with pytest.raises(InvalidCode, match=r"AI 10 \(lot\) is at most 20 characters, got 21"):
        validate_ai_value("10", "L" * 21)
    assert validate_ai_value("10", "L" * 20) == "L" * 20
    with pytest.raises(InvalidCode, match=r"AI 10 \(lot\) is empty"):
        validate_ai_value("10", "")
    with pytest.raises(InvalidCode, match="must be 6 characters, got 5"):
        validate_ai_value("17", "28123")
    with pytest.raises(InvalidCode, match="has month 13"):
        validate_ai_value("17", "281331")
    with pytest.raises(InvalidCode, match="has '-' at position 1"):
        validate_ai_value("17", "-28123")


def test_cset82_is_the_gs1_set() -> None:
    assert len(CSET82) == 82
    for excluded in " #$@[\\]^`{|}~\t\x1d":
        assert excluded not in CSET82
    for included in "!\"%&'()*+,-./:;<=>?_":
        assert included in CSET82


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("281231", date(2028, 12, 31)),
        ("000101", date(2000, 1, 1)),
        ("991231", date(2099, 12, 31)),
        ("280229", date(2028, 2, 29)),  # leap year
        ("280200", date(2028, 2, 29)),  # day 00: last day of the month
        ("290200", date(2029, 2, 28)),
        ("281200", date(2028, 12, 31)),  # December: rolls into next year internally
        ("991200", date(2099, 12, 31)),
        ("280400", date(2028, 4, 30)),
    ],
)
def test_yymmdd_dates(value: str, expected: date) -> None:
    assert yymmdd_to_date(value) == expected


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("281331", "has month 13"),
        ("280031", "has month 00"),
        ("280230", "has no day 30"),
        ("290229", "has no day 29"),
        ("280431", "has no day 31"),
        ("28123", "must be a date as YYMMDD"),
        ("2812311", "must be a date as YYMMDD"),
        ("28-231", "must be a date as YYMMDD"),
        ("٢٨١٢٣١", "must be a date as YYMMDD"),  # Arabic-Indic digits
        (to_digits(0xFF10, "281231"), "must be a date as YYMMDD"),  # full-width digits
        ("²81231", "must be a date as YYMMDD"),  # superscript: isdigit() but int() fails
    ],
)
def test_yymmdd_rejections(value: str, fragment: str) -> None:
    with pytest.raises(InvalidCode) as info:
        yymmdd_to_date(value, ai="15")
    assert fragment in str(info.value)
    assert "AI 15" in str(info.value)


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31)))
def test_yymmdd_round_trip(day: date) -> None:
    text = date_to_yymmdd(day)
    assert len(text) == 6 and text.isascii() and text.isdigit()
    assert yymmdd_to_date(text) == day


@pytest.mark.parametrize("day", [date(1999, 12, 31), date(2100, 1, 1), date(1970, 1, 1)])
def test_date_outside_gs1_century_is_refused(day: date) -> None:
    with pytest.raises(InvalidCode, match="years 2000-2099"):
        date_to_yymmdd(day)


# --------------------------------------------------------------------------------------------- serials


def test_serial_alphabet() -> None:
    assert len(SERIAL_ALPHABET) == 32 == len(set(SERIAL_ALPHABET))
    assert not set(SERIAL_ALPHABET) & set("01OIoi")
    assert set(SERIAL_ALPHABET) <= CSET82
    assert SERIAL_ALPHABET == SERIAL_ALPHABET.upper()
    # EU/US: guessing a serial must be below 1 in 10,000; ours are far below that.
    assert len(SERIAL_ALPHABET) ** SERIAL_LENGTH > 10**18
    assert SERIAL_LENGTH <= 20


@settings(max_examples=200)
@given(st.integers(min_value=0, max_value=20).flatmap(lambda n: st.tuples(st.just(n), st.binary(min_size=n * 12))))
def test_serials_from_random_shape_and_determinism(case: tuple[int, bytes]) -> None:
    count, raw = case
    serials = serials_from_random(raw, count)
    assert len(serials) == count
    for serial in serials:
        assert len(serial) == SERIAL_LENGTH
        assert set(serial) <= set(SERIAL_ALPHABET)
        assert not set(serial) & set("01OI")
        assert validate_ai_value("21", serial) == serial
    assert serials_from_random(bytes(raw), count) == serials  # a function of the bytes only
    # Bytes after the ones needed are ignored.
    assert serials_from_random(raw[: count * SERIAL_LENGTH] + b"\xff" * 7, count) == serials


@given(st.binary(min_size=SERIAL_LENGTH, max_size=SERIAL_LENGTH), st.integers(0, SERIAL_LENGTH - 1))
def test_serials_from_random_each_byte_matters(raw: bytes, index: int) -> None:
    # Changing one byte by a value that is not a multiple of 32 changes the serial, at that position only.
    changed = bytearray(raw)
    changed[index] = (changed[index] + 1) % 256
    before, after = serials_from_random(raw, 1)[0], serials_from_random(bytes(changed), 1)[0]
    assert before != after
    assert [i for i in range(SERIAL_LENGTH) if before[i] != after[i]] == [index]


def test_serials_from_random_is_unbiased() -> None:
    # Each of the 256 byte values used the same number of times: every symbol comes out exactly equally often.
    raw = bytes(range(256)) * 3  # 768 bytes = 64 serials
    serials = serials_from_random(raw, 64)
    counts = Counter("".join(serials))
    assert set(counts) == set(SERIAL_ALPHABET)
    assert set(counts.values()) == {768 // 32}


def test_serials_from_random_needs_enough_bytes() -> None:
    with pytest.raises(ValueError, match="not enough random bytes"):
        serials_from_random(b"\x00" * (2 * SERIAL_LENGTH - 1), 2)
    assert serials_from_random(b"", 0) == []


# ---------------------------------------------------------------------------------------- Digital Link URIs


def test_parse_full_digital_link() -> None:
    code = parse_code(f"https://id.example.com/01/{GTIN}/10/LOT42/21/7Q2K9M4XW8RT?17=281231")
    assert code == UnitCode(GTIN, "7Q2K9M4XW8RT", lot="LOT42", expiry="281231")
    assert code.key == (GTIN, "7Q2K9M4XW8RT")


@pytest.mark.parametrize(
    "host",
    [
        "id.example.com",
        "localhost:8000",
        "192.168.0.10",
        "[::1]:8443",
        "xn--fiqs8s.cn",
        "a.b.c.d.example.org",
    ],
)
@pytest.mark.parametrize("scheme", ["https", "http", "HTTPS", "Http"])
def test_any_host_and_http_or_https(scheme: str, host: str) -> None:
    assert parse_code(f"{scheme}://{host}/01/{GTIN}/21/ABC") == UnitCode(GTIN, "ABC")


@pytest.mark.parametrize("scheme", ["ftp", "file", "gs1", "mailto-ish"])
def test_other_schemes_are_refused(scheme: str) -> None:
    raises_invalid(f"{scheme}://host/01/{GTIN}/21/ABC", "must use http or https")


@pytest.mark.parametrize(
    ("text", "serial"),
    [
        ("(01)00000000000000(21)://", "://"),  # found by Hypothesis in test_element_string_round_trip
        (f"(01){GTIN}(21)a://b", "a://b"),
        (f"(01){GTIN}(21)http://x", "http://x"),
        (f"01{GTIN}21ftp://x", "ftp://x"),  # a raw element string starts with an AI, never with a scheme
        (f"]d201{GTIN}21://", "://"),
    ],
)
def test_colon_slash_slash_inside_an_element_string_is_data_not_a_scheme(text: str, serial: str) -> None:
    """':' and '/' are in the 82 set: a serial may contain "://" and must not be refused as a foreign URI."""
    assert parse_code(text) == UnitCode(text[4:18] if text.startswith("(") else GTIN, serial)


def test_malformed_uri_is_refused() -> None:
    raises_invalid(f"https:///01/{GTIN}/21/ABC", "not a well-formed http(s) URI")


@pytest.mark.parametrize("prefix", ["", "/dl", "/a/b/c", "/products/gs1/v1", "/01x", "/21/10"])
def test_path_prefix_before_the_key(prefix: str) -> None:
    assert parse_code(f"https://x.test{prefix}/01/{GTIN}/10/L1/21/S1") == UnitCode(GTIN, "S1", lot="L1")


def test_percent_encoded_values_are_decoded() -> None:
    code = parse_code(f"https://x.test/01/{GTIN}/10/A%2FB%25C/21/S%3Fx%2f%26%22")
    assert code == UnitCode(GTIN, 'S?x/&"', lot="A/B%C")


def test_sub_delims_may_appear_unencoded() -> None:
    code = parse_code(f"https://x.test/01/{GTIN}/10/a!'()*+,;=:/21/-._")
    assert code == UnitCode(GTIN, "-._", lot="a!'()*+,;=:")


def test_qualifier_order_21_before_10_is_refused() -> None:
    raises_invalid(f"https://x.test/01/{GTIN}/21/S1/10/L1", "qualifier /10/ is in the wrong place")


def test_qualifier_order_22_after_10_is_refused() -> None:
    raises_invalid(f"https://x.test/01/{GTIN}/10/L1/22/V1/21/S1", "qualifier /22/ is in the wrong place")


def test_repeated_path_qualifier_is_refused() -> None:
    raises_invalid(f"https://x.test/01/{GTIN}/10/L1/10/L2/21/S1", "qualifier /10/ is in the wrong place")


@pytest.mark.parametrize("ai", ["10", "21", "22"])
def test_qualifier_in_the_query_is_refused(ai: str) -> None:
    raises_invalid(f"https://x.test/01/{GTIN}/21/S1?{ai}=X", "belongs in the path, not the query")


@pytest.mark.parametrize("ai", ["01", "00"])
def test_primary_key_in_the_query_is_refused(ai: str) -> None:
    err = raises_invalid(f"https://x.test/01/{GTIN}/21/S1?{ai}={GTIN}", "belongs in the path")
    assert "is a key" in str(err)


@pytest.mark.parametrize(
    "uri",
    [
        f"https://x.test/01/{GTIN}/21/S1/",
        f"https://x.test/01/{GTIN}/",
        f"https://x.test/01/{GTIN}/21/S1/?17=281231",
    ],
)
def test_trailing_slash_is_refused(uri: str) -> None:
    raises_invalid(uri, "trailing slash")


@pytest.mark.parametrize(
    ("segment", "fragment"),
    [
        ("S%2", "'%' not followed by two hex digits"),
        ("S%", "'%' not followed by two hex digits"),
        ("S%ZZ", "'%' not followed by two hex digits"),
        ("S%G1", "'%' not followed by two hex digits"),
        ("S%FF", "percent-decodes to bytes that are not UTF-8"),
        ("S%C3", "percent-decodes to bytes that are not UTF-8"),  # truncated UTF-8 sequence
        ("S%C0%AF", "percent-decodes to bytes that are not UTF-8"),  # overlong encoding of '/'
    ],
)
def test_bad_percent_encoding(segment: str, fragment: str) -> None:
    err = raises_invalid(f"https://x.test/01/{GTIN}/21/{segment}", fragment)
    assert "/21/" in str(err)


def test_bad_percent_encoding_in_the_query() -> None:
    raises_invalid(f"https://x.test/01/{GTIN}/21/S1?17=2812%3", "query parameter 17 has a '%' not followed")


@pytest.mark.parametrize(
    ("segment", "char"),
    [
        ("S%20T", "' '"),
        ("S%23", "'#'"),
        ("S~", "'~'"),
        ("S%7E", "'~'"),
        ("S%5B", "'['"),
        ("S%C3%A9", "'é'"),  # valid UTF-8, but outside the 82 set
        ("S%1D", "'\\x1d'"),
    ],
)
def test_characters_outside_cset82_are_refused(segment: str, char: str) -> None:
    err = raises_invalid(f"https://x.test/01/{GTIN}/21/{segment}", "outside the allowed character set")
    assert char in str(err)
    assert "AI 21 (serial)" in str(err)


@pytest.mark.parametrize("raw", ["S T", 'S"T', "S<T", "S^T", "S|T", "Sé"])
def test_unencoded_characters_in_the_uri_are_refused(raw: str) -> None:
    err = raises_invalid(f"https://x.test/01/{GTIN}/21/{raw}", "must be percent-encoded in a URI")
    assert repr(raw[1]) in str(err)


def test_full_width_gtin_in_the_uri() -> None:
    raises_invalid(f"https://x.test/01/{FULL_WIDTH_GTIN}/21/S", "must be percent-encoded in a URI")
    encoded = quote(FULL_WIDTH_GTIN, safe="")
    raises_invalid(f"https://x.test/01/{encoded}/21/S", "exactly 14 digits", code="invalid_gtin")


def test_lot_and_serial_length_limits() -> None:
    assert parse_code(f"https://x.test/01/{GTIN}/10/{'L' * 20}/21/{'S' * 20}") == UnitCode(GTIN, "S" * 20, "L" * 20)
    raises_invalid(f"https://x.test/01/{GTIN}/10/{'L' * 21}/21/S", "AI 10 (lot) is at most 20 characters, got 21")
    raises_invalid(f"https://x.test/01/{GTIN}/21/{'S' * 21}", "AI 21 (serial) is at most 20 characters, got 21")
    # Length is counted after decoding: 20 characters written as 60 percent-escapes are fine.
    assert parse_code(f"https://x.test/01/{GTIN}/21/{'%41' * 20}") == UnitCode(GTIN, "A" * 20)


def test_empty_values_are_refused() -> None:
    raises_invalid(f"https://x.test/01/{GTIN}/10//21/S", "AI 10 (lot) is empty")
    raises_invalid(f"https://x.test/01/{GTIN}/21/S?17=", "AI 17 (expiry date) is empty")
    raises_invalid(f"https://x.test/01/{GTIN}/21/S?17", "query parameter 17 has no value")


@pytest.mark.parametrize(
    ("uri", "fragment"),
    [
        (f"https://x.test/01/{GTIN}/99/X/21/S", "/99/ is not a path qualifier"),
        (f"https://x.test/01/{GTIN}/21/S/99/X", "/99/ is not a path qualifier"),
        (f"https://x.test/01/{GTIN}/17/281231/21/S", "/17/ is not a path qualifier"),
        (f"https://x.test/01/{GTIN}/01/{GTIN}/21/S", "/01/ is not a path qualifier"),
        (f"https://x.test/01/{GTIN}/21/S?99=1", "query parameter 99 is not an AI Passport reads"),
        (f"https://x.test/01/{GTIN}/21/S?7003=2812311200", "query parameter 7003 is not an AI"),
    ],
)
def test_unknown_ai_is_refused(uri: str, fragment: str) -> None:
    raises_invalid(uri, fragment)


def test_duplicate_ai_in_the_query_is_refused() -> None:
    raises_invalid(f"https://x.test/01/{GTIN}/21/S?17=281231&17=281231", "AI (17) appears twice")
    raises_invalid(f"https://x.test/01/{GTIN}/21/S?17=281231&17=291231", "AI (17) appears twice")


def test_non_ai_query_parameters_are_ignored() -> None:
    code = parse_code(f"https://x.test/01/{GTIN}/21/S?lang=zh&17=281231&utm_source=qr&&x=%ZZ&flag#frag")
    assert code == UnitCode(GTIN, "S", expiry="281231")


def test_fragment_is_ignored() -> None:
    assert parse_code(f"https://x.test/01/{GTIN}/21/S#17=991231") == UnitCode(GTIN, "S")


def test_signature_in_the_query() -> None:
    sig = "A" * 88
    assert parse_code(f"https://x.test/01/{GTIN}/21/S?8030={sig}").signature == sig
    raises_invalid(f"https://x.test/01/{GTIN}/21/S?8030={'A' * 91}", "AI 8030 (digital signature) is at most 90")
    raises_invalid(f"https://x.test/01/{GTIN}/21/S?8030=AB%2BC", "has '+' at position 3")


@pytest.mark.parametrize(
    ("expiry", "fragment"),
    [
        ("281331", "has month 13"),
        ("280230", "has no day 30"),
        ("280001", "has month 00"),
        ("2812", "must be 6"),
    ],
)
def test_bad_expiry_in_the_uri(expiry: str, fragment: str) -> None:
    err = raises_invalid(f"https://x.test/01/{GTIN}/21/S?17={expiry}", fragment)
    assert "17" in str(err)


@pytest.mark.parametrize("expiry", ["281231", "280200", "280229", "000101", "991231"])
def test_good_expiry_in_the_uri(expiry: str) -> None:
    assert parse_code(f"https://x.test/01/{GTIN}/21/S?17={expiry}").expiry == expiry


def test_sscc_uri() -> None:
    assert parse_code(f"https://x.test/00/{SSCC}") == ContainerCode(SSCC)
    assert parse_code(f"https://x.test/logistics/00/{SSCC}?lang=en") == ContainerCode(SSCC)
    raises_invalid("https://x.test/00/106141411234567890", "check digit 0, expected 7", code="invalid_sscc")
    raises_invalid("https://x.test/00/10614141123456789", "exactly 18 digits", code="invalid_sscc")


def test_sscc_uri_with_qualifiers_or_attributes_is_refused() -> None:
    raises_invalid(f"https://x.test/00/{SSCC}/21/S", "an SSCC URI takes no path qualifiers, found /21/")
    raises_invalid(f"https://x.test/00/{SSCC}/10/L", "an SSCC URI takes no path qualifiers, found /10/")
    raises_invalid(f"https://x.test/00/{SSCC}?17=281231", "carries no other AIs, found 17")


@pytest.mark.parametrize(
    ("uri", "fragment"),
    [
        ("https://x.test/", "no /01/{gtin} or /00/{sscc}"),
        ("https://x.test", "no /01/{gtin} or /00/{sscc}"),
        ("https://x.test/02/09506000134352/21/S", "no /01/{gtin} or /00/{sscc}"),
        (f"https://x.test/01/{GTIN}", "no serial (AI 21): not a unit code"),
        (f"https://x.test/01/{GTIN}/10/L1", "no serial (AI 21)"),
        (f"https://x.test/01/{GTIN}/21", "an AI (21) with no value after it"),
        ("https://x.test/01/09506000134353/21/S", "check digit 3, expected 2"),
    ],
)
def test_incomplete_uris(uri: str, fragment: str) -> None:
    err = raises_invalid(uri, fragment, code="invalid_gtin" if "check digit" in fragment else "invalid_code")
    assert isinstance(err, InvalidCode)


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_empty_code(text: str) -> None:
    raises_invalid(text, "the code is empty")


def test_surrounding_whitespace_is_stripped() -> None:
    assert parse_code(f"  https://x.test/01/{GTIN}/21/S \n") == UnitCode(GTIN, "S")


def test_parse_digital_link_path_takes_raw_path_and_query() -> None:
    assert parse_digital_link_path(f"/01/{GTIN}/10/A%2FB/21/S", "17=281231&8030=" + "_" * 88) == UnitCode(
        GTIN, "S", lot="A/B", expiry="281231", signature="_" * 88
    )


# ------------------------------------------------------------------------------------------ element strings


def test_bracketed_element_string() -> None:
    text = f"(01){GTIN}(21)7Q2K9M4XW8RT(10)LOT42(17)281231"
    assert parse_code(text) == UnitCode(GTIN, "7Q2K9M4XW8RT", lot="LOT42", expiry="281231")
    # AI order does not matter in an element string.
    assert parse_code(f"(17)281231(10)LOT42(01){GTIN}(21)7Q2K9M4XW8RT") == parse_code(text)
    assert parse_code(f"(00){SSCC}") == ContainerCode(SSCC)


@pytest.mark.parametrize(
    ("text", "fragment", "code"),
    [
        (f"(01){GTIN}(21)A(21)B", "AI (21) appears twice", "invalid_code"),
        (f"(01){GTIN}(99)X(21)A", "AI (99) is not one Passport reads", "invalid_code"),
        (f"(01){GTIN}(123)X(21)A", "AI (123) is not one Passport reads", "invalid_code"),
        (f"(01){GTIN}(10)LOT", "no serial (AI 21)", "invalid_code"),
        ("(21)ABC", "no GTIN (AI 01) or SSCC (AI 00)", "invalid_code"),
        ("(01)09506000134353(21)A", "check digit 3, expected 2", "invalid_gtin"),
        (f"(01){GTIN}(21)", "AI 21 (serial) is empty", "invalid_code"),
        (f"(01){GTIN}(21)A B", "has ' ' at position 2", "invalid_code"),
        (f"(01){GTIN}(21)A(17)281331", "has month 13", "invalid_code"),
        (f"(00){SSCC}(21)A", "an SSCC element string carries no other AIs, found 21", "invalid_code"),
    ],
)
def test_bracketed_errors(text: str, fragment: str, code: str) -> None:
    raises_invalid(text, fragment, code)


def test_bracketed_must_start_with_an_ai() -> None:
    with pytest.raises(InvalidCode, match="must start with '\\(' and an AI"):
        parse_element_string(f"x(01){GTIN}(21)A")
    with pytest.raises(InvalidCode, match="unexpected text '\\(x\\)' before the first AI"):
        parse_element_string(f"(x)(01){GTIN}(21)A")


def test_bracketed_ambiguity_with_ai_like_text_in_a_value() -> None:
    """Known limitation of the human-readable form: '(NN)' inside a value reads as a new AI."""
    code = UnitCode(GTIN, "A(10)B")
    text = element_string(code)
    assert text == f"(01){GTIN}(21)A(10)B"
    assert parse_code(text) == UnitCode(GTIN, "A", lot="B")  # not the code we wrote
    with pytest.raises(InvalidCode, match="appears twice"):
        parse_code(element_string(UnitCode(GTIN, "A(10)B", lot="L")))
    # The Digital Link form has no such ambiguity.
    assert parse_code(digital_link(BASE, code)) == code


@pytest.mark.parametrize(
    "text",
    [
        f"]d201{GTIN}21ABC{GS}10LOT42{GS}17281231",
        f"]Q301{GTIN}21ABC<GS>10LOT42<GS>17281231",
        f"01{GTIN}21ABC{GS}10LOT42{GS}17281231",
        f"{GS}01{GTIN}21ABC{GS}10LOT42{GS}17281231{GS}",  # leading FNC1 as GS, trailing GS
        f"]C101{GTIN}1728123121ABC{GS}10LOT42",  # fixed-length 17 needs no separator
        f"]d201{GTIN}17281231{GS}10LOT42<GS>21ABC",  # mixed separators
    ],
)
def test_raw_element_strings(text: str) -> None:
    assert parse_code(text) == UnitCode(GTIN, "ABC", lot="LOT42", expiry="281231")


def test_raw_element_string_with_signature_and_sscc() -> None:
    sig = "-" * 44 + "_" * 44
    assert parse_code(f"]d201{GTIN}21S1{GS}8030{sig}") == UnitCode(GTIN, "S1", signature=sig)
    assert parse_code(f"]d200{SSCC}") == ContainerCode(SSCC)


def test_dropped_gs_is_detected_when_the_value_becomes_too_long() -> None:
    err = raises_invalid(
        f"]d201{GTIN}21{'S' * 15}10LOT42{GS}17281231", "a group separator (FNC1/GS) was probably dropped"
    )
    assert "AI (21) serial runs to 22 characters (max 20)" in str(err)
    raises_invalid(f"01{GTIN}10{'L' * 18}21SERIAL", "AI (10) lot runs to 26 characters")


def test_literal_gs_text_in_a_value_reads_as_a_separator() -> None:
    """Known limitation: '<GS>' is four characters of the 82 set, but scanners show FNC1 that way, so a
    raw element string takes it for a separator. The result is an error naming the leftover, not a guess."""
    err = raises_invalid(f"01{GTIN}21A<GS>B", "no known AI at position 21")
    assert "'B'" in str(err)
    # The Digital Link form carries such a serial unambiguously.
    assert parse_code(digital_link(BASE, UnitCode(GTIN, "A<GS>B"))) == UnitCode(GTIN, "A<GS>B")


def test_dropped_gs_in_a_short_value_is_not_detectable() -> None:
    """Documented limitation: '21ABC' + '10LOT' without a separator is a valid serial 'ABC10LOT'."""
    assert parse_code(f"01{GTIN}21ABC10LOT") == UnitCode(GTIN, "ABC10LOT")


@pytest.mark.parametrize(
    ("text", "fragment", "code"),
    [
        (f"]d2{GTIN}", "no known AI at position 1", "invalid_code"),
        (f"]d201{GTIN}99X", "no known AI at position 17", "invalid_code"),
        ("]d20109506000134", "exactly 14 digits", "invalid_gtin"),  # truncated GTIN
        (f"]d201{GTIN[:10]}{GS}4352", "exactly 14 digits", "invalid_gtin"),  # GS inside a fixed-length field
        (f"]d201{GTIN}21{GS}10L", "AI 21 (serial) is empty", "invalid_code"),
        (f"]d201{GTIN}21A{GS}21B", "AI (21) appears twice", "invalid_code"),
        (f"]d201{GTIN}", "no serial (AI 21)", "invalid_code"),
        (f"]d201{GTIN}21A 1", "has ' ' at position 2", "invalid_code"),
        (f"]d201{GTIN}21A{GS}17280230", "has no day 30", "invalid_code"),
        (f"]d200{SSCC}21A", "carries no other AIs", "invalid_code"),
        (f"]x101{GTIN}21A", "no known AI at position 1", "invalid_code"),
    ],
)
def test_raw_element_string_errors(text: str, fragment: str, code: str) -> None:
    raises_invalid(text, fragment, code)


# --------------------------------------------------------------------------------------------- round trips


@settings(max_examples=300)
@given(BASES, unit_codes())
def test_digital_link_round_trip(base: str, code: UnitCode) -> None:
    uri = digital_link(base, code)
    assert parse_code(uri) == code
    assert "//01/" not in uri  # base's trailing slash is not doubled
    parts = urlsplit(uri)
    assert parse_digital_link_path(parts.path, parts.query) == code


@settings(max_examples=300)
@given(unit_codes(with_signature=False).filter(unambiguous_in_brackets))
def test_element_string_round_trip(code: UnitCode) -> None:
    text = element_string(code)
    assert text.startswith(f"(01){code.gtin}(21)")
    assert parse_code(text) == code


@given(BASES, gtins(), CSET82_TEXT, st.binary(min_size=SERIAL_LENGTH, max_size=SERIAL_LENGTH), YYMMDD)
def test_digital_link_prefix_plus_serial_is_the_path(base: str, gtin: str, lot: str, raw: bytes, expiry: str) -> None:
    serial = serials_from_random(raw, 1)[0]
    code = UnitCode(gtin, serial, lot=lot, expiry=expiry, signature="A" * 88)
    uri = digital_link(base, code)
    path_part, _, query = uri.partition("?")
    assert digital_link_prefix(base, gtin, lot) + serial == path_part
    assert query == f"17={expiry}&8030={'A' * 88}"


@given(BASES, gtins(), CSET82_TEXT, CSET82_TEXT)
def test_digital_link_prefix_with_any_serial(base: str, gtin: str, lot: str, serial: str) -> None:
    uri = digital_link(base, UnitCode(gtin, serial, lot=lot))
    assert digital_link_prefix(base, gtin, lot) + quote(serial, safe="") == uri
    assert parse_code(uri) == UnitCode(gtin, serial, lot=lot)


def test_digital_link_exact_form() -> None:
    code = UnitCode(GTIN, "S/1?", lot="L%1", expiry="281231", signature="x" * 88)
    assert digital_link("https://id.example.com/", code) == (
        f"https://id.example.com/01/{GTIN}/10/L%251/21/S%2F1%3F?17=281231&8030={'x' * 88}"
    )
    assert digital_link(BASE, UnitCode(GTIN, "S")) == f"{BASE}/01/{GTIN}/21/S"
    assert element_string(replace(code, serial="S1")) == f"(01){GTIN}(21)S1(10)L%1(17)281231"
