"""Reading a list's codes: the same answer as ``parse_code`` for every text, faster for a list's repeated prefix.

A list of 10,000 Digital Link URIs names a handful of products and lots: everything before ``/21/{serial}`` (the
host, the GTIN with its check digit, the lot) repeats. ``CodeReader.parse`` checks such a prefix once, by parsing
it in full with a stand-in serial, and then checks each code's own part, its serial and its query (expiry, AI
8030 signature), against the same rules as ``parse_code``. Anything the fast path does not recognise exactly (an
upper-case scheme, a fragment, a percent-encoded serial, another query parameter, a repeated or invalid value, an
element string) is parsed in full by ``parse_code``, so a mangled code is refused with the very same error.
"""

from __future__ import annotations

import re
from typing import Final

from app.domain.errors import InvalidCode
from app.domain.identifiers import AIS, ParsedCode, UnitCode, parse_code, yymmdd_to_date

# The text of the list's common shape: scheme, host and path up to the last ``/21/`` (the prefix), a serial of
# letters and digits (nothing percent-encoded, within AI 21's length), and a query. No whitespace, no fragment.
_SHAPE: Final = re.compile(r"(https?://[^/?#\s]+/(?:[^?#\s]*/)?)21/([0-9A-Za-z]{1,20})(?:\?([^#\s]*))?")
_STAND_IN: Final = "A"  # a serial every prefix accepts as AI 21
_EXPIRY: Final = re.compile(r"[0-9]{6}")
_SIGNATURE: Final = re.compile(rf"[A-Za-z0-9_-]{{1,{AIS['8030'].max_len}}}")  # AI 8030: URI-safe base64
_USUAL_QUERY: Final = re.compile(rf"17=({_EXPIRY.pattern})&8030=({_SIGNATURE.pattern})")


class CodeReader:
    """Parses codes as ``parse_code`` does, remembering each Digital Link prefix it has checked (one request)."""

    def __init__(self) -> None:
        self._prefixes: dict[str, UnitCode | None] = {}  # prefix -> its code with the stand-in serial, or None
        self._dates: set[str] = set()  # expiry dates (YYMMDD) checked

    def parse(self, text: str) -> ParsedCode:
        code = self.fast(text)
        return code if code is not None else parse_code(text)  # every other form, and every refusal, in full

    def fast(self, text: str) -> UnitCode | None:
        """The code, if ``text`` has the list's common shape and a checked prefix (an http(s) URI, so never a
        20-digit code either); None means: parse it in full."""
        match = _SHAPE.fullmatch(text)
        if match is None:
            return None
        prefix, serial, query = match.groups()
        base = self._prefix(prefix)
        if base is None:
            return None
        if not query:
            return UnitCode(gtin=base.gtin, serial=serial, lot=base.lot)
        usual = _USUAL_QUERY.fullmatch(query)
        if usual is not None:  # our own codes' query: "17={expiry}&8030={signature}"
            expiry, signature = usual.groups()
            if not self._date_ok(expiry):
                return None
            return UnitCode(gtin=base.gtin, serial=serial, lot=base.lot, expiry=expiry, signature=signature)
        attributes = self._attributes(query)
        if attributes is None:
            return None
        return UnitCode(
            gtin=base.gtin,
            serial=serial,
            lot=base.lot,
            expiry=attributes.get("17"),
            signature=attributes.get("8030"),
        )

    def _prefix(self, prefix: str) -> UnitCode | None:
        if prefix in self._prefixes:
            return self._prefixes[prefix]
        try:
            code = parse_code(f"{prefix}21/{_STAND_IN}")
        except InvalidCode:
            code = None
        base = code if isinstance(code, UnitCode) and code.serial == _STAND_IN else None
        self._prefixes[prefix] = base
        return base

    def _attributes(self, query: str) -> dict[str, str] | None:
        """The expiry and signature of a query holding those only, each at most once and valid; else None."""
        found: dict[str, str] = {}
        for pair in query.split("&"):
            name, sep, value = pair.partition("=")
            if not sep or name in found:
                return None
            if name == "8030" and _SIGNATURE.fullmatch(value):
                found[name] = value
            elif name == "17" and _EXPIRY.fullmatch(value) and self._date_ok(value):
                found[name] = value
            else:
                return None
        return found

    def _date_ok(self, value: str) -> bool:
        if value not in self._dates:
            try:
                yymmdd_to_date(value)
            except InvalidCode:
                return False
            self._dates.add(value)
        return True
