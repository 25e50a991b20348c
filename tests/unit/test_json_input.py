"""JSON from outside: a value, or one ``invalid_json`` refusal that says what is wrong and where."""

from __future__ import annotations

import json

import pytest

from app.domain.errors import InvalidInput
from app.domain.json_input import explain, loads, nesting, syntax_error, too_deep

TOO_DEEP = "the body is not accepted: JSON nested deeper than 100 levels"


def refusal(raw: bytes | str) -> str:
    with pytest.raises(InvalidInput) as info:
        loads(raw)
    assert info.value.code == "invalid_json"
    return info.value.detail


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        (b'{"a": [1, {"b": null}]}', {"a": [1, {"b": None}]}),
        ('{"name": "\u4e0a\u6d77"}', {"name": "上海"}),
        ('{"name": "上海"}'.encode(), {"name": "上海"}),
        (b"3", 3),
        ("[]", []),
    ],
)
def test_json_is_read(raw: bytes | str, value: object) -> None:
    assert loads(raw) == value


def test_bytes_are_read_as_utf8_only() -> None:
    # json.loads would guess UTF-16 from the zero bytes and read {}; the body must be UTF-8.
    assert refusal(b"{\x00}\x00").startswith("the body is not valid JSON: ")


def test_invalid_utf8_names_the_byte_and_its_position() -> None:
    assert refusal(b'{"a": "\xff"}') == "the body is not valid UTF-8 (byte 0xff at position 7)"
    assert refusal(b"\xc3") == "the body is not valid UTF-8 (byte 0xc3 at position 0)"


@pytest.mark.parametrize(
    ("raw", "detail"),
    [
        ('{"a": }', "the body is not valid JSON: Expecting value at line 1 column 7"),
        ('{\n  "a": 1,\n  "b" 2\n}', "the body is not valid JSON: Expecting ':' delimiter at line 3 column 7"),
        ("", "the body is not valid JSON: Expecting value at line 1 column 1"),
        ("[1,\n\n]", "the body is not valid JSON: Expecting value at line 3 column 1"),
        ("\n\nx", "the body is not valid JSON: Expecting value at line 3 column 1"),
    ],
)
def test_a_syntax_error_says_where(raw: str, detail: str) -> None:
    assert refusal(raw) == detail


def test_syntax_error_without_a_usable_document_gives_the_position() -> None:
    assert syntax_error("oops", None, 4).detail == "the body is not valid JSON: oops at position 4"
    assert syntax_error("oops", None, 4).code == "invalid_json"
    assert syntax_error("oops", "abc", 4).detail == "the body is not valid JSON: oops at position 4"
    assert syntax_error("oops", "abc", -1).detail == "the body is not valid JSON: oops at position -1"
    # At both ends of the document the line and column are still given.
    assert syntax_error("oops", "abc", 3).detail == "the body is not valid JSON: oops at line 1 column 4"
    assert syntax_error("oops", "abc", 0).detail == "the body is not valid JSON: oops at line 1 column 1"
    assert syntax_error("oops", "a\nbc", 3).detail == "the body is not valid JSON: oops at line 2 column 2"
    assert syntax_error("oops", "a\nb\nc", 4).code == "invalid_json"
    assert syntax_error("oops", "\nab", 2).detail == "the body is not valid JSON: oops at line 2 column 2"


def test_a_number_too_long_to_convert_is_the_clients_mistake() -> None:
    detail = refusal("1" * 5000)
    assert detail.startswith("the body is not valid JSON: ")
    assert "digits" in detail


def test_other_errors_are_explained_with_their_text() -> None:
    error = explain(ValueError("something odd"))
    assert error.detail == "the body is not valid JSON: something odd"
    assert error.code == "invalid_json"
    assert explain(RecursionError()).detail == TOO_DEEP
    decode = explain(json.JSONDecodeError("Extra data", "1 2", 2))
    assert decode.detail == "the body is not valid JSON: Extra data at line 1 column 3"


def test_too_deep() -> None:
    assert too_deep().detail == TOO_DEEP
    assert too_deep().code == "invalid_json"


def test_nesting_up_to_100_levels_is_read_and_101_refused() -> None:
    assert loads("[" * 100 + "]" * 100) is not None
    assert refusal("[" * 101 + "]" * 101) == TOO_DEEP
    assert refusal('{"a":' * 101 + "1" + "}" * 101) == TOO_DEEP


def test_nesting_beyond_the_interpreters_recursion_is_too_deep_not_a_crash() -> None:
    assert refusal("[" * 100_000 + "]" * 100_000) == TOO_DEEP


@pytest.mark.parametrize(
    ("value", "depth"),
    [
        (1, 0),
        ("[]", 0),
        (None, 0),
        ([], 1),
        ({}, 1),
        ([1, "x"], 1),
        ({"a": [1, {"b": []}]}, 4),
        ([[], [[]], {"a": {"b": {"c": 1}}}], 4),  # the deepest branch counts, not the last one
        ([{"a": [[[]]]}, []], 5),
    ],
)
def test_nesting_counts_arrays_and_objects(value: object, depth: int) -> None:
    assert nesting(value) == depth


def test_nesting_stops_counting_past_the_limit() -> None:
    deep: list[object] = []
    for _ in range(150):
        deep = [deep]
    assert nesting(deep) == 101
