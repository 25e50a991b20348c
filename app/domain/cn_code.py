"""China's 20-digit drug traceability code (药品追溯码), parsed strictly.

NMPAB/T 1002-2019 (《药品追溯码编码要求》, §6) builds a drug traceability code from the 药品标识码 (the first 7
digits: licence holder, drug, dosage form, strength, pack) and the production identifier of the sales package
(serial, optionally lot and expiry) with check characters; the common 20-digit form is digits only. The check
characters belong to the code's issuer (码上放心 or an enterprise code issuer), so a service that did not issue the
code treats everything after the prefix as an opaque serial: Passport stores a unit named by a 20-digit code with the
whole code as its GS1 serial (AI 21 takes up to 20 characters), so its Digital Link form is
``/01/{gtin}/21/{code}``. See docs/cn-drug-codes.md.

Parsing never guesses (a dropped or doubled digit, a letter read for a digit, a symbology prefix): every refusal says
what was wrong, and ``near_cn_codes`` lists what a slipped scan may have meant, for the mis-scan triage.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from app.domain.errors import InvalidCode

CN_CODE_LENGTH = 20
CN_DRUG_ID_LENGTH = 7

# Symbology identifiers (ISO/IEC 15424) a scanner may put in front of a non-GS1 symbol: Code 128 (]C0), QR (]Q1),
# Data Matrix (]d1). A GS1 symbol's identifiers (]C1, ]Q3, ]d2) never carry a 20-digit code.
_CN_SYMBOLOGY = ("]C0", "]Q1", "]d1")
_ALNUM = re.compile(r"[0-9A-Za-z]+")


@dataclass(frozen=True, slots=True)
class CnCode:
    """A 20-digit drug traceability code: the 7-digit 药品标识码 and the 13 characters after it."""

    drug_id: str
    serial: str

    @property
    def code(self) -> str:
        """The whole code, as printed: also the GS1 serial of the unit it names."""
        return self.drug_id + self.serial


def validate_cn_drug_id(value: str) -> str:
    """A product's 药品标识码: exactly 7 digits."""
    if len(value) != CN_DRUG_ID_LENGTH or not value.isascii() or not value.isdigit():
        raise InvalidCode(
            f"cn_drug_id must be the 7 digits of the 药品标识码 (the first 7 of its 20-digit codes), got {value!r}",
            code="invalid_cn_drug_id",
        )
    return value


def strip_cn_symbology(text: str) -> str:
    text = text.strip()
    for prefix in _CN_SYMBOLOGY:
        if text.startswith(prefix):
            return text[len(prefix) :]
    return text


def looks_like_cn_code(text: str) -> bool:
    """Whether ``text`` is meant as a 20-digit code (well-formed or slipped by one character), not as GS1.

    Letters and digits only, 19 to 21 of them, not starting as a GS1 unit or SSCC element string does (01, 00):
    an unbracketed GS1 unit code of that length has no other start, so nothing GS1 is taken for a 20-digit code.
    Exactly 20 digits are always a 20-digit code (a GS1 string of 20 digits, (01) + GTIN + (21) + two digits,
    must be sent with brackets or as a Digital Link).
    """
    body = strip_cn_symbology(text)
    if not 19 <= len(body) <= 21 or not body.isascii() or not _ALNUM.fullmatch(body):
        return False
    if len(body) == CN_CODE_LENGTH and body.isdigit():
        return True
    return body[0].isdigit() and not body.startswith(("01", "00"))


def parse_cn_code(text: str) -> CnCode:
    """Parse a scanned 20-digit code (an optional non-GS1 symbology prefix, surrounding spaces), refusing clearly."""
    body = strip_cn_symbology(text)
    if not body:
        raise InvalidCode("the drug traceability code is empty")
    bad = next((i for i, c in enumerate(body) if not ("0" <= c <= "9")), None)
    if bad is not None:
        char = body[bad]
        hint = " (a letter O read for the digit 0?)" if char in "oO" else ""
        hint = " (a letter I or l read for the digit 1?)" if char in "IiLl" else hint
        raise InvalidCode(
            f"a drug traceability code (药品追溯码) is 20 digits; position {bad + 1} is {char!r}, not a digit{hint}",
            code="invalid_cn_code",
        )
    if len(body) != CN_CODE_LENGTH:
        slip = "a digit was dropped" if len(body) == CN_CODE_LENGTH - 1 else "a digit was doubled or added"
        slip = slip if abs(len(body) - CN_CODE_LENGTH) == 1 else "not a 20-digit code"
        raise InvalidCode(
            f"a drug traceability code (药品追溯码) has 20 digits, this one has {len(body)}: {slip}",
            code="invalid_cn_code",
        )
    return CnCode(body[:CN_DRUG_ID_LENGTH], body[CN_DRUG_ID_LENGTH:])


def near_cn_codes(text: str, *, limit: int = 400) -> list[str]:
    """20-digit codes one slip away from a scan: a letter read for a look-alike digit, one digit dropped (19) or
    doubled (21), two neighbours transposed, one digit changed. Candidates only: whether any names a unit is the
    caller's lookup."""
    body = strip_cn_symbology(text)
    found: dict[str, None] = {}

    def add(candidate: str) -> None:
        if candidate != body and len(candidate) == CN_CODE_LENGTH and candidate.isdigit():
            found.setdefault(candidate, None)

    add(body.upper().translate(_DIGIT_LOOKALIKE))
    if len(body) == CN_CODE_LENGTH + 1:
        for i in range(len(body)):
            add(body[:i] + body[i + 1 :])
    elif len(body) == CN_CODE_LENGTH - 1:
        for i in range(len(body) + 1):
            for digit in "0123456789":
                add(body[:i] + digit + body[i:])
    elif len(body) == CN_CODE_LENGTH:
        for i in range(len(body) - 1):
            add(body[:i] + body[i + 1] + body[i] + body[i + 2 :])
        for i in range(len(body)):
            for digit in "0123456789":
                add(body[:i] + digit + body[i + 1 :])
    return list(found)[:limit]


_DIGIT_LOOKALIKE = str.maketrans({"O": "0", "D": "0", "Q": "0", "I": "1", "L": "1", "Z": "2", "S": "5", "B": "8"})
