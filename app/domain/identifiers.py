"""GS1 identifiers: GTIN and SSCC check digits, serials, and the strict parsing of scanned codes.

Follows the GS1 General Specifications (release 24): §7.9 (check digit, mod 10), §7.11 (AI encodable character
set 82), §3.2 (AI formats), and the GS1 Digital Link URI syntax 1.3 (§4: path qualifiers in the order 22, 10, 21;
data attributes in the query string; percent-encoding of values). Parsing never guesses: every rejection names the
offending part, because mis-parsed scans are the first cause of false counterfeit alerts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from urllib.parse import quote

from app.domain.errors import InvalidCode

GS = "\x1d"

# GS1 AI encodable character set 82 (General Specifications, figure 7.11-1).
CSET82 = frozenset("!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz")
# AI 8030 carries a URI-safe base64 value (file-safe alphabet, RFC 4648 §5).
BASE64URL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")

# Serials we issue: no 0/O or 1/I, upper case only, so a human reading the label cannot confuse characters.
SERIAL_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
SERIAL_LENGTH = 12  # 32**12 ~ 1.15e18 possibilities per GTIN
_SERIAL_TABLE = bytes(ord(SERIAL_ALPHABET[b % len(SERIAL_ALPHABET)]) for b in range(256))


@dataclass(frozen=True, slots=True)
class AISpec:
    ai: str
    name: str
    fixed: int | None  # exact length of a fixed-length numeric AI
    max_len: int  # maximum length of a variable-length AI
    charset: frozenset[str]
    kind: str  # "key", "qualifier" or "attribute"


_DIGITS = frozenset("0123456789")
AIS: dict[str, AISpec] = {
    spec.ai: spec
    for spec in (
        AISpec("00", "SSCC", 18, 18, _DIGITS, "key"),
        AISpec("01", "GTIN", 14, 14, _DIGITS, "key"),
        AISpec("22", "consumer product variant", None, 20, CSET82, "qualifier"),
        AISpec("10", "lot", None, 20, CSET82, "qualifier"),
        AISpec("21", "serial", None, 20, CSET82, "qualifier"),
        AISpec("11", "production date", 6, 6, _DIGITS, "attribute"),
        AISpec("15", "best before date", 6, 6, _DIGITS, "attribute"),
        AISpec("16", "sell by date", 6, 6, _DIGITS, "attribute"),
        AISpec("17", "expiry date", 6, 6, _DIGITS, "attribute"),
        AISpec("8030", "digital signature", None, 90, BASE64URL, "attribute"),
    )
}
_QUALIFIER_ORDER = ("22", "10", "21")
_DATE_AIS = frozenset({"11", "15", "16", "17"})


def _check_digit(body: str) -> str:
    """GS1 mod-10 check digit of the digits before it (weights 3,1,3,... from the right)."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return str((10 - total % 10) % 10)


# A list of 10,000 codes names a handful of GTINs: each is summed once. Cached by wrapping, not by decorating, so
# that mutation testing (which leaves decorated functions alone) still mutates the sum (docs/mutation-testing.md).
check_digit = lru_cache(maxsize=4096)(_check_digit)


def _validate_check_digit(value: str, name: str, length: int, code: str) -> str:
    if len(value) != length or not value.isascii() or not value.isdigit():
        raise InvalidCode(f"{name} must be exactly {length} digits, got {value!r}", code=code)
    expected = check_digit(value[:-1])
    if value[-1] != expected:
        raise InvalidCode(f"{name} {value} has check digit {value[-1]}, expected {expected}", code=code)
    return value


def validate_gtin(value: str) -> str:
    """Return ``value`` if it is a GTIN-14 with a correct check digit, else raise ``invalid_gtin``."""
    if len(value) in (8, 12, 13) and value.isascii() and value.isdigit():  # an EAN-8, UPC-A or EAN-13 as printed
        raise InvalidCode(
            f"GTIN must be exactly 14 digits, got {value!r} ({len(value)} digits): "
            f"write it with leading zeros, {value.zfill(14)!r}",
            code="invalid_gtin",
        )
    return _validate_check_digit(value, "GTIN", 14, "invalid_gtin")


def validate_sscc(value: str) -> str:
    return _validate_check_digit(value, "SSCC", 18, "invalid_sscc")


def validate_ai_value(ai: str, value: str) -> str:
    """Check one AI value against its length and character set; the error names the AI and the character."""
    spec = AIS[ai]
    if ai == "01":
        return validate_gtin(value)
    if ai == "00":
        return validate_sscc(value)
    if not value:
        raise InvalidCode(f"AI {ai} ({spec.name}) is empty")
    if spec.fixed is not None and len(value) != spec.fixed:
        raise InvalidCode(f"AI {ai} ({spec.name}) must be {spec.fixed} characters, got {len(value)}: {value!r}")
    if len(value) > spec.max_len:
        raise InvalidCode(f"AI {ai} ({spec.name}) is at most {spec.max_len} characters, got {len(value)}")
    if not spec.charset.issuperset(value):  # a set test first; the loop only names the offending character
        bad = next(position for position, char in enumerate(value, start=1) if char not in spec.charset)
        raise InvalidCode(
            f"AI {ai} ({spec.name}) has {value[bad - 1]!r} at position {bad}, outside the allowed character set"
        )
    if ai in _DATE_AIS:
        yymmdd_to_date(value, ai=ai)
    return value


def yymmdd_to_date(value: str, *, ai: str = "17") -> date:
    """A GS1 YYMMDD date (years 2000-2099; day 00 means the last day of the month)."""
    if len(value) != 6 or not value.isascii() or not value.isdigit():
        raise InvalidCode(f"AI {ai} must be a date as YYMMDD, got {value!r}")
    year, month, day = 2000 + int(value[:2]), int(value[2:4]), int(value[4:])
    if not 1 <= month <= 12:
        raise InvalidCode(f"AI {ai} date {value} has month {month:02d}")
    if day == 0:
        next_month = date(year + month // 12, month % 12 + 1, 1)
        return date.fromordinal(next_month.toordinal() - 1)
    try:
        return date(year, month, day)
    except ValueError:
        raise InvalidCode(f"AI {ai} date {value} has no day {day:02d} in that month") from None


def date_to_yymmdd(value: date) -> str:
    if not 2000 <= value.year <= 2099:
        raise InvalidCode(f"date {value.isoformat()} cannot be written as a GS1 YYMMDD (years 2000-2099)")
    return value.strftime("%y%m%d")


def serials_from_random(raw: bytes, count: int) -> list[str]:
    """Cut ``count`` serials out of ``count * SERIAL_LENGTH`` random bytes (256 is a multiple of 32: no bias)."""
    if len(raw) < count * SERIAL_LENGTH:
        raise ValueError("not enough random bytes for the serials asked for")
    text = raw[: count * SERIAL_LENGTH].translate(_SERIAL_TABLE).decode("ascii")
    return [text[i : i + SERIAL_LENGTH] for i in range(0, len(text), SERIAL_LENGTH)]


# --------------------------------------------------------------------------------------------- parsed codes


@dataclass(frozen=True, slots=True)
class UnitCode:
    """A trade item instance: GTIN + serial, with the attributes the scan carried."""

    gtin: str
    serial: str
    lot: str | None = None
    expiry: str | None = None  # YYMMDD exactly as scanned
    signature: str | None = None  # AI 8030 value

    @property
    def key(self) -> tuple[str, str]:
        return (self.gtin, self.serial)


@dataclass(frozen=True, slots=True)
class ContainerCode:
    """A logistic unit (case, pallet) identified by its SSCC."""

    sscc: str


@dataclass(frozen=True, slots=True)
class ProductCode:
    """A product (GTIN) or one lot of it (GTIN + lot), as a product- or lot-level Digital Link names it."""

    gtin: str
    lot: str | None = None
    variant: str | None = None  # AI 22, consumer product variant
    expiry: str | None = None


ParsedCode = UnitCode | ContainerCode


def _from_elements(elements: dict[str, str], source: str) -> ParsedCode:
    if "00" in elements:
        extra = sorted(set(elements) - {"00"})
        if extra:
            raise InvalidCode(f"an SSCC {source} carries no other AIs, found {', '.join(extra)}")
        return ContainerCode(elements["00"])
    if "01" not in elements:
        raise InvalidCode(f"the {source} has no GTIN (AI 01) or SSCC (AI 00)")
    if "21" not in elements:
        raise InvalidCode(f"the {source} has GTIN {elements['01']} but no serial (AI 21): not a unit code")
    return UnitCode(
        gtin=elements["01"],
        serial=elements["21"],
        lot=elements.get("10"),
        expiry=elements.get("17"),
        signature=elements.get("8030"),
    )


def _add_element(elements: dict[str, str], ai: str, value: str) -> None:
    if ai not in AIS:
        raise InvalidCode(f"AI ({ai}) is not one Passport reads")
    if ai in elements:
        raise InvalidCode(f"AI ({ai}) appears twice")
    elements[ai] = validate_ai_value(ai, value)


_BRACKETED = re.compile(r"\((\d{2,4})\)")


def parse_element_string(text: str) -> ParsedCode:
    """Parse ``(01)...(21)...`` human-readable element strings."""
    if not text.startswith("("):
        raise InvalidCode("a bracketed element string must start with '(' and an AI, e.g. (01)")
    parts = _BRACKETED.split(text)
    if parts[0]:
        raise InvalidCode(f"unexpected text {parts[0]!r} before the first AI")
    elements: dict[str, str] = {}
    for ai, value in zip(parts[1::2], parts[2::2], strict=True):
        _add_element(elements, ai, value)
    return _from_elements(elements, "element string")


_SYMBOLOGY_PREFIXES = ("]d2", "]Q3", "]C1", "]e0", "]J1")


def parse_raw_element_string(text: str) -> ParsedCode:
    """Parse an unbracketed element string as a scanner sends it: optional symbology identifier, FNC1 as GS."""
    body = text
    for prefix in _SYMBOLOGY_PREFIXES:
        if body.startswith(prefix):
            body = body[len(prefix) :]
            break
    body = body.replace("<GS>", GS)
    elements: dict[str, str] = {}
    pos = 0
    while pos < len(body):
        if body[pos] == GS:
            pos += 1
            continue
        ai = next((body[pos : pos + n] for n in (2, 4) if body[pos : pos + n] in AIS), None)
        if ai is None:
            raise InvalidCode(f"no known AI at position {pos + 1} of the scanned data ({body[pos : pos + 4]!r}...)")
        spec = AIS[ai]
        start = pos + len(ai)
        if spec.fixed is not None:
            end = start + spec.fixed
            value = body[start:end]
        else:
            sep = body.find(GS, start)
            end = len(body) if sep == -1 else sep
            value = body[start:end]
            if len(value) > spec.max_len:
                raise InvalidCode(
                    f"AI ({ai}) {spec.name} runs to {len(value)} characters (max {spec.max_len}): "
                    "a group separator (FNC1/GS) was probably dropped by the scanner"
                )
        _add_element(elements, ai, value)
        pos = end
    return _from_elements(elements, "scanned element string")


_PCHAR = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=:@%]*")
_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")


def _percent_decode(segment: str, where: str) -> str:
    if not _PCHAR.fullmatch(segment):
        bad = next(c for c in segment if not _PCHAR.fullmatch(c))
        raise InvalidCode(f"{where} contains {bad!r}, which must be percent-encoded in a URI")
    if "%" not in segment:
        return segment  # nothing encoded: the common case of our own codes
    if _PERCENT.search(segment):
        raise InvalidCode(f"{where} has a '%' not followed by two hex digits")
    raw = bytearray()
    i = 0
    while i < len(segment):
        if segment[i] == "%":
            raw.append(int(segment[i + 1 : i + 3], 16))
            i += 3
        else:
            raw.append(ord(segment[i]))
            i += 1
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidCode(f"{where} percent-decodes to bytes that are not UTF-8") from None


def parse_digital_link_path(path: str, query: str = "") -> ParsedCode:
    """Parse the path (raw, still percent-encoded) and query of a GS1 Digital Link URI naming a unit or an SSCC.

    The primary key (``/01/{gtin}`` or ``/00/{sscc}``) may follow any path prefix; after it come the
    qualifiers in the order 22, 10, 21. AIs in the query are data attributes; other keys are ignored as the
    Digital Link standard allows.
    """
    return _from_elements(digital_link_elements(path, query), "Digital Link URI")


def parse_scan_path(path: str, query: str = "") -> UnitCode | ProductCode:
    """A scanned GTIN Digital Link at any level: a unit (``/21/`` present), else the product or one lot of it."""
    elements = digital_link_elements(path, query)
    if "01" not in elements:
        raise InvalidCode("the URI names an SSCC (AI 00), not a product: scan the GTIN's Digital Link")
    if "21" in elements:
        return UnitCode(
            gtin=elements["01"],
            serial=elements["21"],
            lot=elements.get("10"),
            expiry=elements.get("17"),
            signature=elements.get("8030"),
        )
    return ProductCode(elements["01"], elements.get("10"), elements.get("22"), elements.get("17"))


def digital_link_elements(path: str, query: str = "") -> dict[str, str]:
    """The AI elements of a Digital Link path and query, each checked; qualifiers only in the standard's order."""
    segments = path.split("/")
    start = next((i for i, s in enumerate(segments) if s in ("01", "00")), None)
    if start is None:
        raise InvalidCode("the URI path has no /01/{gtin} or /00/{sscc}")
    rest = segments[start:]
    if rest[-1] == "" and len(rest) > 1:
        raise InvalidCode("the URI path ends with '/': remove the trailing slash")
    if len(rest) % 2:
        raise InvalidCode(f"the URI path has an AI ({rest[-1]}) with no value after it")
    elements: dict[str, str] = {}
    pairs = list(zip(rest[::2], rest[1::2], strict=True))
    key_ai = pairs[0][0]
    last_rank = -1
    for ai, _ in pairs[1:]:
        if key_ai == "00":
            raise InvalidCode(f"an SSCC URI takes no path qualifiers, found /{ai}/")
        if ai not in _QUALIFIER_ORDER:
            raise InvalidCode(f"/{ai}/ is not a path qualifier of a GTIN (allowed: /22/, /10/, /21/ in that order)")
        rank = _QUALIFIER_ORDER.index(ai)
        if rank <= last_rank:
            raise InvalidCode(
                f"qualifier /{ai}/ is in the wrong place: the order is /22/ then /10/ (lot) then /21/ (serial)"
            )
        last_rank = rank
    for ai, raw_value in pairs:
        _add_element(elements, ai, _percent_decode(raw_value, f"the value of /{ai}/"))
    if query:
        for pair in query.split("&"):
            if not pair:
                continue
            name, sep, raw_value = pair.partition("=")
            if not name.isdigit():
                continue  # non-AI query parameters are allowed and ignored by the standard
            if name not in AIS:
                raise InvalidCode(f"query parameter {name} is not an AI Passport reads")
            kind = AIS[name].kind
            if kind != "attribute":
                raise InvalidCode(f"AI {name} ({AIS[name].name}) is a {kind}: it belongs in the path, not the query")
            if not sep:
                raise InvalidCode(f"query parameter {name} has no value")
            _add_element(elements, name, _percent_decode(raw_value, f"query parameter {name}"))
    return elements


_URI = re.compile(r"^(https?)://([^/?#]+)(/[^?#]*)?(?:\?([^#]*))?(?:#.*)?$", re.IGNORECASE)
# A URI scheme (RFC 3986 §3.1) starts with a letter; element strings start with '(', a digit, ']' or GS, and may
# carry ':' and '/' in their values, so "://" anywhere else in the text is data, not a scheme.
_OTHER_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://")


def parse_code(text: str) -> ParsedCode:
    """Parse any accepted form: a Digital Link URI (any host), a bracketed or a raw element string."""
    text = text.strip()
    if not text:
        raise InvalidCode("the code is empty")
    if text.lower().startswith(("http://", "https://")):
        match = _URI.match(text)
        if not match:
            raise InvalidCode("the code is not a well-formed http(s) URI")
        return parse_digital_link_path(match.group(3) or "", match.group(4) or "")
    if _OTHER_SCHEME.match(text):
        raise InvalidCode("a Digital Link URI must use http or https")
    if text.startswith("("):
        return parse_element_string(text)
    return parse_raw_element_string(text)


# --------------------------------------------------------------------------------------------- formatting


def digital_link_prefix(base_url: str, gtin: str, lot: str) -> str:
    """Everything of a unit's URI before the serial; shared by every code of a batch."""
    return f"{base_url.rstrip('/')}/01/{gtin}/10/{quote(lot, safe='')}/21/"


def digital_link(base_url: str, code: UnitCode) -> str:
    """The GS1 Digital Link URI of a unit, qualifiers in the path, expiry and signature in the query."""
    uri = f"{base_url.rstrip('/')}/01/{code.gtin}"
    if code.lot is not None:
        uri += f"/10/{quote(code.lot, safe='')}"
    uri += f"/21/{quote(code.serial, safe='')}"
    query = [f"{ai}={value}" for ai, value in (("17", code.expiry), ("8030", code.signature)) if value]
    return uri + ("?" + "&".join(query) if query else "")


def element_string(code: UnitCode) -> str:
    """The human-readable bracketed form, as printed under a label's symbol."""
    text = f"(01){code.gtin}(21){code.serial}"
    if code.lot is not None:
        text += f"(10){code.lot}"
    if code.expiry is not None:
        text += f"(17){code.expiry}"
    return text
