"""The 20-digit drug code's edges that test_cn_code.py leaves open (issue 21, mutation testing): the refusal text
of a product's 药品标识码, what is taken for a 20-digit code, and the slipped scans near_cn_codes undoes."""

from __future__ import annotations

import pytest

from app.domain.cn_code import looks_like_cn_code, near_cn_codes, parse_cn_code, validate_cn_drug_id
from app.domain.errors import InvalidCode


@pytest.mark.parametrize("value", ["123456", "12345678", "12345a7", "１２３４５６７"])
def test_a_drug_id_is_seven_ascii_digits(value: str) -> None:
    with pytest.raises(InvalidCode) as info:
        validate_cn_drug_id(value)
    assert info.value.code == "invalid_cn_drug_id"
    assert info.value.detail == (
        f"cn_drug_id must be the 7 digits of the 药品标识码 (the first 7 of its 20-digit codes), got {value!r}"
    )
    assert validate_cn_drug_id("8123456") == "8123456"


@pytest.mark.parametrize(
    ("text", "meant"),
    [
        ("81234567890123456789", True),
        ("8123456789O123456789", True),  # a letter read for a digit
        ("812345678901234567", False),  # 18: too short to be a slip
        ("8123456789012345-789", False),  # ASCII but not a letter or digit
        ("A8123456789O1234567", False),  # must start with a digit
        ("0012345678901234567", False),  # starts as an SSCC element string
        ("0112345678901234567", False),  # starts as a GS1 unit element string
        ("0212345678901234567", True),
    ],
)
def test_what_is_taken_for_a_20_digit_code(text: str, meant: bool) -> None:
    assert looks_like_cn_code(text) is meant


def test_look_alike_letters_are_read_as_digits_all_at_once() -> None:
    # Two letters: no single-digit change fixes both, only reading them as digits does (in either case).
    assert "81234567890123456718" in near_cn_codes("8123456789o1234567l8")
    assert "81234567890123456718" in near_cn_codes("8123456789O1234567L8")


def test_a_dropped_last_digit_is_looked_for_at_the_end_too() -> None:
    assert "12345678901234567890" in near_cn_codes("1234567890123456789")


def test_the_last_two_digits_transposed() -> None:
    assert "12345678901234567809" in near_cn_codes("12345678901234567890")


def parse_refusal(text: str) -> tuple[str, str]:
    with pytest.raises(InvalidCode) as info:
        parse_cn_code(text)
    return info.value.code, info.value.detail


def test_an_empty_code_is_refused() -> None:
    assert parse_refusal("  ")[1] == "the drug traceability code is empty"


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ("8123456789o123456789", "position 11 is 'o', not a digit (a letter O read for the digit 0?)"),
        ("8123456789O123456789", "position 11 is 'O', not a digit (a letter O read for the digit 0?)"),
        ("8I23456789012345678", "position 2 is 'I', not a digit (a letter I or l read for the digit 1?)"),
        ("8L23456789012345678", "position 2 is 'L', not a digit (a letter I or l read for the digit 1?)"),
        ("8l23456789012345678", "position 2 is 'l', not a digit (a letter I or l read for the digit 1?)"),
        ("8123456789x123456789", "position 11 is 'x', not a digit"),
        ("8123456789X123456789", "position 11 is 'X', not a digit"),
    ],
)
def test_a_letter_in_a_code_is_named_with_what_it_may_be_read_for(text: str, detail: str) -> None:
    assert parse_refusal(text) == ("invalid_cn_code", f"a drug traceability code (药品追溯码) is 20 digits; {detail}")


def test_a_wrong_length_says_which_slip() -> None:
    assert parse_refusal("1234567890123456789") == (
        "invalid_cn_code",
        "a drug traceability code (药品追溯码) has 20 digits, this one has 19: a digit was dropped",
    )
