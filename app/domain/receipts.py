"""Signed sale receipts: what a buyer keeps of a sale or dispensing, and what that sale stands as later.

A receipt is a compact JWS (RFC 7515 §7.1, EdDSA over Ed25519 per RFC 8037; ``app/domain/jws.py``), header type
``passport-receipt+jws``, signed by a code-signing key of ``/.well-known/jwks.json``. Its payload names the unit
and the sale, never the seller nor a price: ``gtin``, ``serial`` (for a 20-digit drug code the whole code, which is
the unit's serial here), ``event_id``, ``log_index`` (the sale's leaf in the Merkle log), ``sold_at``, ``region``,
``channel``, ``action`` (``sell`` or ``dispense``) and ``iss`` (the service's base URL). docs/receipts.md shows how
to check one offline.

``standing`` says what a receipt's sale stands as, from the pack's sales and returns in the order they were
recorded: the only sale of the pack, returned since, one of several sales (suspect), or undone.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from app.domain.errors import InvalidInput
from app.domain.jws import b64url_decode, sign_many, verify_compact
from app.domain.signing import Signer

RECEIPT_TYPE = "passport-receipt+jws"
MAX_TOKEN_CHARS = 2_000  # a receipt is about 500 characters; anything far longer is not one
_GTIN = re.compile(r"[0-9]{14}")
_CLAIMS = ("action", "channel", "event_id", "gtin", "iss", "log_index", "region", "serial", "sold_at")


class Invalidity(StrEnum):
    """Why a token is not a valid receipt."""

    MALFORMED = "malformed"  # not a compact JWS: truncated, not base64url, not JSON, too long
    WRONG_TYPE = "wrong_type"  # a JWS of ours, but not a receipt (a partner verification answer, say)
    UNKNOWN_KEY = "unknown_key"  # signed by a key that is not in the JWKS
    BAD_SIGNATURE = "bad_signature"  # tampered with: the signature does not cover these bytes
    BAD_CLAIMS = "bad_claims"  # signed, but its payload is not a receipt's


class ReceiptInvalid(InvalidInput):
    code = "invalid_receipt"
    title = "Invalid receipt"

    def __init__(self, detail: str, reason: Invalidity) -> None:
        super().__init__(detail, reason=reason.value)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Receipt:
    gtin: str
    serial: str
    event_id: int
    log_index: int
    sold_at: datetime
    region: str | None
    channel: str
    action: str
    iss: str

    def claims(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "channel": self.channel,
            "event_id": self.event_id,
            "gtin": self.gtin,
            "iss": self.iss,
            "log_index": self.log_index,
            "region": self.region,
            "serial": self.serial,
            "sold_at": self.sold_at.astimezone(UTC).isoformat(),
        }


def sign_receipts(receipts: Iterable[Receipt], signer: Signer) -> list[str]:
    return sign_many((r.claims() for r in receipts), signer, typ=RECEIPT_TYPE)


def key_tag_of(token: str) -> int | None:
    """The key tag a token's header names, if it reads as one (to reload the key set for a new key)."""
    try:
        kid = json.loads(b64url_decode(token.split(".", 1)[0])).get("kid")
        return int(kid, 16) if isinstance(kid, str) and len(kid) == 4 else None
    except (InvalidInput, ValueError, AttributeError, RecursionError):
        return None


def read_receipt(token: str, public_keys: Mapping[str, bytes]) -> Receipt:
    """The receipt a token carries, once its signature verifies; ``ReceiptInvalid`` says why not."""
    if len(token) > MAX_TOKEN_CHARS:
        raise ReceiptInvalid(f"a receipt is at most {MAX_TOKEN_CHARS} characters", Invalidity.MALFORMED)
    try:
        payload = verify_compact(token, public_keys, typ=RECEIPT_TYPE)
    except InvalidInput as error:
        raise ReceiptInvalid(error.detail, Invalidity(error.extra.get("reason", "malformed"))) from None
    return receipt_of(payload)


def receipt_of(payload: Mapping[str, Any]) -> Receipt:
    def bad(why: str) -> ReceiptInvalid:
        return ReceiptInvalid(f"the signed payload is not a receipt: {why}", Invalidity.BAD_CLAIMS)

    missing = [name for name in _CLAIMS if name not in payload]
    if missing:
        raise bad("missing " + ", ".join(missing))
    gtin, serial, region = payload["gtin"], payload["serial"], payload["region"]
    if not isinstance(gtin, str) or not _GTIN.fullmatch(gtin):
        raise bad("gtin is not 14 digits")
    if not isinstance(serial, str) or not 1 <= len(serial) <= 20:
        raise bad("serial is not 1 to 20 characters")
    for name in ("event_id", "log_index"):
        value = payload[name]
        if type(value) is not int or value < (1 if name == "event_id" else 0):
            raise bad(f"{name} is not a whole number in range")
    if payload["action"] not in ("sell", "dispense") or payload["channel"] not in ("offline", "online"):
        raise bad("action or channel is not one a sale has")
    if region is not None and not isinstance(region, str):
        raise bad("region is not text")
    if not isinstance(payload["iss"], str):
        raise bad("iss is not text")
    try:
        sold_at = datetime.fromisoformat(payload["sold_at"])
    except (TypeError, ValueError):
        raise bad("sold_at is not an ISO 8601 time") from None
    if sold_at.tzinfo is None:
        raise bad("sold_at has no UTC offset")
    try:
        sold_at = sold_at.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+01:00 is before the first UTC moment Python holds
        raise bad("sold_at is out of range") from None
    return Receipt(
        gtin=gtin,
        serial=serial,
        event_id=payload["event_id"],
        log_index=payload["log_index"],
        sold_at=sold_at,
        region=region,
        channel=payload["channel"],
        action=payload["action"],
        iss=payload["iss"],
    )


# ------------------------------------------------------------------------------------------------ standing


class StepKind(StrEnum):
    SALE = "sale"  # the pack went to a buyer (sold, or dispensed whole)
    PARTIAL = "partial"  # dispensed from an opened pack, which stays open (a ward's doses)
    RETURN = "return"  # a buyer brought it back


@dataclass(frozen=True, slots=True)
class Step:
    """One sale, dispensing or return of the pack, in recording order; ``undone``: corrected away since."""

    event_id: int
    kind: StepKind
    undone: bool = False


class Standing(StrEnum):
    SOLD_ONCE = "sold_once"  # this is the pack's only sale
    RETURNED = "returned"  # brought back after this sale, not sold since
    SOLD_AGAIN = "sold_again"  # the pack has more than one standing sale: suspect
    FROM_OPEN_PACK = "dispensed_from_open_pack"  # one of the doses of an opened pack
    UNDONE = "undone"  # the seller undid this sale: the receipt stands for nothing
    NOT_FOUND = "not_found"  # the record holds no such sale of this pack


@dataclass(frozen=True, slots=True)
class ReceiptState:
    standing: Standing
    sales: int  # standing sales of the pack (whole-pack sales and dispensings)
    sale_number: int | None  # this sale's place among them (1 = the first)

    @property
    def suspect(self) -> bool:
        return self.standing is Standing.SOLD_AGAIN

    def as_json(self) -> dict[str, Any]:
        return {
            "standing": self.standing.value,
            "suspect": self.suspect,
            "sales": self.sales,
            "sale_number": self.sale_number,
        }


def standing(event_id: int, steps: Sequence[Step]) -> ReceiptState:
    live = [s for s in steps if not s.undone]
    sales = [s.event_id for s in live if s.kind is StepKind.SALE]
    mine = next((s for s in steps if s.event_id == event_id and s.kind is not StepKind.RETURN), None)
    number = sales.index(event_id) + 1 if event_id in sales else None
    if mine is None:
        return ReceiptState(Standing.NOT_FOUND, len(sales), None)
    if mine.undone:
        return ReceiptState(Standing.UNDONE, len(sales), None)
    if mine.kind is StepKind.PARTIAL:
        return ReceiptState(Standing.FROM_OPEN_PACK, len(sales), None)
    if len(sales) > 1:
        return ReceiptState(Standing.SOLD_AGAIN, len(sales), number)
    if any(s.kind is StepKind.RETURN and s.event_id > event_id for s in live):
        return ReceiptState(Standing.RETURNED, len(sales), number)
    return ReceiptState(Standing.SOLD_ONCE, len(sales), number)
