# ruff: noqa: RUF001  (the Chinese texts use full-width punctuation on purpose)
"""The passported half of `passport demo`: a food and an industrial product with full passports (product and lot
levels, a certificate uploaded as a document), a recalled lot, and the product- and lot-level codes to scan.

Written through the services the API uses (catalog, documents, passport versions, recalls). A run adds a passport
version only when the demo's document differs from the newest one, so running the demo again changes nothing here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.config import Settings
from app.db.models import Batch, Product
from app.domain.identifiers import check_digit
from app.domain.orgs import Category
from app.domain.passport import Level
from app.services import catalog, documents, passport_versions, recalls
from app.services.clock import today
from app.services.orgs import Principal
from app.services.passports import newest_documents


def _gln(body: str) -> str:
    return body + check_digit(body)


@dataclass(frozen=True, slots=True)
class Code:
    """A product- or lot-level code the demo prints, and what its scan answers."""

    label: str
    path: str  # "/01/{gtin}" or "/01/{gtin}/10/{lot}"
    verdict: str
    expect: str


FOOD_GTIN = "0690124100001" + check_digit("0690124100001")
FOOD_LOT, FOOD_RECALLED_LOT = "M2611", "M2608"
VALVE_GTIN = "0690125200001" + check_digit("0690125200001")
VALVE_LOT = "V2611"


def _pdf(text: str) -> bytes:
    """A one-page PDF showing ``text`` (ASCII): the certificate the demo uploads."""
    stream = f"BT /F1 14 Tf 56 780 Td ({text}) Tj ET".encode("ascii")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def _food(today: date, certificate: str) -> tuple[dict[str, Any], dict[str, Any]]:
    year = today.year
    product = {
        "manufacturer": {
            "name": "Jiangnan Dairy Co. (demo)",
            "gln": _gln("690124000001"),
            "uscc": "91330100MA2H3K7X1Q",
        },
        "facility": {
            "name": "Hangzhou plant, drying tower 2",
            "gln": _gln("690124000002"),
            "address": "8 Qiantang Road",
        },
        "origin": {"country": "CN", "region": "CN-ZJ"},
        "standards": [
            {"code": "GB 19644-2010", "title": "National food safety standard: milk powder"},
            {"code": "GB 28050-2011", "title": "National food safety standard: nutrition labelling"},
        ],
        "certifications": [
            {
                "scheme": "SC",
                "number": "SC10533010000017",
                "issuer": "Zhejiang Administration for Market Regulation",
                "valid_from": f"{year - 1}-01-01",
                "valid_until": f"{year + 3}-12-31",
                "document": certificate,
            },
            {
                "scheme": "HACCP",
                "number": "CQC-HACCP-0033",
                "issuer": "CQC",
                "valid_from": f"{year - 1}-03-01",
                "valid_until": f"{year + 2}-02-28",
            },
        ],
        "test_reports": [
            {
                "lab": "Zhejiang Institute of Food Inspection",
                "number": f"ZJ-{year}-0117",
                "date": f"{year - 1}-11-20",
                "result": "pass",
                "summary": "Type test: protein 26.1 g/100 g; melamine not detected",
            },
        ],
        "composition": [{"name": "Whole milk", "share_percent": 99.2}, "Vitamin A", "Vitamin D", "Lecithin"],
        "instructions": {
            "zh": "每杯取25克，用200毫升40～50℃温水冲调。",
            "en": "25 g per cup, mixed into 200 ml of water at 40-50 C.",
        },
        "warnings": {"zh": "含乳制品。不适用于1岁以下婴儿。", "en": "Contains milk. Not for infants under 12 months."},
        "disposal": {
            "zh": "罐体为可回收金属，请放入可回收物。",
            "en": "The tin is recyclable metal: put it with recyclables.",
        },
        "storage": {
            "zh": "开罐后密封，阴凉干燥处保存，4周内食用。",
            "en": "Once opened, close tightly, keep cool and dry, use within 4 weeks.",
            "max_celsius": 25,
        },
        "links": [
            {
                "linkType": "gs1:pip",
                "href": "https://example.com/jiangnan/milk-powder",
                "title": "产品信息",
                "lang": "zh",
            }
        ],
    }
    lot = {
        "origin": {"region": "CN-NM"},  # this lot's milk came from Inner Mongolia
        "test_reports": [
            {
                "lab": "Zhejiang Institute of Food Inspection",
                "number": f"ZJ-{FOOD_LOT}",
                "date": f"{year}-01-05",
                "result": "pass",
                "summary": "Release test of lot M2611: microbiology and contaminants within limits",
            },
        ],
    }
    return product, lot


def _valve(today: date, certificate: str) -> tuple[dict[str, Any], dict[str, Any]]:
    year = today.year
    product = {
        "manufacturer": {
            "name": "Ningbo Fluid Control Works (demo)",
            "gln": _gln("690125000001"),
            "uscc": "91330200MA2J8P4W6T",
        },
        "facility": {"name": "Beilun works, assembly hall B", "gln": _gln("690125000002"), "address": "66 Xinqi Road"},
        "origin": {"country": "CN", "region": "CN-ZJ"},
        "standards": [
            {"code": "GB/T 12237-2021", "title": "General purpose industrial valves: steel ball valves"},
            {"code": "GB/T 13927-2022", "title": "Industrial valves: pressure testing"},
        ],
        "certifications": [
            {
                "scheme": "CE (PED 2014/68/EU)",
                "number": "PED-0038-NB2460",
                "issuer": "Notified body 2460",
                "valid_from": f"{year - 1}-06-01",
                "valid_until": f"{year + 3}-05-31",
                "document": certificate,
            },
            {
                "scheme": "TS",
                "number": "TS2710A41-2027",
                "issuer": "State Administration for Market Regulation",
                "valid_from": f"{year - 5}-01-01",
                "valid_until": f"{year - 1}-12-31",
            },
        ],
        "test_reports": [
            {
                "lab": "National Valve Quality Supervision and Inspection Center",
                "number": f"NV-{year - 1}-2208",
                "date": f"{year - 1}-08-22",
                "result": "pass",
                "summary": "Type test: shell 2.4 MPa, seat 1.76 MPa",
            },
        ],
        "composition": [
            {"name": "Stainless steel CF8M (body, ball)", "share_percent": 91.5},
            {"name": "PTFE (seats, packing)", "share_percent": 3.5, "cas": "9002-84-0"},
            "Graphite gasket",
        ],
        "instructions": {
            "zh": "安装前冲洗管道；手柄与管道平行为开启。",
            "en": "Flush the line before fitting; handle in line with the pipe is open.",
        },
        "warnings": {
            "zh": "带压时不得拆卸。最高工作压力1.6 MPa。",
            "en": "Never dismantle under pressure. Rated 1.6 MPa (PN16).",
        },
        "disposal": {
            "zh": "金属部件按废钢回收；PTFE密封件单独回收。",
            "en": "Recycle the metal as scrap steel; PTFE seals separately.",
        },
        "links": [
            {
                "linkType": "gs1:instructions",
                "href": "https://example.com/ningbo/ball-valve-dn50.pdf",
                "title": "Installation manual",
                "lang": "en",
                "type": "application/pdf",
            }
        ],
    }
    lot = {
        "test_reports": [
            {
                "lab": "Ningbo Fluid Control Works QA",
                "number": f"QA-{VALVE_LOT}",
                "date": f"{year}-01-08",
                "result": "pass",
                "summary": "Every valve of lot V2611 shell- and seat-tested at 1.1 x PN",
            },
        ],
        "facility": {"name": "Beilun works, assembly hall C"},
    }
    return product, lot


def _product(session: Session, maker: Principal, gtin: str, name: str, category: str) -> None:
    if session.get(Product, gtin) is None:
        catalog.create_product(session, maker, gtin=gtin, name=name, category=category)


def _lot(session: Session, maker: Principal, gtin: str, lot: str, made_days_ago: int, shelf_days: int) -> Batch:
    batch = session.scalar(select(Batch).where(Batch.gtin == gtin, Batch.lot == lot))
    if batch is None:
        made = today() - timedelta(days=made_days_ago)
        batch = catalog.create_batch(
            session, maker, gtin=gtin, lot=lot, manufactured_on=made, expires_on=made + timedelta(days=shelf_days)
        )
    return batch


def _put(
    session: Session, maker: Principal, subject: passport_versions.Subject, document: dict[str, Any], now: datetime
) -> None:
    lot = subject.lot if subject.level is Level.LOT else None
    newest = newest_documents(session, subject.product.gtin, lot, None).get(subject.level)
    if newest is None or newest[1] != document:
        passport_versions.put_passport(session, maker, subject, document, now=now)


Build = Callable[[date, str], tuple[dict[str, Any], dict[str, Any]]]  # (today, certificate sha256) -> documents


def _passported(
    session: Session,
    maker: Principal,
    gtin: str,
    lot: Batch,
    build: Build,
    certificate: bytes,
    *,
    settings: Settings,
    now: datetime,
) -> None:
    uploaded = documents.upload(
        session,
        maker,
        certificate,
        claimed="application/pdf",
        max_bytes=settings.max_document_bytes,
        base_url=settings.base_url,
        now=now,
    )
    product_doc, lot_doc = build(now.date(), uploaded["sha256"])
    _put(session, maker, passport_versions.product_subject(session, gtin), product_doc, now)
    _put(session, maker, passport_versions.batch_subject(session, lot.id), lot_doc, now)


def load_passports(
    session: Session, food: Principal, industrial: Principal, *, settings: Settings, now: datetime
) -> list[Code]:
    """Products, lots, passports, a certificate each and a lot recall; the codes to scan, with their verdicts."""
    _product(session, food, FOOD_GTIN, "Whole Milk Powder 900 g", Category.FOOD)
    food_lot = _lot(session, food, FOOD_GTIN, FOOD_LOT, 30, 540)
    _lot(session, food, FOOD_GTIN, FOOD_RECALLED_LOT, 120, 540)
    _passported(
        session,
        food,
        FOOD_GTIN,
        food_lot,
        _food,
        _pdf("SC food production licence SC10533010000017 (demo)"),
        settings=settings,
        now=now,
    )
    if not any(FOOD_RECALLED_LOT in scope.lots for scope in recalls.scopes_for(session.connection(), FOOD_GTIN)):
        recalls.create_recall(
            session,
            food,
            gtin=FOOD_GTIN,
            lots=[FOOD_RECALLED_LOT],
            serials=[],
            recall_class="II",
            reason="Enterobacter sakazakii found in a retained sample (demo)",
            instructions="Do not use. Return the tin to the shop for a full refund.",
        )
    _product(session, industrial, VALVE_GTIN, "Stainless Steel Ball Valve DN50 PN16", Category.INDUSTRIAL)
    valve_lot = _lot(session, industrial, VALVE_GTIN, VALVE_LOT, 30, 3650)
    _passported(
        session,
        industrial,
        VALVE_GTIN,
        valve_lot,
        _valve,
        _pdf("CE PED 2014/68/EU certificate PED-0038-NB2460 (demo)"),
        settings=settings,
        now=now,
    )
    return [
        Code(
            "milk powder, product-level code",
            f"/01/{FOOD_GTIN}",
            "registered",
            f"the product's passport; recalled_lots lists {FOOD_RECALLED_LOT}",
        ),
        Code(
            "milk powder, lot-level code",
            f"/01/{FOOD_GTIN}/10/{FOOD_LOT}",
            "registered",
            "the passport with the lot's origin (CN-NM) added",
        ),
        Code(
            "milk powder, the recalled lot",
            f"/01/{FOOD_GTIN}/10/{FOOD_RECALLED_LOT}",
            "recalled",
            "the recall's reason and instructions",
        ),
        Code(
            "ball valve, product-level code",
            f"/01/{VALVE_GTIN}",
            "registered",
            "the passport; its TS licence shows as expired, the CE certificate as valid",
        ),
        Code(
            "ball valve, lot-level code",
            f"/01/{VALVE_GTIN}/10/{VALVE_LOT}",
            "registered",
            "the passport; partners and regulators also see the lot's pressure-test report",
        ),
    ]
