"""GS1 parsing rules that no other test pinned: the date checks of AI 11, 15 and 16, the length limit of AI 22,
four-digit AIs in brackets, empty query segments, and the exact texts of the refusals.

Pure domain: no database, no HTTP. Expected values are written out, never read from app.domain.identifiers.
"""

from __future__ import annotations

from datetime import date

import pytest

from app.domain.errors import InvalidCode
from app.domain.identifiers import (
    ContainerCode,
    ProductCode,
    UnitCode,
    date_to_yymmdd,
    digital_link,
    digital_link_prefix,
    parse_code,
    parse_digital_link_path,
    parse_element_string,
    parse_scan_path,
    serials_from_random,
    validate_ai_value,
    validate_gtin,
    yymmdd_to_date,
)

GTIN = "09506000134352"
SSCC = "106141411234567897"
SIG = "Ab-_" * 22  # 88 characters of the URI-safe base64 alphabet
URI = f"https://id.example.com/01/{GTIN}/21/S1"


def refused(text: str) -> str:
    with pytest.raises(InvalidCode) as info:
        parse_code(text)
    return str(info.value)


# --------------------------------------------------------------------------------------------- date AIs


@pytest.mark.parametrize("ai", ["11", "15", "16", "17"])
@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("261301", "date 261301 has month 13"),
        ("260001", "date 260001 has month 00"),
        ("260230", "date 260230 has no day 30 in that month"),
        ("250229", "date 250229 has no day 29 in that month"),  # 2025 is not a leap year
    ],
)
def test_every_date_ai_checks_its_date(ai: str, value: str, message: str) -> None:
    with pytest.raises(InvalidCode) as info:
        validate_ai_value(ai, value)
    assert str(info.value) == f"AI {ai} {message}"
    assert f"AI {ai} {message}" == refused(f"(01){GTIN}(21)S1({ai}){value}")
    assert f"AI {ai} {message}" == refused(f"{URI}?{ai}={value}")


@pytest.mark.parametrize("ai", ["11", "15", "16", "17"])
@pytest.mark.parametrize("value", ["280229", "240229", "261231", "260200", "000101", "991231"])
def test_valid_dates_of_every_date_ai(ai: str, value: str) -> None:
    assert validate_ai_value(ai, value) == value


@pytest.mark.parametrize("ai", ["11", "15", "16", "17"])
@pytest.mark.parametrize("value", ["2601", "2601011", "26-1-1"])
def test_date_ais_are_six_digits(ai: str, value: str) -> None:
    with pytest.raises(InvalidCode) as info:
        validate_ai_value(ai, value)
    assert f"AI {ai}" in str(info.value)


def test_attribute_dates_other_than_expiry_are_checked_but_not_kept() -> None:
    code = parse_code(f"(01){GTIN}(21)S1(11)260101(15)270131(16)270115")
    assert code == UnitCode(GTIN, "S1")
    assert parse_code(f"{URI}?11=260101&15=270131&16=270115&17=270228") == UnitCode(GTIN, "S1", expiry="270228")


def test_day_00_is_the_last_day_of_the_month() -> None:
    assert yymmdd_to_date("260200") == date(2026, 2, 28)
    assert yymmdd_to_date("240200") == date(2024, 2, 29)
    assert yymmdd_to_date("261200") == date(2026, 12, 31)
    assert yymmdd_to_date("261100") == date(2026, 11, 30)
    assert yymmdd_to_date("260100") == date(2026, 1, 31)


def test_the_ai_named_in_a_date_error_defaults_to_17() -> None:
    with pytest.raises(InvalidCode) as info:
        yymmdd_to_date("261301")
    assert str(info.value) == "AI 17 date 261301 has month 13"
    with pytest.raises(InvalidCode) as info:
        yymmdd_to_date("26131")
    assert str(info.value) == "AI 17 must be a date as YYMMDD, got '26131'"
    with pytest.raises(InvalidCode) as info:
        yymmdd_to_date("26０101")  # a full-width digit is a digit, but not an ASCII one
    assert "must be a date as YYMMDD" in str(info.value)


# --------------------------------------------------------------------------------------------- lengths


@pytest.mark.parametrize(("ai", "name"), [("22", "consumer product variant"), ("10", "lot"), ("21", "serial")])
def test_variable_length_ais_take_up_to_20_characters(ai: str, name: str) -> None:
    assert validate_ai_value(ai, "V" * 20) == "V" * 20
    assert validate_ai_value(ai, "V") == "V"
    with pytest.raises(InvalidCode) as info:
        validate_ai_value(ai, "V" * 21)
    assert str(info.value) == f"AI {ai} ({name}) is at most 20 characters, got 21"


def test_ai_22_in_a_uri_path_and_an_element_string() -> None:
    assert parse_code(f"https://id.example.com/01/{GTIN}/22/{'V' * 20}/21/S1") == UnitCode(GTIN, "S1")
    assert "AI 22 (consumer product variant) is at most 20 characters, got 21" in refused(
        f"https://id.example.com/01/{GTIN}/22/{'V' * 21}/21/S1"
    )
    assert "AI 22 (consumer product variant) is at most 20 characters" in refused(f"(01){GTIN}(22){'V' * 21}(21)S1")


def test_fixed_length_ais_name_their_length() -> None:
    with pytest.raises(InvalidCode) as info:
        validate_ai_value("17", "2612")
    assert str(info.value) == "AI 17 (expiry date) must be 6 characters, got 4: '2612'"


def test_the_signature_is_at_most_90_characters_of_base64url() -> None:
    assert validate_ai_value("8030", "A" * 90) == "A" * 90
    with pytest.raises(InvalidCode) as info:
        validate_ai_value("8030", "A" * 91)
    assert str(info.value) == "AI 8030 (digital signature) is at most 90 characters, got 91"
    with pytest.raises(InvalidCode) as info:
        validate_ai_value("8030", "AB+C")
    assert str(info.value) == "AI 8030 (digital signature) has '+' at position 3, outside the allowed character set"


def test_an_empty_value_is_named() -> None:
    with pytest.raises(InvalidCode) as info:
        validate_ai_value("10", "")
    assert str(info.value) == "AI 10 (lot) is empty"


# --------------------------------------------------------------------------------------------- 4-digit AIs


def test_a_bracketed_four_digit_ai_is_read() -> None:
    assert parse_code(f"(01){GTIN}(21)S1(8030){SIG}") == UnitCode(GTIN, "S1", signature=SIG)
    assert parse_element_string(f"(8030){SIG}(01){GTIN}(17)270228(21)S1") == UnitCode(
        GTIN, "S1", expiry="270228", signature=SIG
    )


def test_bracketed_ais_of_two_to_four_digits() -> None:
    # '(' and ')' are in the 82 set: brackets around one digit or five are part of the value, not an AI.
    assert parse_code(f"(01){GTIN}(21)S1(99999)X") == UnitCode(GTIN, "S1(99999)X")
    assert parse_code(f"(01){GTIN}(21)S1(7)X") == UnitCode(GTIN, "S1(7)X")
    assert refused(f"(01){GTIN}(21)S1(123)X") == "AI (123) is not one Passport reads"  # three digits: an AI
    assert refused(f"(01){GTIN}(21)S1(8031)X") == "AI (8031) is not one Passport reads"


def test_a_raw_four_digit_ai_is_read() -> None:
    assert parse_code(f"01{GTIN}21S1\x1d8030{SIG}") == UnitCode(GTIN, "S1", signature=SIG)


# --------------------------------------------------------------------------------------------- query strings


@pytest.mark.parametrize(
    "query",
    [
        f"17=270101&&8030={SIG}",
        f"&17=270101&8030={SIG}",
        f"17=270101&8030={SIG}&",
        f"&&17=270101&&&8030={SIG}&&",
        f"17=270101&linkType=gs1:pip&8030={SIG}",
        f"17=270101&=x&8030={SIG}",
    ],
)
def test_empty_and_foreign_query_segments_are_skipped_not_the_end(query: str) -> None:
    expected = UnitCode(GTIN, "S1", expiry="270101", signature=SIG)
    assert parse_code(f"{URI}?{query}") == expected
    assert parse_digital_link_path(f"/01/{GTIN}/21/S1", query) == expected


def test_a_query_ai_without_a_value_is_refused() -> None:
    assert refused(f"{URI}?17") == "query parameter 17 has no value"
    assert refused(f"{URI}?17=") == "AI 17 (expiry date) is empty"


def test_query_refusals_name_the_parameter() -> None:
    assert refused(f"{URI}?99=1") == "query parameter 99 is not an AI Passport reads"
    assert refused(f"{URI}?21=S2") == "AI 21 (serial) is a qualifier: it belongs in the path, not the query"
    assert refused(f"{URI}?01={GTIN}") == "AI 01 (GTIN) is a key: it belongs in the path, not the query"
    assert refused(f"{URI}?17=27%G1") == "query parameter 17 has a '%' not followed by two hex digits"


# --------------------------------------------------------------------------------------------- path refusals


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/gtin/1", "the URI path has no /01/{gtin} or /00/{sscc}"),
        (f"/01/{GTIN}/21/S1/", "the URI path ends with '/': remove the trailing slash"),
        (f"/01/{GTIN}/21", "the URI path has an AI (21) with no value after it"),
        (f"/00/{SSCC}/21/S1", "an SSCC URI takes no path qualifiers, found /21/"),
        (
            f"/01/{GTIN}/17/270101/21/S1",
            "/17/ is not a path qualifier of a GTIN (allowed: /22/, /10/, /21/ in that order)",
        ),
        (
            f"/01/{GTIN}/21/S1/10/L",
            "qualifier /10/ is in the wrong place: the order is /22/ then /10/ (lot) then /21/ (serial)",
        ),
        (f"/01/{GTIN}/10/L/10/M/21/S", "qualifier /10/ is in the wrong place"),
        (f"/01/{GTIN}/21/S%2", "the value of /21/ has a '%' not followed by two hex digits"),
        (f"/01/{GTIN}/21/S%FF", "the value of /21/ percent-decodes to bytes that are not UTF-8"),
        (f"/01/{GTIN}/21/S^", "the value of /21/ contains '^', which must be percent-encoded in a URI"),
    ],
)
def test_path_refusals(path: str, message: str) -> None:
    with pytest.raises(InvalidCode) as info:
        parse_digital_link_path(path)
    assert str(info.value).startswith(message)


def test_a_root_slash_alone_is_not_a_trailing_slash() -> None:
    assert parse_digital_link_path(f"/01/{GTIN}/22/V/10/L/21/S") == UnitCode(GTIN, "S", lot="L")
    assert parse_digital_link_path(f"/00/{SSCC}") == ContainerCode(SSCC)


def test_percent_decoding_of_multibyte_and_reserved_characters() -> None:
    assert parse_digital_link_path(f"/01/{GTIN}/21/A%2FB%3f") == UnitCode(GTIN, "A/B?")
    assert parse_digital_link_path(f"/01/{GTIN}/10/%41%62/21/S") == UnitCode(GTIN, "S", lot="Ab")


# --------------------------------------------------------------------------------------------- other refusals


def test_element_string_refusals_name_the_source() -> None:
    assert refused(f"(00){SSCC}(21)S1(10)L") == "an SSCC element string carries no other AIs, found 10, 21"
    assert refused("(10)L(21)S") == "the element string has no GTIN (AI 01) or SSCC (AI 00)"
    assert refused(f"(01){GTIN}") == f"the element string has GTIN {GTIN} but no serial (AI 21): not a unit code"
    assert refused(f"01{GTIN}") == (
        f"the scanned element string has GTIN {GTIN} but no serial (AI 21): not a unit code"
    )
    with pytest.raises(InvalidCode) as info:
        parse_digital_link_path(f"/01/{GTIN}")
    assert str(info.value) == f"the Digital Link URI has GTIN {GTIN} but no serial (AI 21): not a unit code"


def test_other_schemes_and_malformed_uris() -> None:
    assert refused(f"ftp://id.example.com/01/{GTIN}/21/S1") == "a Digital Link URI must use http or https"
    assert refused(f"git+ssh://h/01/{GTIN}/21/S1") == "a Digital Link URI must use http or https"
    assert refused(f"https:///01/{GTIN}/21/S1") == "the code is not a well-formed http(s) URI"
    assert refused("   ") == "the code is empty"


def test_raw_element_string_refusals() -> None:
    assert refused(f"01{GTIN}21S1\x1d99X") == "no known AI at position 22 of the scanned data ('99X'...)"
    assert refused(f"01{GTIN}21{'S' * 21}") == (
        "AI (21) serial runs to 21 characters (max 20): a group separator (FNC1/GS) was probably dropped by the scanner"
    )


def test_check_digit_refusals() -> None:
    assert refused(f"(01){GTIN[:-1]}3(21)S") == f"GTIN {GTIN[:-1]}3 has check digit 3, expected 2"
    assert refused("(00)106141411234567890") == "SSCC 106141411234567890 has check digit 0, expected 7"
    assert refused("(01)123(21)S") == "GTIN must be exactly 14 digits, got '123'"


def test_more_refusal_texts() -> None:
    with pytest.raises(ValueError) as error:
        serials_from_random(b"\x00" * 23, 2)
    assert str(error.value) == "not enough random bytes for the serials asked for"
    with pytest.raises(InvalidCode) as info:
        parse_element_string(f"01{GTIN}")
    assert str(info.value) == "a bracketed element string must start with '(' and an AI, e.g. (01)"
    # The leftover shown is the next four characters.
    assert refused(f"01{GTIN}21S1\x1d99XYZ") == "no known AI at position 22 of the scanned data ('99XY'...)"


def test_a_key_with_nothing_after_its_slash_is_a_trailing_slash() -> None:
    with pytest.raises(InvalidCode) as info:
        parse_digital_link_path("/01/")
    assert str(info.value) == "the URI path ends with '/': remove the trailing slash"


def test_the_prefix_strips_only_slashes_from_the_base() -> None:
    assert digital_link_prefix("https://h.example/X/", GTIN, "L/1") == f"https://h.example/X/01/{GTIN}/10/L%2F1/21/"


def test_the_last_writable_date_is_in_2099() -> None:
    assert date_to_yymmdd(date(2099, 12, 31)) == "991231"
    assert date_to_yymmdd(date(2000, 1, 1)) == "000101"
    with pytest.raises(InvalidCode):
        date_to_yymmdd(date(2100, 1, 1))


def test_a_unit_uri_strips_only_slashes_from_the_base() -> None:
    assert digital_link("https://h.example/X/", UnitCode(GTIN, "S")) == f"https://h.example/X/01/{GTIN}/21/S"


@pytest.mark.parametrize("printed", ["95012346", "012345678905", "4006381333931"])
def test_a_gtin_printed_as_ean_8_upc_a_or_ean_13_gets_the_14_digit_hint(printed: str) -> None:
    with pytest.raises(InvalidCode) as info:
        validate_gtin(printed)
    assert str(info.value) == (
        f"GTIN must be exactly 14 digits, got {printed!r} ({len(printed)} digits): "
        f"write it with leading zeros, {printed.zfill(14)!r}"
    )


@pytest.mark.parametrize("value", ["950123460", "01234567890", "12345678901234567"])
def test_other_lengths_get_no_hint(value: str) -> None:
    with pytest.raises(InvalidCode) as info:
        validate_gtin(value)
    assert str(info.value) == f"GTIN must be exactly 14 digits, got {value!r}"


# --------------------------------------------------------------------------------------------- scans at every level


def test_a_scan_path_with_a_serial_is_a_unit() -> None:
    assert parse_scan_path(f"/01/{GTIN}/10/L1/21/S1", f"17=270228&8030={SIG}") == UnitCode(
        GTIN, "S1", lot="L1", expiry="270228", signature=SIG
    )
    assert parse_scan_path(f"/01/{GTIN}/21/S1") == UnitCode(GTIN, "S1")


def test_a_scan_path_without_a_serial_is_the_product_or_one_lot() -> None:
    assert parse_scan_path(f"/01/{GTIN}") == ProductCode(GTIN)
    assert parse_scan_path(f"/01/{GTIN}/22/V2/10/L1", "17=270228") == ProductCode(GTIN, "L1", "V2", "270228")


def test_a_scan_path_naming_an_sscc_is_refused() -> None:
    with pytest.raises(InvalidCode) as info:
        parse_scan_path(f"/00/{SSCC}")
    assert str(info.value) == "the URI names an SSCC (AI 00), not a product: scan the GTIN's Digital Link"
