"""Lines of a code import (app/domain/code_import.py): codes, keys, refusal texts (issue 21, mutation testing)."""

from __future__ import annotations

import pytest

from app.domain.code_import import (
    CodeKind,
    ImportCode,
    ImportLine,
    check_csv_header,
    container_key,
    parse_csv_line,
    parse_import_code,
    parse_ndjson_line,
)
from app.domain.errors import InvalidInput

CN = "12345678901234567890"
GS1 = "(01)09506000134352(21)ABC"
SSCC = "106141412345678908"


def refusal(call: object, *args: object) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        call(*args)  # type: ignore[operator]
    return caught.value


def test_a_20_digit_code_is_its_own_key_and_serial_and_has_a_prefix() -> None:
    code = parse_import_code(CN)
    assert code == ImportCode(CN, CodeKind.CN, gtin=None, serial=CN)
    assert code.prefix == "1234567"


def test_a_20_digit_code_with_spaces_is_read_through_the_cn_parser() -> None:
    assert parse_import_code(f" {CN} ") == ImportCode(CN, CodeKind.CN, serial=CN)


def test_a_gs1_code_is_keyed_as_a_bracketed_element_string() -> None:
    code = parse_import_code("https://id.gs1.org/01/09506000134352/21/ABC")
    assert code == ImportCode(GS1, CodeKind.GS1, gtin="09506000134352", serial="ABC")
    assert code.prefix is None


def test_an_sscc_is_a_package_only_and_its_own_container() -> None:
    code = parse_import_code(f"(00){SSCC}")
    assert code == ImportCode(SSCC, CodeKind.SSCC, gtin=None, serial=None)
    assert code.container_key == SSCC
    assert code.prefix is None


def test_other_package_codes_get_a_fixed_18_character_name_by_kind() -> None:
    assert container_key(CN, CodeKind.CN) == "P1f569bf644d96e8d7"
    assert container_key(GS1, CodeKind.GS1) == "Pd35c20f7fb1593815"
    assert parse_import_code(CN).container_key == "P1f569bf644d96e8d7"
    assert container_key(CN, CodeKind.GS1) != container_key(CN, CodeKind.CN)


def test_an_ndjson_line_names_code_and_parent() -> None:
    line = parse_ndjson_line(7, f'{{"code": "{GS1}", "parent": "{CN}"}}')
    assert line == ImportLine(7, parse_import_code(GS1), parse_import_code(CN))


@pytest.mark.parametrize("parent", ["null", '""', '"  "'])
def test_an_empty_parent_is_no_parent(parent: str) -> None:
    line = parse_ndjson_line(2, f'{{"code": "{CN}", "parent": {parent}}}')
    assert line == ImportLine(2, parse_import_code(CN), None)


def test_a_missing_parent_is_no_parent() -> None:
    assert parse_ndjson_line(2, f'{{"code": "{CN}"}}') == ImportLine(2, parse_import_code(CN), None)


@pytest.mark.parametrize("text", ["", "   ", "\n"])
def test_blank_lines_are_skipped(text: str) -> None:
    assert parse_ndjson_line(1, text) is None
    assert parse_csv_line(1, text) is None


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ("{bad", "line 4: not a JSON object (Expecting property name enclosed in double quotes)"),
        ("[1]", 'line 4: each line must be a JSON object {"code": ..., "parent": ...}'),
        ('{"code": "x", "zz": 1, "aa": 2}', "line 4: unknown field(s) aa, zz: only 'code' and 'parent'"),
        ('{"code": ""}', "line 4: 'code' must be a non-empty string"),
        ('{"code": "  "}', "line 4: 'code' must be a non-empty string"),
        ('{"code": 5}', "line 4: 'code' must be a non-empty string"),
        ('{"parent": "x"}', "line 4: 'code' must be a non-empty string"),
        (f'{{"code": "{CN}", "parent": 5}}', "line 4: 'parent' must be a string, empty or null"),
    ],
)
def test_an_ndjson_refusal_names_the_line(text: str, detail: str) -> None:
    error = refusal(parse_ndjson_line, 4, text)
    assert (error.detail, error.code, error.extra) == (detail, "invalid_import_line", {"line": 4})


def test_a_code_that_is_its_own_parent_is_a_cycle() -> None:
    error = refusal(parse_csv_line, 3, f"{GS1},(01)09506000134352(21)ABC\r\n")
    assert error.detail == f"line 3: code {GS1!r} names itself as its parent (a cycle)"
    assert (error.code, error.extra) == ("import_cycle", {"line": 3})


def test_a_bad_code_keeps_its_parser_code_and_gets_the_line() -> None:
    error = refusal(parse_csv_line, 9, "x,")
    assert error.detail == "line 9: no known AI at position 1 of the scanned data ('x'...)"
    assert (error.code, error.extra) == ("invalid_code", {"line": 9})


def test_a_bad_parent_is_refused_too() -> None:
    error = refusal(parse_csv_line, 9, f"{CN},x")
    assert error.detail.startswith("line 9: no known AI")


def test_a_csv_line_is_code_then_parent() -> None:
    assert parse_csv_line(5, f"{CN},{GS1}\r\n") == ImportLine(5, parse_import_code(CN), parse_import_code(GS1))
    assert parse_csv_line(5, f"{CN},") == ImportLine(5, parse_import_code(CN), None)


@pytest.mark.parametrize(("text", "count"), [(CN, 1), (f"{CN},,", 3)])
def test_a_csv_line_has_exactly_two_fields(text: str, count: int) -> None:
    error = refusal(parse_csv_line, 6, text)
    assert error.detail == f"line 6: expected 2 fields (code,parent), found {count}"
    assert (error.code, error.extra) == ("invalid_import_line", {"line": 6})


@pytest.mark.parametrize("header", ["code,parent", "\ufeffcode,parent\r\n", " Code, Parent "])
def test_the_csv_header_is_read_loosely(header: str) -> None:
    check_csv_header(header)


def test_a_wrong_csv_header_is_refused_on_line_1() -> None:
    error = refusal(check_csv_header, "parent,code\n")
    assert error.detail == "line 1: a CSV import starts with the header 'code,parent', got 'parent,code'"
    assert (error.code, error.extra) == ("invalid_import_line", {"line": 1})
    long = refusal(check_csv_header, "x" * 70)
    assert long.detail.endswith(f"got {'x' * 60!r}")


def test_only_exactly_20_digits_take_the_fast_path() -> None:
    code = parse_import_code("010950600013435221123")  # 21 digits: an unbracketed GS1 element string
    assert code == ImportCode("(01)09506000134352(21)123", CodeKind.GS1, gtin="09506000134352", serial="123")


def test_a_header_with_a_stray_letter_is_refused() -> None:
    assert refusal(check_csv_header, "Xcode,parent").code == "invalid_import_line"


def test_only_the_line_break_is_cut_from_a_csv_line() -> None:
    line = parse_csv_line(5, f"{CN},(01)09506000134352(21)ABX\n")
    assert line is not None and line.parent is not None
    assert line.parent.serial == "ABX"
