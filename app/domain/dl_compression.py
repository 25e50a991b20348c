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


def _n(length: int) -> Part:
    return Part("N", length=length)


def _nv(maximum: int) -> Part:
    return Part("N", max=maximum)


def _xv(maximum: int) -> Part:
    return Part("X", max=maximum)


def _format_table() -> dict[str, tuple[Part, ...]]:
    table: dict[str, tuple[Part, ...]] = {
        "00": (_n(18),), "01": (_n(14),), "02": (_n(14),), "10": (_xv(20),), "11": (_n(6),), "12": (_n(6),),
        "13": (_n(6),), "15": (_n(6),), "16": (_n(6),), "17": (_n(6),), "20": (_n(2),), "21": (_xv(20),),
        "22": (_xv(20),), "240": (_xv(30),), "241": (_xv(30),), "242": (_nv(6),), "243": (_xv(20),),
        "250": (_xv(30),), "251": (_xv(30),), "253": (_n(13), _xv(17)), "254": (_xv(20),), "255": (_n(13), _nv(12)),
        "30": (_nv(8),), "37": (_nv(8),), "400": (_xv(30),), "401": (_xv(30),), "402": (_n(17),),
        "403": (_xv(30),), "420": (_xv(20),), "421": (_n(3), _xv(9)), "422": (_n(3),), "423": (_n(3), _nv(12)),
        "424": (_n(3),), "425": (_n(3), _nv(12)), "426": (_n(3),), "427": (_xv(3),), "7001": (_n(13),),
        "7002": (_xv(30),), "7003": (_n(10),), "7004": (_nv(4),), "7005": (_xv(12),), "7006": (_n(6),),
        "7007": (_n(6), _nv(6)), "7008": (_xv(3),), "7009": (_xv(10),), "7010": (_xv(2),), "7020": (_xv(20),),
        "7021": (_xv(20),), "7022": (_xv(20),), "7023": (_xv(30),), "710": (_xv(20),), "711": (_xv(20),),
        "712": (_xv(20),), "713": (_xv(20),), "714": (_xv(20),), "8001": (_n(14),), "8002": (_xv(20),),
        "8003": (_n(14), _xv(16)), "8004": (_xv(30),), "8005": (_n(6),), "8006": (_n(18),), "8007": (_xv(24),),
        "8008": (_n(8), _nv(4)), "8009": (_xv(50),), "8010": (_xv(30),), "8011": (_nv(12),), "8012": (_xv(20),),
        "8013": (_xv(30),), "8017": (_n(18),), "8018": (_n(18),), "8019": (_nv(10),), "8020": (_xv(25),),
        "8026": (_n(18),), "8030": (_xv(90),), "8110": (_xv(70),), "8111": (_n(4),), "8112": (_xv(70),),
        "8200": (_xv(70),), "90": (_xv(30),),
    }  # fmt: skip
    for ai in range(410, 417):  # GLNs
        table[str(ai)] = (_n(13),)
    for prefix in range(31, 37):  # trade measures 3100-3695: N6, the fourth digit the decimal point
        for third in range(10):
            for decimals in range(6):
                table[f"{prefix}{third}{decimals}"] = (_n(6),)
    for last in range(10):
        table[f"390{last}"] = table[f"392{last}"] = (_nv(15),)  # amounts
        table[f"391{last}"] = table[f"393{last}"] = (_n(3), _nv(15))  # amounts with an ISO currency
        table[f"703{last}"] = (_n(3), _xv(27))  # processor with an ISO country
        table[f"723{last}"] = (_xv(30),)  # certification references
        table[f"9{last}"] = table.get(f"9{last}", (_xv(90),))  # company internal (90 is X..30)
    for last in range(4):
        table[f"394{last}"] = (_n(4),)
    return table


TABLE_F = _format_table()

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
