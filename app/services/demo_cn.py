"""The Chinese half of `passport demo`: a drug whose packs carry 20-digit drug traceability codes (药品追溯码).

A family of codes issued elsewhere (one case holding two boxes of three units) is registered the way
``POST /v1/batches/{id}/codes/import`` registers it (the same service, NDJSON lines of ``{"code", "parent"}``); the
case is shipped to a pharmacy by its code and received, a unit is sold with an insurance settlement (NHSA), and a
second settlement of the same code is refused. Each level's code is printed as Code 128 and as the QR of its
``/cn/{code}`` URL. See docs/cn-drug-codes.md.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.models import Batch, Product
from app.domain.identifiers import check_digit
from app.domain.settlement import SettlementIn
from app.services import catalog, printing
from app.services.clock import today
from app.services.code_import import NDJSON, import_codes
from app.services.custody import EventIn, Policy, record_events
from app.services.orgs import Principal

GTIN = "0690123400003" + check_digit("0690123400003")
DRUG_ID = "8612345"  # the product's 药品标识码: the first 7 digits of every code of the family
NAME = "阿莫西林胶囊 Amoxicillin Capsules 0.5 g x 20"
LOT = "C2611"
BOXES, UNITS_PER_BOX = 2, 3


@dataclass
class CnFamily:
    """The codes of one run (a case, its boxes, their units) and what their journey did."""

    case: str
    boxes: list[str]
    units: list[str]
    levels: int = 0
    resettle_refusal: str | None = None
    files: list[str] = field(default_factory=list)


def _code() -> str:
    return f"{DRUG_ID}{secrets.randbelow(10**13):013d}"


def _batch(session: Session, maker: Principal) -> Batch:
    if session.get(Product, GTIN) is None:
        catalog.create_product(session, maker, gtin=GTIN, name=NAME, category="drug_otc", cn_drug_id=DRUG_ID)
    batch = session.scalar(select(Batch).where(Batch.gtin == GTIN, Batch.lot == LOT))
    if batch is None:
        batch = catalog.create_batch(
            session,
            maker,
            gtin=GTIN,
            lot=LOT,
            manufactured_on=today() - timedelta(days=20),
            expires_on=today() + timedelta(days=720),
        )
    return batch


def register_family(session: Session, maker: Principal, now: datetime) -> CnFamily:
    """Import a fresh family (case -> boxes -> units) for the demo batch, as the import endpoint would."""
    batch = _batch(session, maker)
    family = CnFamily(case=_code(), boxes=[_code() for _ in range(BOXES)], units=[])
    lines = [json.dumps({"code": family.case, "parent": None})]
    for box in family.boxes:
        lines.append(json.dumps({"code": box, "parent": family.case}))
        for _ in range(UNITS_PER_BOX):
            unit = _code()
            family.units.append(unit)
            lines.append(json.dumps({"code": unit, "parent": box}))
    result = import_codes(session, maker, batch.id, NDJSON, lines, now=now)
    family.levels = result.levels
    return family


def journey(
    begin: Callable[[], AbstractContextManager[Session]],
    who: dict[str, Principal],
    family: CnFamily,
    policy: Policy,
    stamp: str,
) -> None:
    """Ship the case by its code to the pharmacy, receive it, sell a unit with a settlement; settle it again."""
    sold = family.units[0]
    settlement = SettlementIn(scheme="nhsa", ref=f"NHSA-{stamp}")
    script = [
        ("maker", EventIn("ship", [family.case], None, to=who["pharmacy"].org_id, region="CN-31")),
        ("pharmacy", EventIn("receive", [family.case], None, region="CN-11")),
        ("pharmacy", EventIn("sell", [sold], None, channel="offline", region="CN-11", settlement=settlement)),
    ]
    with begin() as session:
        for actor, event in script:
            outcome = record_events(session, who[actor], [event], atomic=True, policy=policy)
            if outcome.error is not None:
                raise outcome.error
    again = EventIn(
        "sell",
        [sold],
        None,
        channel="offline",
        region="CN-44",
        settlement=SettlementIn(scheme="nhsa", ref=f"NHSA-{stamp}-2"),
    )
    with begin() as session:
        refused = record_events(session, who["online"], [again], atomic=True, policy=policy).error
    family.resettle_refusal = refused.code if refused else None


def write_barcodes(directory: Path, family: CnFamily) -> list[str]:
    """The unit, box and case codes as printed on the packs: Code 128 (an SVG with the digits, a PNG of the bars)
    and a QR code of the 20 digits."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for level, code in (("unit", family.units[0]), ("box", family.boxes[0]), ("case", family.case)):
        images = {
            f"cn-{level}-code128.svg": printing.render_code128(code, fmt="svg"),
            f"cn-{level}-code128.png": printing.render_code128(code, fmt="png"),
            f"cn-{level}-qr.png": printing.render_png(code),
        }
        for name, image in images.items():
            (directory / name).write_bytes(image)
            written.append(name)
    return written


def report_lines(base: str, family: CnFamily) -> list[str]:
    sold, untouched = family.units[0], family.units[-1]
    return [
        f"A Chinese drug with 20-digit drug traceability codes (药品追溯码, prefix {DRUG_ID}), imported as a family of",
        f"{family.levels} package levels (1 case, {BOXES} boxes, {BOXES * UNITS_PER_BOX} units); the case was shipped",
        "to the pharmacy by its code and received; a unit was sold and settled with NHSA insurance, and a second",
        f"settlement of it was refused ({family.resettle_refusal}). Scan (or open) the /cn/ URLs:",
        f"  unit {sold}, sold and settled once -> sales count 1:",
        f"    {base}/cn/{sold}",
        f"  unit {untouched}, still in its box at the pharmacy -> not sold:",
        f"    {base}/cn/{untouched}",
        f"  box {family.boxes[0]} and case {family.case}: package codes, which stand for what they hold in events",
        "  Each level's code as on the pack, Code 128 and QR of the 20 digits: with --qr-dir, cn-{unit,box,case}-*",
    ]
