"""The 20-digit drug traceability code (药品追溯码): strict parsing, its refusals, and the mis-scan candidates."""

from __future__ import annotations

import pytest

from app.domain.cn_code import CnCode, looks_like_cn_code, near_cn_codes, parse_cn_code, validate_cn_drug_id
from app.domain.errors import InvalidCode

CODE = "81234561234567890123"


def test_a_20_digit_code_is_its_drug_id_and_the_rest() -> None:
    parsed = parse_cn_code(CODE)
    assert parsed == CnCode("8123456", "1234567890123")
    assert parsed.code == CODE


@pytest.mark.parametrize("prefix", ["]C0", "]Q1", "]d1", " ", "\t"])
def test_symbology_prefixes_and_spaces_are_read_through(prefix: str) -> None:
    assert parse_cn_code(prefix + CODE + " ").code == CODE


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (CODE[:-1], "this one has 19: a digit was dropped"),
        (CODE + "4", "this one has 21: a digit was doubled or added"),
        (CODE[:10], "this one has 10: not a 20-digit code"),
        ("8123456O234567890123", "position 8 is 'O', not a digit (a letter O read for the digit 0?)"),
        ("8123456l234567890123", "position 8 is 'l', not a digit (a letter I or l read for the digit 1?)"),
        ("8123456X234567890123", "position 8 is 'X', not a digit"),
        ("]C1" + CODE, "position 1 is ']'"),
        ("８１２３４５６１２３４５６７８９０１２３", "position 1 is '８'"),  # full-width digits are not ASCII digits
        ("", "empty"),
    ],
)
def test_refusals_say_what_was_wrong(text: str, says: str) -> None:
    with pytest.raises(InvalidCode) as refused:
        parse_cn_code(text)
    assert says in refused.value.detail
    assert refused.value.code in ("invalid_cn_code", "invalid_code")


def test_the_drug_id_is_exactly_seven_ascii_digits() -> None:
    assert validate_cn_drug_id("8123456") == "8123456"
    for bad in ("812345", "81234567", "812345A", "８１２３４５６"):
        with pytest.raises(InvalidCode) as refused:
            validate_cn_drug_id(bad)
        assert refused.value.code == "invalid_cn_drug_id"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (CODE, True),
        ("]C0" + CODE, True),
        (CODE[:-1], True),
        (CODE + "1", True),
        ("8123456O234567890123", True),
        ("01095060001343522112", True),  # exactly 20 digits: always the Chinese code
        ("0109506000134352211", False),  # 19 characters starting 01: a raw GS1 unit string (serial "1")
        ("010950600013435221AB", False),  # letters, starting 01: GS1
        ("(01)09506000134352(21)1", False),
        ("https://x/01/09506000134352/21/ABC", False),
        ("8123456", False),
        (CODE + "12", False),
    ],
)
def test_what_is_taken_for_a_20_digit_code(text: str, expected: bool) -> None:
    assert looks_like_cn_code(text) is expected


def test_near_codes_cover_the_common_slips() -> None:
    assert CODE in near_cn_codes(CODE[:5] + CODE[6:])  # a dropped digit
    assert CODE in near_cn_codes(CODE[:5] + CODE[5] + CODE[5:])  # a doubled digit
    assert CODE in near_cn_codes(CODE[:5] + CODE[6] + CODE[5] + CODE[7:])  # two neighbours swapped
    assert CODE in near_cn_codes(CODE[:3] + "9" + CODE[4:])  # one digit misread
    assert CODE in near_cn_codes("8123456I234567890123")  # a letter for a look-alike digit
    assert CODE not in near_cn_codes(CODE)
    assert all(len(c) == 20 and c.isdigit() for c in near_cn_codes(CODE[:-1]))
