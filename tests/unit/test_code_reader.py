"""The list reader (app/domain/code_reader.py) answers exactly as ``parse_code`` does, for every text: the code it
names, or the same refusal (type, code and text). Its prefix cache must not let a mangled code through.

Pure domain: no database, no HTTP, no clock.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain.code_reader import CodeReader
from app.domain.errors import DomainError
from app.domain.identifiers import UnitCode, digital_link, parse_code
from tests.strategies import BASES, unit_codes

GOOD = (
    "https://id.example.com/01/09506000134352/10/LOT%2F1/21/A7K2M9Q4R6T8"
    "?17=271231&8030=MEUCIQDx-_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJ"
)
SWAPS = "0123456789AZaz/?&=#%_-.~ \x1d(é"


def answer(parse: object, text: str) -> tuple[str, object]:
    try:
        return ("code", parse(text))  # type: ignore[operator]
    except DomainError as error:
        return ("refused", (type(error), error.code, error.detail, dict(error.extra)))


def warm_reader(*texts: str) -> CodeReader:
    """A reader that has already read good codes of the same prefixes (their prefixes are cached)."""
    reader = CodeReader()
    for text in texts:
        reader.parse(text)
    return reader


def mangled(text: str) -> list[str]:
    """Every one-character deletion, substitution and insertion of ``text``, and its case flips."""
    out = {text.upper(), text.lower(), f" {text}", f"{text} ", f"{text}#x", f"{text}&17=271231", f"{text}&8030=AB"}
    for i in range(len(text) + 1):
        if i < len(text):
            out.add(text[:i] + text[i + 1 :])
        for c in SWAPS:
            out.add(text[:i] + c + text[i + 1 :])
            out.add(text[:i] + c + text[i:])
    return sorted(out)


def test_the_fast_path_reads_a_lists_code() -> None:
    reader = warm_reader(GOOD)
    code = reader.parse(GOOD.replace("A7K2M9Q4R6T8", "ZZ99"))
    assert code == UnitCode(
        "09506000134352", "ZZ99", "LOT/1", "271231", "MEUCIQDx-_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJ"
    )
    assert reader._prefixes  # the prefix was checked once and kept


def test_every_mangled_code_gets_the_same_answer_as_the_full_parse() -> None:
    texts = mangled(GOOD)
    assert len(texts) > 5_000
    reader = warm_reader(GOOD)
    refused = 0
    for text in texts:
        expected = answer(parse_code, text)
        assert answer(reader.parse, text) == expected, text
        refused += expected[0] == "refused"
    assert refused > 1_000  # the mutations do reach the refusals


@pytest.mark.parametrize(
    "text",
    [
        GOOD.replace("/21/A7K2M9Q4R6T8", "/21/A7K2M9Q4R6T8A7K2M9Q4R6T8"),  # serial longer than 20
        GOOD.replace("17=271231", "17=271232"),  # no 32nd of December
        GOOD.replace("17=271231", "17=271300"),  # month 13
        GOOD.replace("8030=", "8030=+"),  # outside base64url
        GOOD.replace("8030=MEUC", "8030=" + "M" * 90),  # longer than 90
        GOOD + "&17=271231",  # twice
        GOOD.replace("09506000134352", "09506000134353"),  # check digit
        GOOD.replace("/10/LOT%2F1", "/10/LOT%2"),  # a broken escape in the prefix
        GOOD.replace("?", "?8030=AB&"),  # signature twice
        GOOD.replace("https://id.example.com", "https://id.example.com/01/09506000134352/21/X"),  # nested key
    ],
)
def test_a_bad_code_after_good_ones_of_its_prefix_is_refused_as_in_full(text: str) -> None:
    expected = answer(parse_code, text)
    assert expected[0] == "refused"
    assert answer(warm_reader(GOOD, GOOD.replace("A7K2", "B8L3")).parse, text) == expected


@settings(max_examples=300, deadline=None)
@given(codes=st.lists(unit_codes(), min_size=1, max_size=5), base=BASES, cut=st.integers(0, 200))
def test_generated_codes_and_their_cuts_read_alike(codes: list[UnitCode], base: str, cut: int) -> None:
    reader = CodeReader()
    for code in codes:
        text = digital_link(base, code)
        for variant in (text, text[:cut] + text[cut + 1 :]):
            assert answer(reader.parse, variant) == answer(parse_code, variant)
