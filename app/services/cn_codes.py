"""Reading a code that may be a 20-digit drug traceability code: the GS1 unit it names, or a clear refusal.

A 20-digit code names a unit of the product whose ``cn_drug_id`` is its first 7 digits, with the whole code as the
unit's serial (app/domain/cn_code.py). A code one slip away from a registered one (a dropped, doubled or misread
digit) is refused as a mis-scan, saying so; a prefix no product carries is refused as unknown.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.db.cn_codes import gtin_by_cn_drug_id
from app.db.models import Alert, Event, EventItem, Product, Unit
from app.domain.alerts import AlertType
from app.domain.cn_code import CN_DRUG_ID_LENGTH, CnCode, looks_like_cn_code, near_cn_codes, parse_cn_code
from app.domain.code_reader import CodeReader
from app.domain.custody import SALE_ACTIONS
from app.domain.errors import InvalidCode
from app.domain.identifiers import ContainerCode, ParsedCode, UnitCode, digital_link, parse_code

_CACHE_KEY = "cn_drug_ids"  # session.info: drug id -> GTIN, for the codes of one request (a prefix never moves)


def read_code(session: Session, text: str, reader: CodeReader | None = None) -> ParsedCode:
    """Any code an event or a scan may name: a 20-digit code (as its GS1 unit), else any GS1 form. ``reader``:
    the request's ``CodeReader`` (a list's repeated Digital Link prefix checked once; the same answers)."""
    if reader is not None and (code := reader.fast(text)) is not None:  # a Digital Link: not a 20-digit code
        return code
    if looks_like_cn_code(text):
        return unit_code(session, read_cn_code(session, text))
    return reader.parse(text) if reader is not None else parse_code(text)


def read_cn_code(session: Session, text: str) -> CnCode:
    """Parse strictly; a malformed code one slip away from a registered unit says it is a mis-scan."""
    try:
        return parse_cn_code(text)
    except InvalidCode as error:
        if _near_registered(session, text):
            raise InvalidCode(
                f"{error.detail}; it is one slip away from a registered code (a mis-scan? scan the pack again)",
                code=error.code,
                triage="misscan",
            ) from None
        raise


def gtin_of(session: Session, drug_id: str) -> str | None:
    cache: dict[str, str] = session.info.setdefault(_CACHE_KEY, {})
    gtin = cache.get(drug_id)
    if gtin is None:
        gtin = gtin_by_cn_drug_id(session, drug_id)
        if gtin is not None:
            cache[drug_id] = gtin
    return gtin


def unit_code(session: Session, code: CnCode) -> UnitCode:
    gtin = gtin_of(session, code.drug_id)
    if gtin is None:
        raise InvalidCode(
            f"code {code.code}: no product here carries the 药品标识码 {code.drug_id} (its first 7 digits); "
            "the manufacturer registers it as the product's cn_drug_id",
            code="unknown_cn_drug_id",
        )
    return UnitCode(gtin=gtin, serial=code.code)


def _near_registered(session: Session, text: str) -> bool:
    candidates = near_cn_codes(text)
    if not candidates:
        return False
    prefixes = {c[:CN_DRUG_ID_LENGTH] for c in candidates}
    hit = session.scalar(
        select(Unit.id)
        .join(Product, Product.gtin == Unit.gtin)
        .where(Product.cn_drug_id.in_(prefixes), Unit.serial.in_(candidates))
        .limit(1)
    )
    return hit is not None


def scan_target(session: Session, text: str) -> tuple[str, str] | CnCode:
    """What a scanner read, as the Digital Link path and query that answer it; a 20-digit code whose prefix no
    product carries comes back as itself (it is unknown here). Refusals say what was wrong with the text."""
    text = text.strip()
    if looks_like_cn_code(text):
        cn = read_cn_code(session, text)
        gtin = gtin_of(session, cn.drug_id)
        return (f"/01/{gtin}/21/{cn.code}", "") if gtin is not None else cn
    code = parse_code(text)
    if isinstance(code, ContainerCode):
        raise InvalidCode(f"{text!r} names a shipping container (SSCC {code.sscc}): scan the pack's own code")
    uri = digital_link("", code)
    path, _, query = uri.partition("?")
    return path, query


def sales_of(session: Session, unit_id: int | None) -> dict[str, object]:
    """How often a code was sold, as the insurance app shows it: the standing sales and dispensings, plus the
    refused attempts to sell or settle it again (each a sale at some till); the first sale's time and region."""
    if unit_id is None:
        return {"count": 0, "first_at": None, "region": None}
    sales = session.execute(
        select(Event.occurred_at, Event.region)
        .join(EventItem, EventItem.event_id == Event.id)
        .where(
            EventItem.unit_id == unit_id,
            Event.action.in_([a.value for a in SALE_ACTIONS]),
            Event.undone_by_event_id.is_(None),
        )
        .order_by(Event.occurred_at, Event.id)
    ).all()
    repeats = session.scalar(
        select(func.coalesce(func.sum(Alert.count), 0)).where(
            Alert.unit_id == unit_id, Alert.type.in_([AlertType.REPEAT_SALE, AlertType.REPEAT_SETTLEMENT])
        )
    )
    first = sales[0] if sales else None
    return {
        "count": len(sales) + int(repeats or 0),
        "first_at": first.occurred_at.isoformat() if first else None,
        "region": first.region if first else None,
    }
