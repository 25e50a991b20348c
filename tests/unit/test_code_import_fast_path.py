"""The fast path of the code import reads only the common forms of a 20-digit code and its parent, and reads
them exactly as the full parser does; every other line is left to the full parser (issue 15, import speed)."""

from __future__ import annotations

import json

import pytest

from app.domain.code_import import fast_csv_codes, fast_ndjson_codes, parse_csv_line, parse_ndjson_line

CODE = "81234560000000000001"
BOX = "81234560000000000101"


def _full(line: str, kind: str) -> tuple[str, str | None]:
    item = (parse_ndjson_line if kind == "ndjson" else parse_csv_line)(1, line)
    assert item is not None
    return item.code.key, item.parent.key if item.parent else None


@pytest.mark.parametrize(
    "line",
    [
        json.dumps({"code": CODE, "parent": BOX}),
        json.dumps({"code": CODE, "parent": None}),
        json.dumps({"code": CODE, "parent": BOX}, separators=(",", ":")),
        json.dumps({"code": CODE, "parent": None}, separators=(",", ":")),
    ],
)
def test_ndjson_fast_path_reads_what_the_parser_reads(line: str) -> None:
    assert fast_ndjson_codes(line) == _full(line, "ndjson")


@pytest.mark.parametrize("line", [f"{CODE},{BOX}", f"{CODE},"])
def test_csv_fast_path_reads_what_the_parser_reads(line: str) -> None:
    assert fast_csv_codes(line) == _full(line, "csv")


@pytest.mark.parametrize(
    "line",
    [
        json.dumps({"code": CODE, "parent": CODE}),  # itself as parent: the parser refuses it
        json.dumps({"parent": BOX, "code": CODE}),
        json.dumps({"code": CODE[:-1], "parent": None}),  # 19 digits
        json.dumps({"code": CODE + "1", "parent": None}),
        json.dumps({"code": CODE[:-1] + "\u0661", "parent": None}, ensure_ascii=False),  # a non-ASCII digit
        json.dumps({"code": CODE, "parent": BOX[:-1] + "X"}),
        json.dumps({"code": CODE, "parent": ""}),
        json.dumps({"code": CODE, "parent": BOX}) + " ",
        json.dumps({"code": CODE, "parent": BOX, "extra": 1}),
        '{"code": "' + CODE + '", "parent": null} x',
        "",
    ],
)
def test_ndjson_fast_path_leaves_other_lines_to_the_parser(line: str) -> None:
    assert fast_ndjson_codes(line) is None


@pytest.mark.parametrize(
    "line",
    [
        f"{CODE},{CODE}",
        f"{CODE},{BOX},",
        f" {CODE},{BOX}",
        f"{CODE}, {BOX}",
        f"{CODE[:-1]},{BOX}",
        f"{CODE},{BOX}X",
        "",
    ],
)
def test_csv_fast_path_leaves_other_records_to_the_parser(line: str) -> None:
    assert fast_csv_codes(line) is None
