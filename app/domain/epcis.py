"""EPCIS 2.0 / CBV 2.0 without I/O: identifiers in one canonical form, and the meaning of an event for custody.

Identifiers arrive as EPC URNs (EPC Tag Data Standard 2.1 §6: ``urn:epc:id:sgtin:0614141.107346.2017``) or as
GS1 Digital Link URIs on any host. Both are stored as the canonical Digital Link on ``id.gs1.org`` (a URN turns
into a Digital Link without outside knowledge; the reverse needs the GS1 Company Prefix length, which a Digital
Link does not carry), so a query by either form finds the event.

The custody mapping is one table (:data:`BIZ_STEP_ACTIONS`) from CBV business steps to Passport's actions, and its
reverse for exporting native events (:data:`NATIVE_AS_EPCIS`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from urllib.parse import quote, unquote

from app.domain.cn_code import parse_cn_code
from app.domain.custody import Action
from app.domain.errors import InvalidCode
from app.domain.identifiers import check_digit

CANONICAL_HOST = "https://id.gs1.org"
CBV_WEB_PREFIXES = ("https://ref.gs1.org/cbv/", "https://gs1.org/voc/")
# The EPCIS 2.0 JSON-LD context: the standard's URL first, then the one GS1's GitHub examples name.
EPCIS_CONTEXT_URLS = (
    "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
    "https://gs1.github.io/EPCIS/epcis-context.jsonld",
)

# ------------------------------------------------------------------------------------------ identifiers


@dataclass(frozen=True, slots=True)
class Identifier:
    """One identifier of an event, in canonical form, with the keys Passport matches on."""

    canonical: str
    gtin: str | None = None
    serial: str | None = None
    sscc: str | None = None
    gln: str | None = None
    lot: str | None = None
    cn_code: str | None = None  # a 20-digit drug traceability code: canonical is the code itself

    def as_unit(self, gtin: str) -> Identifier:
        """This 20-digit code as the unit of product ``gtin`` (its serial is the whole code)."""
        return Identifier(self.canonical, gtin=gtin, serial=self.cn_code, cn_code=self.cn_code)

    @property
    def is_unit(self) -> bool:
        return self.gtin is not None and self.serial is not None

    @property
    def unit_key(self) -> tuple[str, str] | None:
        """(GTIN, serial) of a serialised trade item, the key units are found by; None for anything else."""
        if self.gtin is None or self.serial is None:
            return None
        return self.gtin, self.serial


def _urn_decode(text: str) -> str:
    """EPC URN components escape reserved characters as %XX (TDS §6.3)."""
    return unquote(text)


def _digits(text: str, what: str) -> str:
    if not text.isdigit():
        raise InvalidCode(f"{what} must be digits, got {text!r}")
    return text


def _gtin_from(prefix: str, item_ref: str, what: str) -> str:
    _digits(prefix, f"the company prefix of {what}")
    _digits(item_ref, f"the item reference of {what}")
    body = item_ref[:1] + prefix + item_ref[1:]
    if len(body) != 13:
        raise InvalidCode(f"{what}: company prefix and item reference must have 13 digits together")
    return body + check_digit(body)


def _sgln(prefix: str, location: str, what: str) -> str:
    body = _digits(prefix, f"the company prefix of {what}") + _digits(location, f"the location of {what}")
    if len(body) != 12:
        raise InvalidCode(f"{what}: company prefix and location reference must have 12 digits together")
    return body + check_digit(body)


def canonical_gtin_uri(gtin: str, serial: str) -> str:
    return f"{CANONICAL_HOST}/01/{gtin}/21/{quote(serial, safe='')}"


def cn_code_uri(base_url: str, code: str) -> str:
    """How Passport writes a 20-digit drug traceability code in EPCIS: the URI that scans it (``GET /cn/{code}``)."""
    return f"{base_url.rstrip('/')}/cn/{code}"


def canonical_sscc_uri(sscc: str) -> str:
    return f"{CANONICAL_HOST}/00/{sscc}"


def canonical_gln_uri(gln: str, extension: str | None = None, *, party: bool = False) -> str:
    if party:
        return f"{CANONICAL_HOST}/417/{gln}"
    uri = f"{CANONICAL_HOST}/414/{gln}"
    return uri + (f"/254/{quote(extension, safe='')}" if extension else "")


def _from_urn(text: str) -> Identifier:
    parts = text.split(":")
    if len(parts) != 5:
        return Identifier(text)
    _, _, kind, scheme, body = parts
    # The last component (serial, location extension, lot) may itself hold dots: split off the first ones only.
    fields = body.split(".", 2 if scheme in ("sgtin", "sgln", "lgtin") else 1)
    if kind == "id" and scheme == "sgtin" and len(fields) == 3:
        gtin = _gtin_from(fields[0], fields[1], text)
        serial = _urn_decode(fields[2])
        return Identifier(canonical_gtin_uri(gtin, serial), gtin=gtin, serial=serial)
    if kind == "id" and scheme == "sscc" and len(fields) == 2:
        _digits(fields[0], f"the company prefix of {text}")
        _digits(fields[1], f"the serial reference of {text}")
        body17 = fields[1][:1] + fields[0] + fields[1][1:]
        if len(body17) != 17:
            raise InvalidCode(f"{text}: company prefix and serial reference must have 17 digits together")
        sscc = body17 + check_digit(body17)
        return Identifier(canonical_sscc_uri(sscc), sscc=sscc)
    if kind == "id" and scheme == "sgln" and len(fields) == 3:
        gln = _sgln(fields[0], fields[1], text)
        extension = _urn_decode(fields[2])
        return Identifier(canonical_gln_uri(gln, None if extension == "0" else extension), gln=gln)
    if kind == "id" and scheme == "pgln" and len(fields) == 2:
        gln = _sgln(fields[0], fields[1], text)
        return Identifier(canonical_gln_uri(gln, party=True), gln=gln)
    if kind == "class" and scheme == "lgtin" and len(fields) == 3:
        gtin = _gtin_from(fields[0], fields[1], text)
        lot = _urn_decode(fields[2])
        return Identifier(f"{CANONICAL_HOST}/01/{gtin}/10/{quote(lot, safe='')}", gtin=gtin, lot=lot)
    return Identifier(text)  # other EPC schemes (grai, giai, idpat...): kept as sent


_CN_URI = re.compile(r"^https?://[^/?#]+(?:/[^?#]*)?/cn/([^/?#]+)/?(?:[?#].*)?$")
_GLN_DL = re.compile(r"^https?://[^/?#]+(?:/[^?#]*)?/(414|417)/(\d{13})(?:/254/([^/?#]+))?/?(?:[?#].*)?$")
_SSCC_DL = re.compile(r"^https?://[^/?#]+(?:/[^?#]*)?/00/(\d{18})/?(?:[?#].*)?$")
_GTIN_DL = re.compile(r"^https?://[^/?#]+(?:/[^?#]*)?/01/(\d{14})((?:/(?:22|10|21)/[^/?#]+)*)/?(?:[?#].*)?$")


def _checked(key: str, name: str, text: str) -> str:
    if check_digit(key[:-1]) != key[-1]:
        raise InvalidCode(f"{text}: the {name} check digit is wrong")
    return key


def _from_digital_link(text: str) -> Identifier:
    """GS1 Digital Link URIs on any host (GS1 Digital Link 1.3 §4): GLN, SSCC, GTIN with qualifiers; and a
    20-digit drug traceability code as ``https://{host}/cn/{code}`` (docs/cn-drug-codes.md), stored as the code."""
    match = _GLN_DL.match(text)
    if match:
        ai, gln, extension = match.groups()
        _checked(gln, "GLN", text)
        ext = unquote(extension) if extension else None
        return Identifier(canonical_gln_uri(gln, ext, party=ai == "417"), gln=gln)
    match = _SSCC_DL.match(text)
    if match:
        sscc = _checked(match.group(1), "SSCC", text)
        return Identifier(canonical_sscc_uri(sscc), sscc=sscc)
    match = _GTIN_DL.match(text)
    if not match:
        cn = _CN_URI.match(text)
        if cn:
            try:
                code = parse_cn_code(unquote(cn.group(1))).code
            except InvalidCode as error:
                raise InvalidCode(f"{text}: {error.detail}", code=error.code) from None
            return Identifier(code, cn_code=code)
        return Identifier(text)  # another GS1 key (GRAI, GIAI, GDTI...) or any URI: kept as sent
    gtin = _checked(match.group(1), "GTIN", text)
    parts = match.group(2).split("/")[1:]
    qualifiers = {ai: unquote(value) for ai, value in zip(parts[::2], parts[1::2], strict=True)}
    if "21" in qualifiers:
        serial = qualifiers["21"]
        return Identifier(canonical_gtin_uri(gtin, serial), gtin=gtin, serial=serial)
    if "10" in qualifiers:
        lot = qualifiers["10"]
        return Identifier(f"{CANONICAL_HOST}/01/{gtin}/10/{quote(lot, safe='')}", gtin=gtin, lot=lot)
    return Identifier(f"{CANONICAL_HOST}/01/{gtin}", gtin=gtin)


def canonical_identifier(text: str) -> Identifier:
    """The canonical form of an EPC URN or a GS1 Digital Link URI; any other URI is kept as it is.

    Raises :class:`InvalidCode` for a GS1 identifier that is malformed (a wrong check digit, too few digits),
    so that a mistyped code is an error and never a silent second identity."""
    text = text.strip()
    return _remembered_identifier(text) if len(text) <= _REMEMBERED_CHARS else _identifier(text)


def _identifier(text: str) -> Identifier:
    if text.startswith("urn:epc:"):
        return _from_urn(text)
    if text.lower().startswith(("http://", "https://")):
        return _from_digital_link(text)
    return Identifier(text)


# A capture reads each identifier of a document two or three times (its row locks, the event's meaning, the stored
# rows); the answer is immutable and a function of the text alone. Sized for a whole document's identifiers (the
# capture limit is 10,000 events), texts no longer than a column holds; a malformed identifier's error is not kept.
_REMEMBERED_CHARS = 500
_remembered_identifier = lru_cache(maxsize=16_384)(_identifier)


# ------------------------------------------------------------------------------------------ vocabulary


def bare_word(value: str | None) -> str | None:
    """A CBV value as the bare word the JSON binding uses (``shipping``), whatever form it came in."""
    if value is None:
        return None
    for prefix in CBV_WEB_PREFIXES:
        if value.startswith(prefix):
            return value.rsplit("-", 1)[-1]
    if value.startswith("urn:epcglobal:cbv:"):
        return value.rsplit(":", 1)[-1]
    return value


# ------------------------------------------------------------------------------------------ custody meaning

# ObjectEvent business steps that move custody, by the (action, disposition) they come with. ``None`` as a
# disposition matches any. Disposition ``returned`` turns a receipt into a return.
BIZ_STEP_ACTIONS: dict[str, Action] = {
    "shipping": Action.SHIP,
    "receiving": Action.RECEIVE,
    "accepting": Action.RECEIVE,
    "arriving": Action.RECEIVE,
    "retail_selling": Action.SELL,
    "dispensing": Action.DISPENSE,
    "destroying": Action.DESTROY,
    "decommissioning": Action.DESTROY,
    "holding": Action.LOCK,
}
DISPOSITION_ACTIONS: dict[str, Action] = {
    "stolen": Action.REPORT_STOLEN,
    "returned": Action.RETURN,
    "destroyed": Action.DESTROY,
}

# Party types, most specific first: who owns the goods decides custody; failing that, who holds them.
PARTY_TYPES = ("owning_party", "possessing_party", "location")


class MeaningKind(StrEnum):
    """What an event can mean for custody."""

    NONE = "none"
    COMMISSION = "commission"  # identifiers come into being (registered if Passport never issued them)
    RECALL = "recall"  # disposition recalled
    ACTION = "action"  # one of Passport's custody actions


class CustodyOutcome(StrEnum):
    """What capturing an event did to custody (the ``custody`` of a captured event)."""

    APPLIED = "applied"  # recorded as native custody (or units registered, or a recall opened)
    EXTERNAL = "external"  # about identifiers or parties unknown here: kept as history only
    NONE = "none"  # the event moves nothing


@dataclass(frozen=True, slots=True)
class Meaning:
    """What an event means for custody; ``action`` is set exactly when ``kind`` is :attr:`MeaningKind.ACTION`."""

    kind: MeaningKind
    action: Action | None = None
    why: str = ""

    def __post_init__(self) -> None:
        if (self.kind is MeaningKind.ACTION) != (self.action is not None):
            raise ValueError(f"a meaning of kind {self.kind} {'needs' if self.action is None else 'takes no'} action")

    @classmethod
    def of(cls, action: Action) -> Meaning:
        return cls(MeaningKind.ACTION, action)


def _word(event: Mapping[str, object], field: str) -> str | None:
    value = event.get(field)
    return bare_word(value) if isinstance(value, str) else None


def custody_meaning(event: Mapping[str, object]) -> Meaning:
    """Decide from the event type, action, bizStep and disposition alone (parties and identifiers come later).

    A business step that moves goods wins over the disposition they are in (shipping recalled goods back is a
    shipment); a disposition alone (recalled, stolen, returned, destroyed) decides when the step moves nothing."""
    event_type = event.get("type")
    action = event.get("action")
    biz_step = _word(event, "bizStep")
    disposition = _word(event, "disposition")
    if event_type == "AggregationEvent":
        if action == "ADD":
            return Meaning.of(Action.PACK)
        if action == "DELETE":
            return Meaning.of(Action.UNPACK)
        return Meaning(MeaningKind.NONE, why="an aggregation observed, not changed")
    if event_type != "ObjectEvent":
        return Meaning(MeaningKind.NONE, why=f"a {event_type} has no custody meaning in Passport")
    if action == "ADD" and biz_step == "commissioning":
        return Meaning(MeaningKind.COMMISSION)
    mapped = BIZ_STEP_ACTIONS.get(biz_step or "")
    if mapped is Action.RECEIVE and disposition == "returned":
        return Meaning.of(Action.RETURN)
    if mapped is not None and mapped is not Action.LOCK:
        return Meaning.of(mapped)
    if disposition == "recalled":
        return Meaning(MeaningKind.RECALL)
    if mapped is Action.LOCK:  # holding: quarantine, or its end
        if disposition in ("non_sellable_other", "damaged", "expired"):
            return Meaning.of(Action.LOCK)
        if disposition == "sellable_accessible":
            return Meaning.of(Action.UNLOCK)
        return Meaning(MeaningKind.NONE, why="holding without a change of sellability changes nothing")
    if disposition in DISPOSITION_ACTIONS:
        return Meaning.of(DISPOSITION_ACTIONS[disposition])
    if action == "DELETE":
        return Meaning.of(Action.DESTROY)
    return Meaning(MeaningKind.NONE, why=f"business step {biz_step!r} has no custody meaning in Passport")


# Native actions as EPCIS: (event type, action, bizStep, disposition).
NATIVE_AS_EPCIS: dict[str, tuple[str, str, str, str | None]] = {
    "pack": ("AggregationEvent", "ADD", "packing", "in_progress"),
    "unpack": ("AggregationEvent", "DELETE", "unpacking", "in_progress"),
    "ship": ("ObjectEvent", "OBSERVE", "shipping", "in_transit"),
    "receive": ("ObjectEvent", "OBSERVE", "receiving", "in_progress"),
    "sell": ("ObjectEvent", "OBSERVE", "retail_selling", "retail_sold"),
    "dispense": ("ObjectEvent", "OBSERVE", "dispensing", "dispensed"),
    "return": ("ObjectEvent", "OBSERVE", "receiving", "returned"),
    "destroy": ("ObjectEvent", "DELETE", "destroying", "destroyed"),
    "recycle": ("ObjectEvent", "DELETE", "destroying", "disposed"),
    "lock": ("ObjectEvent", "OBSERVE", "holding", "non_sellable_other"),
    "unlock": ("ObjectEvent", "OBSERVE", "holding", "sellable_accessible"),
    "report_stolen": ("ObjectEvent", "OBSERVE", "other", "stolen"),
    "export": ("ObjectEvent", "OBSERVE", "departing", "in_transit"),
    "open": ("ObjectEvent", "OBSERVE", "other", "partially_dispensed"),
    "undo": ("ObjectEvent", "OBSERVE", "other", None),
}
