"""Lines of an import of codes issued elsewhere: each names a code and the package code that holds it.

An import is JSON lines (``{"code": ..., "parent": ...}``) or CSV with the header ``code,parent``. A code is a
GS1 code (Digital Link or element string, GTIN + serial, or an SSCC) or a 20-digit drug traceability code
(药品追溯码, NMPAB/T 1002-2019): its first 7 digits are the 药品标识码, the rest is the issuer's, kept as an opaque
serial. Codes holding nothing are units; the others are packages, which become containers keyed like an SSCC
(``container_key``): an SSCC by itself, any other package code by a fixed 18-character name derived from it.
Every refusal names the line, because a file of a million lines is fixed by line number.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

from app.domain.cn_code import CN_CODE_LENGTH, CN_DRUG_ID_LENGTH, looks_like_cn_code, parse_cn_code
from app.domain.errors import InvalidInput
from app.domain.identifiers import ContainerCode, parse_code

CSV_HEADER = "code,parent"
MAX_LEVELS = 16  # unit, box, case, pallet ... far beyond any real packaging hierarchy


class CodeKind(StrEnum):
    GS1 = "gs1"  # GTIN + serial
    SSCC = "sscc"  # a logistic unit: a package only
    CN = "cn"  # a 20-digit drug traceability code


@dataclass(frozen=True, slots=True)
class ImportCode:
    """A code as the import keys it: ``key`` is unique per code however it was written."""

    key: str
    kind: CodeKind
    gtin: str | None = None  # GS1 only
    serial: str | None = None  # GS1: the serial; 20-digit: the digits after the prefix

    @property
    def prefix(self) -> str | None:
        """The 7-digit 药品标识码 of a 20-digit code."""
        return self.key[:CN_DRUG_ID_LENGTH] if self.kind is CodeKind.CN else None

    @property
    def container_key(self) -> str:
        return container_key(self.key, self.kind)


@lru_cache(maxsize=4096)  # a package is named by every code it holds, usually on consecutive lines
def container_key(key: str, kind: CodeKind) -> str:
    """The container a package code becomes: an SSCC is its own key; any other code a name of 18 characters
    that starts with 'P' (an SSCC is all digits, so the two never meet), derived from the code alone."""
    if kind is CodeKind.SSCC:
        return key
    return "P" + hashlib.sha256(f"{kind.value}:{key}".encode()).hexdigest()[:17]


def parse_import_code(text: str) -> ImportCode:
    """A code of an import: a 20-digit code (``parse_cn_code``: the unit's serial is the whole code, as
    app/domain/cn_code.py stores it), or any GS1 form ``parse_code`` reads (GTIN + serial, or SSCC)."""
    if len(text) == CN_CODE_LENGTH and text.isascii() and text.isdigit():  # the common case, said fast
        return ImportCode(text, CodeKind.CN, serial=text)
    if looks_like_cn_code(text):
        cn = parse_cn_code(text)
        return ImportCode(cn.code, CodeKind.CN, serial=cn.code)
    parsed = parse_code(text)
    if isinstance(parsed, ContainerCode):
        return ImportCode(parsed.sscc, CodeKind.SSCC)
    return ImportCode(f"(01){parsed.gtin}(21){parsed.serial}", CodeKind.GS1, gtin=parsed.gtin, serial=parsed.serial)


# A package is named by every code it holds, usually on consecutive lines: parse (and key) it once.
_parent_code = lru_cache(maxsize=4096)(parse_import_code)


@dataclass(frozen=True, slots=True)
class ImportLine:
    line: int
    code: ImportCode
    parent: ImportCode | None


def _at(line: int, detail: str, code: str = "invalid_import_line") -> InvalidInput:
    return InvalidInput(f"line {line}: {detail}", code=code, line=line)


def _read(line: int, code_text: object, parent_text: object) -> ImportLine:
    if not isinstance(code_text, str) or not code_text.strip():
        raise _at(line, "'code' must be a non-empty string")
    if parent_text is not None and not isinstance(parent_text, str):
        raise _at(line, "'parent' must be a string, empty or null")
    try:
        code = parse_import_code(code_text)
        parent = _parent_code(parent_text) if parent_text and parent_text.strip() else None
    except InvalidInput as error:
        raise _at(line, error.detail, error.code) from None
    if parent is not None and parent.key == code.key:
        raise _at(line, f"code {code_text!r} names itself as its parent (a cycle)", "import_cycle")
    return ImportLine(line, code, parent)


def _cn_digits(text: str) -> bool:
    return len(text) == CN_CODE_LENGTH and text.isdigit() and text.isascii()


_NDJSON_FORMS = (('{"code": "', '", "parent": '), ('{"code":"', '","parent":'))  # json.dumps, and compact


def fast_ndjson_codes(text: str) -> tuple[str, str | None] | None:
    """(code, parent) of a JSON line in the form issuers' tools write for 20-digit codes (``{"code": "<20 digits>",
    "parent": "<20 digits>" or null}``, as ``json.dumps`` spaces it or compact), read with string slices and
    meaning exactly what ``parse_ndjson_line`` reads from it; ``None`` for any other line (which then goes
    through ``parse_ndjson_line``). A code naming itself as its parent is left to it, for its refusal."""
    for head, middle in _NDJSON_FORMS:
        if not text.startswith(head):
            continue
        start = len(head)
        end = start + CN_CODE_LENGTH
        if not text.startswith(middle, end):
            return None
        code = text[start:end]
        rest = text[end + len(middle) :]
        if rest == "null}":
            parent = None
        elif len(rest) == CN_CODE_LENGTH + 3 and rest[0] == '"' and rest[-2:] == '"}':
            parent = rest[1:-2]
            if not _cn_digits(parent) or parent == code:
                return None
        else:
            return None
        return (code, parent) if _cn_digits(code) else None
    return None


def fast_csv_codes(text: str) -> tuple[str, str | None] | None:
    """(code, parent) of a CSV record ``<20 digits>,<20 digits or nothing>``, read with string slices and
    meaning exactly what ``parse_csv_line`` reads from it; ``None`` for any other record."""
    if len(text) < CN_CODE_LENGTH + 1 or text[CN_CODE_LENGTH] != ",":
        return None
    code, parent = text[:CN_CODE_LENGTH], text[CN_CODE_LENGTH + 1 :]
    if not _cn_digits(code):
        return None
    if not parent:
        return code, None
    return (code, parent) if _cn_digits(parent) and parent != code else None


def parse_ndjson_line(line: int, text: str) -> ImportLine | None:
    """One JSON line ``{"code", "parent"}``; ``None`` for a blank line."""
    if not text.strip():
        return None
    try:
        value = json.loads(text)
    except ValueError as error:
        raise _at(line, f"not a JSON object ({error.msg})") from None
    if not isinstance(value, dict):
        raise _at(line, 'each line must be a JSON object {"code": ..., "parent": ...}')
    extra = sorted(set(value) - {"code", "parent"})
    if extra:
        raise _at(line, f"unknown field(s) {', '.join(extra)}: only 'code' and 'parent'")
    return _read(line, value.get("code"), value.get("parent"))


def check_csv_header(text: str) -> None:
    if text.strip().lstrip("\ufeff").replace(" ", "").lower() != CSV_HEADER:
        raise _at(1, f"a CSV import starts with the header {CSV_HEADER!r}, got {text.strip()[:60]!r}")


def parse_csv_line(line: int, text: str) -> ImportLine | None:
    """One CSV record ``code,parent`` (codes never contain commas or quotes: none is a GS1 or 20-digit character
    a scanner sends, so the fields are split as they are); ``None`` for a blank line."""
    if not text.strip():
        return None
    fields = text.rstrip("\r\n").split(",")
    if len(fields) != 2:
        raise _at(line, f"expected 2 fields (code,parent), found {len(fields)}")
    return _read(line, fields[0], fields[1])
