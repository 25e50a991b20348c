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
from app.domain.identifiers import AIS, UnitCode, digital_link, parse_code
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


# The fast path itself: the tests above hold whether or not it is taken (``parse_code`` answers the same), so these
# pin which texts it takes, what it answers for them, and that a list's prefix and dates are checked only once.

SERIAL = "A7K2M9Q4R6T8"
QUERY = "17=271231&8030=MEUCIQDx-_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJ"
PREFIX = "https://id.example.com/01/09506000134352/10/LOT%2F1/"


@pytest.mark.parametrize(
    "text",
    [
        GOOD,  # our own codes' query
        f"{PREFIX}21/{SERIAL}?8030=MEUCIQDx-_abc&17=271231",  # the same, in the other order
        f"{PREFIX}21/{SERIAL}?17=271231",  # expiry only
        f"{PREFIX}21/{SERIAL}?8030=MEUCIQDx",  # signature only
        f"{PREFIX}21/{SERIAL}",  # no query
        f"{PREFIX}21/{SERIAL}?",  # an empty query
        f"{PREFIX}21/{'Z' * 20}?{QUERY}",  # the longest serial
        f"{PREFIX}21/1?{QUERY}",  # the shortest
        "http://localhost:8000/01/09506000134352/21/S1?17=280200",  # no lot; day 00
        f"https://id.example.com/01/09506000134352/21/{SERIAL}?17=271231&8030=" + "M" * AIS["8030"].max_len,
    ],
)
def test_the_fast_path_takes_the_usual_shapes_and_reads_them_as_the_full_parse(text: str) -> None:
    reader = CodeReader()
    fast = reader.fast(text)
    assert fast is not None, text
    assert fast == parse_code(text)
    assert reader.fast(text) == fast  # again, from the kept prefix


@pytest.mark.parametrize(
    "text",
    [
        GOOD.upper(),  # an upper-case scheme and host: parse_code's to judge
        GOOD + "#frag",
        GOOD.replace(f"/21/{SERIAL}", "/21/A%2F7"),  # a percent-encoded serial
        GOOD.replace(f"/21/{SERIAL}", "/21/" + "Z" * 21),  # longer than AI 21
        GOOD + "&10=LOT",  # another parameter
        GOOD + "&17=271231",  # a parameter twice
        GOOD.replace("?", "?8030=AB&"),
        GOOD.replace("17=271231", "17=271232"),  # not a date
        GOOD.replace("17=271231", "17=2712"),
        f"{PREFIX}21/{SERIAL}?8030=MEUC&17=271300",  # not a date, the other order
        f"{PREFIX}21/{SERIAL}?17",  # a name without a value
        f"{PREFIX}21/{SERIAL}?8030=+",  # outside base64url
        GOOD.replace("8030=MEUC", "8030=" + "M" * 91),  # longer than AI 8030
        GOOD.replace("09506000134352", "09506000134353"),  # the prefix is refused in full
        f" {GOOD}",
        "(01)09506000134352(21)A7K2M9Q4R6T8",  # an element string
        "01234567890123456789",  # a 20-digit drug code
        "ftp://id.example.com/01/09506000134352/21/A7K2",
    ],
)
def test_the_fast_path_hands_every_other_shape_to_the_full_parse(text: str) -> None:
    reader = warm_reader(GOOD)
    assert reader.fast(text) is None, text


def test_a_lists_prefix_and_its_dates_are_checked_once(monkeypatch: pytest.MonkeyPatch) -> None:
    import app.domain.code_reader as module

    full: list[str] = []
    dates: list[str] = []
    real_parse, real_date = module.parse_code, module.yymmdd_to_date
    monkeypatch.setattr(module, "parse_code", lambda text: full.append(text) or real_parse(text))
    monkeypatch.setattr(module, "yymmdd_to_date", lambda value: dates.append(value) or real_date(value))
    reader = CodeReader()
    serials = [f"S{i}" for i in range(50)]
    codes = [reader.parse(f"{PREFIX}21/{serial}?{QUERY}") for serial in serials]
    assert [c.serial for c in codes] == serials
    assert full == [f"{PREFIX}21/A"]  # the prefix, parsed once with a stand-in serial; no code in full
    assert dates == ["271231"]
    # A refused prefix is remembered as refused: its codes go to the full parse, the prefix is not parsed again.
    bad = PREFIX.replace("09506000134352", "09506000134353")
    for serial in serials[:3]:
        with pytest.raises(DomainError):
            reader.parse(f"{bad}21/{serial}?{QUERY}")
    assert full[1:] == [f"{bad}21/A"] + [f"{bad}21/{s}?{QUERY}" for s in serials[:3]]
    # A bad date is never kept as checked: each code carrying it is parsed in full, and refused.
    for serial in serials[:2]:
        with pytest.raises(DomainError):
            reader.parse(f"{PREFIX}21/{serial}?17=271232&8030=AB")
    assert dates[1:] == ["271232", "271232"]
