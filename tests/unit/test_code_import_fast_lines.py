"""Lines the code import's fast path must leave to the full parser (issue 21: mutation testing found them
untested): a parent not quoted as JSON, a CSV record without its comma."""

from __future__ import annotations

from app.domain.code_import import fast_csv_codes, fast_ndjson_codes

CODE = "81234560000000000001"
BOX = "81234560000000000101"


def test_a_parent_not_opened_by_a_quote_is_left_to_the_full_parser() -> None:
    assert fast_ndjson_codes(f'{{"code": "{CODE}", "parent": "{BOX}"}}') == (CODE, BOX)
    assert fast_ndjson_codes(f'{{"code": "{CODE}", "parent": x{BOX}"}}') is None
    assert fast_ndjson_codes(f'{{"code": "{CODE}", "parent": "{BOX}"x}}') is None
    assert fast_ndjson_codes(f'{{"code": "{CODE}", "parent": "{BOX}1"}}') is None


def test_a_csv_record_without_its_comma_is_left_to_the_full_parser() -> None:
    assert fast_csv_codes(f"{CODE},") == (CODE, None)
    assert fast_csv_codes(CODE) is None
    assert fast_csv_codes(CODE[:19]) is None
