"""GS1 Digital Link compression: a Digital Link's element strings packed into one URI-safe base64 path segment.

Follows the compression algorithm of the GS1 Digital Link standard (release 1.1, section "Compression"; 1.2 added
the non-GS1 key=value pairs behind the ``F`` flag), as its reference implementation does
(github.com/gs1/GS1DigitalLinkCompressionPrototype, ``GS1DigitalLinkToolkit.js``):

- Each element is its AI, one hex nibble per digit (4 bits), then its value by the AI's format (``TABLE_F``):
  a fixed-length numeric part as a binary number in ``ceil(n * log2(10))`` bits; a variable-length numeric part as
  its length then its number; an alphanumeric part as a 3-bit encoding (0 digits, 1 lower-case hex, 2 upper-case
  hex, 3 URI-safe base64, 4 seven-bit ASCII), its length (variable parts) and its characters.
- A run of AIs that often travel together (GTIN + lot + best before...) may be written as one two-nibble code whose
  first or second nibble is a hex letter (``OPTIMISATIONS``), saving their AI digits.
- ``F`` then a 7-bit length opens a non-GS1 query parameter: its key in base64 characters, its value as above.
- The bit string is padded with zeros to a multiple of 6 and written in the URI-safe base64 alphabet.

AI 8030 (digital signature, X..90, added to the General Specifications after the prototype) is encoded like any
variable-length alphanumeric AI, so our signed codes compress too. Two corrections to the prototype, neither of
which changes a conforming encoding: a numeric value keeps its leading zeros on decoding (its length is known),
and a compound value (N13 + X..17) is not written twice.
Pure: no I/O; every refusal is an ``InvalidCode`` naming what is wrong.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote

from app.domain.errors import InvalidCode

BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
HEX = "0123456789ABCDEF"
SEGMENT = re.compile(r"^[A-Za-z0-9_-]+$")
MAX_SEGMENT = 1000  # a compressed link longer than any QR code could carry is not a scan

# For the first two digits of an AI, the AI's length (GS1 General Specifications, figure 3.2-1).
TABLE_P: dict[str, int] = {
    "00": 2, "01": 2, "02": 2, "10": 2, "11": 2, "12": 2, "13": 2, "15": 2, "16": 2, "17": 2, "20": 2, "21": 2,
    "22": 2, "23": 3, "24": 3, "25": 3, "30": 2, "31": 4, "32": 4, "33": 4, "34": 4, "35": 4, "36": 4, "37": 2,
    "39": 4, "40": 3, "41": 3, "42": 3, "70": 4, "71": 3, "72": 4, "80": 4, "81": 4, "82": 4, "90": 2, "91": 2,
    "92": 2, "93": 2, "94": 2, "95": 2, "96": 2, "97": 2, "98": 2, "99": 2,
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Part:
    """One component of an AI's value: numeric (``N``) or alphanumeric (``X``), fixed ``length`` or up to ``max``."""

    kind: str
    length: int | None = None
    max: int | None = None


# The parts an AI's value is made of, by GS1's notation: N[6] "N6" (6 digits), NV[8] "N..8" (up to 8 digits), XV[20]
# "X..20" (up to 20 characters).
N = {n: Part("N", length=n) for n in (2, 3, 4, 6, 8, 10, 13, 14, 17, 18)}
NV = {n: Part("N", max=n) for n in (4, 6, 8, 10, 12, 15)}
XV = {n: Part("X", max=n) for n in (2, 3, 9, 10, 12, 16, 17, 20, 24, 25, 27, 30, 50, 70, 90)}

# For each AI, the format of its value (GS1 General Specifications, section 3.2; the reference implementation's
# tableF). Written out, not built by a function: mutmut cannot mutate a table built at import (its mutants would run
# before any is switched on), so tests/unit/test_dl_compression_table.py pins it with a hand-written twin instead.
TABLE_F: dict[str, tuple[Part, ...]] = {
    "00": (N[18],), "01": (N[14],), "02": (N[14],), "10": (XV[20],), "11": (N[6],), "12": (N[6],), "13": (N[6],),
    "15": (N[6],), "16": (N[6],), "17": (N[6],), "20": (N[2],), "21": (XV[20],), "22": (XV[20],),
    "240": (XV[30],), "241": (XV[30],), "242": (NV[6],), "243": (XV[20],), "250": (XV[30],), "251": (XV[30],),
    "253": (N[13], XV[17]), "254": (XV[20],), "255": (N[13], NV[12]), "30": (NV[8],), "37": (NV[8],),
    "400": (XV[30],), "401": (XV[30],), "402": (N[17],), "403": (XV[30],),
    **{str(ai): (N[13],) for ai in range(410, 417)},  # GLNs
    "420": (XV[20],), "421": (N[3], XV[9]), "422": (N[3],), "423": (N[3], NV[12]), "424": (N[3],),
    "425": (N[3], NV[12]), "426": (N[3],), "427": (XV[3],),
    # trade measures 3100-3695: N6, the fourth digit the decimal point (0 to 5)
    **{str(ai): (N[6],) for ai in range(3100, 3700) if ai % 10 <= 5},
    **{f"390{last}": (NV[15],) for last in range(10)},  # amounts
    **{f"391{last}": (N[3], NV[15]) for last in range(10)},  # amounts with an ISO currency
    **{f"392{last}": (NV[15],) for last in range(10)},
    **{f"393{last}": (N[3], NV[15]) for last in range(10)},
    **{f"394{last}": (N[4],) for last in range(4)},
    "7001": (N[13],), "7002": (XV[30],), "7003": (N[10],), "7004": (NV[4],), "7005": (XV[12],), "7006": (N[6],),
    "7007": (N[6], NV[6]), "7008": (XV[3],), "7009": (XV[10],), "7010": (XV[2],), "7020": (XV[20],),
    "7021": (XV[20],), "7022": (XV[20],), "7023": (XV[30],),
    **{f"703{last}": (N[3], XV[27]) for last in range(10)},  # processor with an ISO country
    "710": (XV[20],), "711": (XV[20],), "712": (XV[20],), "713": (XV[20],), "714": (XV[20],),
    **{f"723{last}": (XV[30],) for last in range(10)},  # certification references
    "8001": (N[14],), "8002": (XV[20],), "8003": (N[14], XV[16]), "8004": (XV[30],), "8005": (N[6],),
    "8006": (N[18],), "8007": (XV[24],), "8008": (N[8], NV[4]), "8009": (XV[50],), "8010": (XV[30],),
    "8011": (NV[12],), "8012": (XV[20],), "8013": (XV[30],), "8017": (N[18],), "8018": (N[18],), "8019": (NV[10],),
    "8020": (XV[25],), "8026": (N[18],), "8030": (XV[90],), "8110": (XV[70],), "8111": (N[4],), "8112": (XV[70],),
    "8200": (XV[70],),
    "90": (XV[30],), **{f"9{last}": (XV[90],) for last in range(1, 10)},  # company internal
}  # fmt: skip

# Optimisation codes: a two-nibble code for a set of AIs, each encoded in sorted order. Order matters: among
# equally good codes the first wins, as in the reference implementation.
OPTIMISATIONS: dict[str, tuple[str, ...]] = {
    code: tuple(sorted(ais))
    for code, ais in {
        "0A": ("01", "22"), "0B": ("01", "10"), "0C": ("01", "21"), "0D": ("01", "17"), "0E": ("01", "7003"),
        "0F": ("01", "30"), "1A": ("01", "10", "21", "17"), "1B": ("01", "15"), "1C": ("01", "11"),
        "1D": ("01", "16"), "1E": ("01", "91"), "1F": ("01", "10", "15"),
        **{f"2{'ABCDEF'[i]}": ("01", f"310{i}") for i in range(6)},
        **{f"3{'ABCDEF'[i]}": ("01", f"320{i}") for i in range(6)},
        "9A": ("8010", "8011"), "9B": ("8017", "8019"), "9C": ("8018", "8019"), "9D": ("414", "254"),
        **{f"A{i}": ("01", f"392{i}") for i in range(10)},
        **{f"C{i}": ("255", f"390{i}") for i in range(10)},
        **{f"C{'ABCD'[i]}": ("255", f"394{i}") for i in range(4)},
    }.items()
}  # fmt: skip

PRIMARY_KEYS = ("01", "00", "414", "417", "8003", "8004", "8006", "8010", "8013", "8017", "8018", "253", "255", "401",
                "402")  # fmt: skip
QUALIFIERS: dict[str, tuple[str, ...]] = {
    "01": ("22", "10", "21"), "8006": ("22", "10", "21"), "414": ("254",), "8010": ("8011",), "8017": ("8019",),
    "8018": ("8019",),
}  # fmt: skip


def length_bits(maximum: int) -> int:
    """Bits of a length indicator for values of up to ``maximum`` characters (as the standard computes them)."""
    return math.ceil(math.log2(maximum) + 0.01)


def value_bits(digits: int) -> int:
    """Bits of a number of ``digits`` decimal digits."""
    return math.ceil(digits * math.log2(10) + 0.01)


# --------------------------------------------------------------------------------------------- compression


def _encoding_of(text: str) -> int:
    if text.isascii() and text.isdigit():
        return 0
    if re.fullmatch(r"[0-9A-F]+", text):
        return 2
    if re.fullmatch(r"[0-9a-f]+", text):
        return 1
    if SEGMENT.fullmatch(text):
        return 3
    return 4


def _chars(text: str, width: int, alphabet: str | None) -> str:
    out = []
    for char in text:
        index = ord(char) if alphabet is None else alphabet.index(char)
        if index >= 1 << width:
            raise InvalidCode(f"{char!r} cannot be written in a compressed Digital Link (7-bit ASCII only)")
        out.append(format(index, f"0{width}b"))
    return "".join(out)


def _encoded(text: str, lengths: str) -> str:
    """An alphanumeric value: its encoding, the length bits (if variable) and its characters."""
    encoding = _encoding_of(text)
    if encoding == 0:
        body = format(int(text), f"0{value_bits(len(text))}b")
    elif encoding in (1, 2):
        body = _chars(text.upper(), 4, HEX)
    elif encoding == 3:
        body = _chars(text, 6, BASE64)
    else:
        body = _chars(text, 7, None)
    return format(encoding, "03b") + lengths + body


def _value(ai: str, value: str) -> str:
    if ai not in TABLE_F:
        raise InvalidCode(f"AI ({ai}) has no compressed form")
    bits, cursor = [], 0
    for part in TABLE_F[ai]:
        if part.length is not None:
            chunk, cursor = value[cursor : cursor + part.length], cursor + part.length
        else:
            chunk, cursor = value[cursor:], len(value)
        if part.kind == "N" and not (chunk.isascii() and chunk.isdigit()) and not (part.max and chunk == ""):
            raise InvalidCode(f"AI ({ai}) must be numeric here, got {chunk!r}")
        if part.length is not None and len(chunk) != part.length:
            raise InvalidCode(f"AI ({ai}) needs {part.length} characters here, got {len(chunk)}")
        if part.max is not None and len(chunk) > part.max:
            raise InvalidCode(f"AI ({ai}) is at most {part.max} characters here, got {len(chunk)}")
        if part.kind == "N" and part.length is not None:
            bits.append(format(int(chunk), f"0{value_bits(part.length)}b"))
        elif part.kind == "N":
            assert part.max is not None
            number = format(int(chunk), f"0{value_bits(len(chunk))}b") if chunk else "0"
            bits.append(format(len(chunk), f"0{length_bits(part.max)}b") + number)
        else:
            lengths = "" if part.max is None else format(len(chunk), f"0{length_bits(part.max)}b")
            bits.append(_encoded(chunk, lengths))
    return "".join(bits)


def _nibbles(code: str) -> str:
    return "".join(format(int(char, 16), "04b") for char in code)


def _gtin14(ai: str, value: str) -> str:
    """GTIN-8, -12 and -13 are GTIN-14s with leading zeros (GS1 General Specifications §3.3.2)."""
    return value.zfill(14) if ai in ("01", "02") and len(value) in (8, 12, 13) else value


def compress(elements: Mapping[str, str], others: Mapping[str, str] | None = None, *, optimise: bool = True) -> str:
    """The compressed path segment for AI ``elements`` (and non-GS1 query parameters ``others``)."""
    remaining = sorted(elements)
    bits: list[str] = []
    while optimise:
        candidates = [(code, ais) for code, ais in OPTIMISATIONS.items() if set(ais) <= set(remaining)]
        if not candidates:
            break
        best = max(candidates, key=lambda item: (len("".join(item[1])), -list(OPTIMISATIONS).index(item[0])))
        code, ais = best
        bits.append(_nibbles(code))
        bits.extend(_value(ai, _gtin14(ai, elements[ai])) for ai in ais)
        remaining = [ai for ai in remaining if ai not in ais]
    for ai in remaining:
        bits.append(_nibbles(ai) + _value(ai, _gtin14(ai, elements[ai])))
    for key, value in (others or {}).items():
        if not SEGMENT.fullmatch(key) or len(key) > 127 or len(value) > 127:
            raise InvalidCode(f"query parameter {key!r} cannot be compressed")
        bits.append("1111" + format(len(key), "07b") + _chars(key, 6, BASE64))
        bits.append(_encoded(value, format(len(value), "07b")))
    binary = "".join(bits)
    binary += "0" * (-len(binary) % 6)
    return "".join(BASE64[int(binary[i : i + 6], 2)] for i in range(0, len(binary), 6))


# --------------------------------------------------------------------------------------------- decompression


class _Bits:
    def __init__(self, text: str) -> None:
        self.text = text
        self.cursor = 0

    def left(self) -> int:
        return len(self.text) - self.cursor

    def take(self, count: int) -> str:
        if count > self.left():
            raise InvalidCode("the compressed Digital Link ends in the middle of a value")
        chunk = self.text[self.cursor : self.cursor + count]
        self.cursor += count
        return chunk

    def number(self, count: int) -> int:
        return int(self.take(count), 2) if count else 0

    def nibble(self) -> str:
        return HEX[self.number(4)]


def _decoded_chars(bits: _Bits, encoding: int, count: int) -> str:
    if encoding == 0:
        return str(bits.number(value_bits(count))).zfill(count) if count else ""
    if encoding in (1, 2):
        text = "".join(HEX[bits.number(4)] for _ in range(count))
        return text.lower() if encoding == 1 else text
    if encoding == 3:
        return "".join(BASE64[bits.number(6)] for _ in range(count))
    if encoding == 4:
        return "".join(chr(bits.number(7)) for _ in range(count))
    raise InvalidCode(f"the compressed Digital Link uses an unknown value encoding ({encoding})")


def _decoded_value(bits: _Bits, ai: str) -> str:
    if ai not in TABLE_F:
        raise InvalidCode(f"the compressed Digital Link carries AI ({ai}), which has no compressed form")
    value = []
    for part in TABLE_F[ai]:
        if part.kind == "N" and part.length is not None:
            number = bits.number(value_bits(part.length))
            if number >= 10**part.length:
                raise InvalidCode(f"the compressed value of AI ({ai}) has more than {part.length} digits")
            value.append(str(number).zfill(part.length))
        elif part.kind == "N":
            assert part.max is not None
            count = bits.number(length_bits(part.max))
            number = bits.number(value_bits(count))
            value.append(str(number).zfill(count) if count else "")
        else:
            encoding = bits.number(3)
            count = part.length if part.max is None else bits.number(length_bits(part.max))
            assert count is not None
            value.append(_decoded_chars(bits, encoding, count))
    return "".join(value)


def decompress(segment: str) -> tuple[dict[str, str], dict[str, str]]:
    """The AI elements and the non-GS1 key=value pairs a compressed path segment carries, in their order."""
    if not segment or len(segment) > MAX_SEGMENT or not SEGMENT.fullmatch(segment):
        raise InvalidCode("a compressed Digital Link is one path segment of URI-safe base64 characters")
    bits = _Bits("".join(format(BASE64.index(char), "06b") for char in segment))
    elements: dict[str, str] = {}
    others: dict[str, str] = {}

    def put(ai: str, value: str) -> None:
        if ai in elements:
            raise InvalidCode(f"the compressed Digital Link carries AI ({ai}) twice")
        elements[ai] = value

    while bits.left() > 8:  # what is left after the last element is padding
        head = bits.nibble() + bits.nibble()
        if head.isdigit():
            size = TABLE_P.get(head)
            if size is None:
                raise InvalidCode(f"the compressed Digital Link names an AI starting {head}, which GS1 reserves")
            ai = head + "".join(bits.nibble() for _ in range(size - 2))
            if not ai.isdigit():
                raise InvalidCode(f"the compressed Digital Link names AI {ai}, which is not all digits")
            put(ai, _decoded_value(bits, ai))
        elif head in OPTIMISATIONS:
            for ai in OPTIMISATIONS[head]:
                put(ai, _decoded_value(bits, ai))
        elif head[0] == "F":
            bits.cursor -= 4  # the key's length starts right after the flag nibble
            key = "".join(BASE64[bits.number(6)] for _ in range(bits.number(7)))
            encoding = bits.number(3)
            others[key] = _decoded_chars(bits, encoding, bits.number(7))
        else:
            raise InvalidCode(f"the compressed Digital Link uses code {head}, which the standard does not define")
    return elements, others


def is_compressed(segment: str) -> bool:
    return bool(segment) and len(segment) <= MAX_SEGMENT and SEGMENT.fullmatch(segment) is not None


def uncompressed(elements: Mapping[str, str], others: Mapping[str, str] | None = None) -> tuple[str, str]:
    """The uncompressed Digital Link path and query for decompressed elements: key, qualifiers in order, then data
    attributes (numeric order) and other parameters in the query, values percent-encoded."""
    key = next((ai for ai in PRIMARY_KEYS if ai in elements), None)
    if key is None:
        raise InvalidCode("the compressed Digital Link carries no primary key (such as a GTIN, AI 01)")
    qualifiers = [ai for ai in QUALIFIERS.get(key, ()) if ai in elements]
    path = "".join(f"/{ai}/{quote(elements[ai], safe='')}" for ai in (key, *qualifiers))
    attributes = sorted((ai for ai in elements if ai != key and ai not in qualifiers), key=int)
    query = [f"{ai}={quote(elements[ai], safe='')}" for ai in attributes]
    query += [f"{name}={quote(value, safe='')}" for name, value in (others or {}).items()]
    return path, "&".join(query)


def decompress_uri(uri: str) -> str:
    """A compressed Digital Link URI written out uncompressed, on the same stem."""
    stem, _, segment = uri.partition("?")[0].rpartition("/")
    path, query = uncompressed(*decompress(segment))
    rest = uri.partition("?")[2]
    query = "&".join(part for part in (query, rest) if part)
    return stem + path + (f"?{query}" if query else "")
