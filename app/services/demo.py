"""`passport demo`: a small, realistic data set, a scripted custody journey, and the URLs to open and scan.

Each run reuses the demo organisations, products, batches and passports, and issues fresh codes for a new journey.
The food and industrial products with passports, their lots and their product- and lot-level codes are
``app/services/demo_passports.py``.
"""

from __future__ import annotations

import json
import secrets
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.config import Settings
from app.db.models import Batch, Licence, Organisation, Product
from app.domain.identifiers import check_digit, digital_link_prefix
from app.domain.jws import b64url, b64url_decode, canonical_json
from app.domain.sale_rules import Prescription
from app.domain.witness import parse_witness_list
from app.services import catalog, demo_cn, orgs, printing, recalls, receipts
from app.services.clock import today, utcnow
from app.services.custody import EventIn, Policy, record_events
from app.services.demo_passports import Code, load_passports
from app.services.issuance import BatchFacts, CodeRun, check_issuance, issue_codes
from app.services.orgs import Principal
from app.services.runtime import Runtime
from app.services.signing_pool import SigningPool

DEMO_ORGS = {
    "maker": ("Huaxia Pharmaceutical Co. (demo)", "manufacturer", ["drug_manufacturing"], "CN-31"),
    "wholesaler": ("Eastern Medical Distribution (demo)", "distributor", ["drug_wholesale"], "CN-32"),
    "pharmacy": ("Renmin Pharmacy (demo)", "retailer", ["drug_retail"], "CN-11"),
    "online": ("Kangjian Online Pharmacy (demo)", "retailer", ["drug_retail", "online_drug_sales"], "CN-44"),
    "market": ("Tianmao Health Marketplace (demo)", "platform", [], "CN-33"),
    "dairy": ("Jiangnan Dairy Co. (demo)", "manufacturer", [], "CN-33"),
    "valves": ("Ningbo Fluid Control Works (demo)", "manufacturer", [], "CN-33"),
    "regulator": ("Market Regulator (demo)", "regulator", [], "CN"),
}
PRODUCTS = {
    "otc": (
        "0690123400002" + check_digit("0690123400002"),
        "Ibuprofen Tablets 200 mg x 20",
        "drug_otc",
        "B2611",
    ),
    "rx": (
        "0690123400001" + check_digit("0690123400001"),
        "Amoxicillin Capsules 0.25 g x 24",
        "drug_rx",
        "A2611",
    ),
}


def _sscc(serial: int) -> str:
    body = f"0690123{serial:010d}"  # extension digit 0, company prefix 690123, 10-digit serial reference
    return body + check_digit(body)


def _principal(session: Session, org: Organisation) -> Principal:
    kinds = session.scalars(select(Licence.kind).where(Licence.org_id == org.id)).all()
    return Principal(org.id, org.name, org.role, frozenset(kinds))


def _org(session: Session, name: str, role: str, licences: list[str], region: str) -> tuple[Organisation, str]:
    org = session.scalar(select(Organisation).where(Organisation.name == name))
    if org is None:
        return orgs.create_org(session, name=name, role=role, licences=licences, region=region)
    return org, orgs.issue_api_key(session, org.id)


def _batch(session: Session, maker: Principal, gtin: str, name: str, category: str, lot: str) -> Batch:
    if session.get(Product, gtin) is None:
        catalog.create_product(session, maker, gtin=gtin, name=name, category=category)
    batch = session.scalar(select(Batch).where(Batch.gtin == gtin, Batch.lot == lot))
    if batch is None:
        batch = catalog.create_batch(
            session,
            maker,
            gtin=gtin,
            lot=lot,
            manufactured_on=today() - timedelta(days=30),
            expires_on=today() + timedelta(days=730),
        )
    return batch


def _issue(runtime: Runtime, facts: BatchFacts, count: int) -> list[str]:
    runs = issue_codes(runtime.engine, runtime.keyring, runtime.pool, facts, count)
    next(runs)
    prefix = digital_link_prefix(runtime.settings.base_url, facts.gtin, facts.lot)
    return [
        f"{prefix}{serial}?17={facts.expiry}&8030={sig}"
        for run in runs
        if isinstance(run, CodeRun)
        for serial, sig in zip(run.serials, run.signatures, strict=True)
    ]


def load_demo(settings: Settings, *, qr_dir: str | None = None) -> str:
    """Load the demo and return what to print; with ``qr_dir``, also write there a QR code (PNG) of every code."""
    runtime = Runtime.start(settings)
    runtime.pool = SigningPool(1)
    try:
        with runtime.sessions.begin() as session:
            created = {key: _org(session, *spec) for key, spec in DEMO_ORGS.items()}
            who = {key: _principal(session, org) for key, (org, _) in created.items()}
            facts = {}
            for key, (gtin, name, category, lot) in PRODUCTS.items():
                batch = _batch(session, who["maker"], gtin, name, category, lot)
                facts[key] = check_issuance(session, who["maker"], batch.id, 1, 100)
            codes = load_passports(session, who["dairy"], who["valves"], settings=settings, now=utcnow())
            family = demo_cn.register_family(session, who["maker"], utcnow())
            keys = [(org.name, org.role, key) for org, key in created.values()]
        otc = _issue(runtime, facts["otc"], 21)
        rx = _issue(runtime, facts["rx"], 3)
        story = _journey(runtime, who, otc, rx)
        story["relay"] = _recall_online_sale(runtime, who, rx[2])
        now = utcnow()
        policy = Policy(now=now, undo_window=timedelta(days=10), duplicate_window=timedelta(seconds=30))
        demo_cn.journey(runtime.sessions.begin, who, family, policy, now.strftime("%Y%m%d%H%M%S%f"))
    finally:
        runtime.close()
    report = _report(settings, otc, rx, story, keys, codes, family)
    if qr_dir is not None:
        report += "\n\n" + _write_qr_codes(Path(qr_dir), report)
        barcodes = demo_cn.write_barcodes(Path(qr_dir), family)
        report += f"\nCode 128 of the 20-digit unit, box and case codes: {', '.join(barcodes)}"
    return report


def _write_qr_codes(directory: Path, report: str) -> str:
    """A PNG of every code the report prints, numbered in the order printed."""
    directory.mkdir(parents=True, exist_ok=True)
    urls = [line.strip() for line in report.splitlines() if line.startswith("    http")]
    for number, url in enumerate(urls, start=1):
        (directory / f"code-{number:02d}.png").write_bytes(printing.render_png(url))
    return f"QR codes of the {len(urls)} codes above, in the order printed: {directory}/code-01.png ..."


def _journey(runtime: Runtime, who: dict[str, Principal], otc: list[str], rx: list[str]) -> dict[str, object]:
    now = utcnow()
    stamp = now.strftime("%Y%m%d%H%M%S%f")
    first = secrets.randbelow(10**9 - 3)
    case_a, case_b, pallet = (_sscc(first + i) for i in range(3))
    script = [
        ("maker", EventIn("pack", otc[:10], None, container=f"(00){case_a}", region="CN-31")),
        ("maker", EventIn("pack", otc[10:20], None, container=f"(00){case_b}", region="CN-31")),
        (
            "maker",
            EventIn("pack", [f"(00){case_a}", f"(00){case_b}"], None, container=f"(00){pallet}", region="CN-31"),
        ),
        ("maker", EventIn("ship", [f"(00){pallet}"], None, to=who["wholesaler"].org_id, region="CN-31")),
        ("wholesaler", EventIn("receive", [f"(00){pallet}"], None, region="CN-32")),
        ("maker", EventIn("ship", [otc[20]], None, to=who["wholesaler"].org_id, region="CN-31")),
        ("wholesaler", EventIn("receive", [otc[20]], None, region="CN-32")),
        ("wholesaler", EventIn("ship", [otc[20]], None, to=who["pharmacy"].org_id, region="CN-32")),
        ("pharmacy", EventIn("receive", [otc[20]], None, region="CN-11")),
        ("pharmacy", EventIn("sell", [otc[20]], None, channel="offline", region="CN-11")),
        ("maker", EventIn("ship", [rx[0]], None, to=who["online"].org_id, region="CN-31")),
        ("online", EventIn("receive", [rx[0]], None, region="CN-44")),
        (
            "online",
            EventIn(
                "sell",
                [rx[0]],
                None,
                channel="online",
                platform=who["market"].org_id,
                order_ref=f"TM-{stamp}",
                region="CN-44",
                prescription=Prescription(f"RX-{stamp}", "Dr. Wang, Guangzhou No.1 Hospital", now - timedelta(hours=2)),
            ),
        ),
    ]
    resale = (
        "online",
        EventIn(
            "sell",
            [otc[20]],
            None,
            channel="online",
            platform=who["market"].org_id,
            order_ref=f"TM-{stamp}-2",
            region="CN-44",
        ),
    )
    policy = Policy(now=now, undo_window=timedelta(days=10), duplicate_window=timedelta(seconds=30))
    sales: list[int] = []
    with runtime.sessions.begin() as session:
        for actor, event in script:
            outcome = record_events(session, who[actor], [event], atomic=True, policy=policy)
            if outcome.error is not None:
                raise outcome.error
            if event.action == "sell":
                sales.extend(r.event_id for r in outcome.results if r.event_id is not None)
    with runtime.sessions.begin() as session:
        refused = record_events(session, who[resale[0]], [resale[1]], atomic=True, policy=policy).error
    with runtime.sessions.begin() as session:  # what each buyer keeps (docs/receipts.md)
        signer = runtime.keyring.current_signer(session)
        issued = receipts.receipts_for(session, sales, lambda: signer, runtime.settings.base_url)
    return {
        "pallet": pallet,
        "cases": (case_a, case_b),
        "resale_refusal": refused.code if refused else None,
        "receipts": [issued[event_id][0]["token"] for event_id in sales],
    }


def _recall_online_sale(runtime: Runtime, who: dict[str, Principal], code: str) -> dict[str, object]:
    """A unit sold online through the marketplace, then recalled: the recall is relayed to the marketplace as
    one of its orders (docs/recall-relay.md)."""
    now = utcnow()
    order_ref = f"TM-{now.strftime('%Y%m%d%H%M%S%f')}-R"
    script = [
        ("maker", EventIn("ship", [code], None, to=who["online"].org_id, region="CN-31")),
        ("online", EventIn("receive", [code], None, region="CN-44")),
        (
            "online",
            EventIn(
                "sell",
                [code],
                None,
                channel="online",
                platform=who["market"].org_id,
                order_ref=order_ref,
                region="CN-44",
                prescription=Prescription(
                    f"RX-{order_ref}", "Dr. Li, Guangzhou No.2 Hospital", now - timedelta(hours=1)
                ),
            ),
        ),
    ]
    policy = Policy(now=now, undo_window=timedelta(days=10), duplicate_window=timedelta(seconds=30))
    with runtime.sessions.begin() as session:
        for actor, event in script:
            outcome = record_events(session, who[actor], [event], atomic=True, policy=policy)
            if outcome.error is not None:
                raise outcome.error
    with runtime.sessions.begin() as session:
        recall = recalls.create_recall(
            session,
            who["maker"],
            gtin=PRODUCTS["rx"][0],
            lots=[],
            serials=[code.split("/21/")[1].split("?")[0]],
            reason="capsules of this pack may be under-filled",
            recall_class="II",
            instructions="Do not take; the platform will arrange a refund.",
        )
        return {"recall_id": recall.id, "order_ref": order_ref}


def _relay_lines(base: str, relay: object) -> list[str]:
    assert isinstance(relay, dict)
    recall, order = relay["recall_id"], relay["order_ref"]
    key = "-H 'Authorization: Bearer <platform key>'"
    body = json.dumps({"order_refs": [order]})
    return [
        f"Recall {recall} covers a pack sold online (order {order}): the marketplace was sent a signed",
        "recall.orders webhook (if it registered an endpoint); it reads its orders and acknowledges them:",
        f"  curl {key} {base}/v1/recalls/{recall}/orders",
        f"  curl {key} -H 'Content-Type: application/json' -d '{body}' {base}/v1/recalls/{recall}/orders/ack",
    ]


def _receipt_lines(base: str, tokens: object) -> list[str]:
    assert isinstance(tokens, list)
    shop, online = tokens
    head, payload, signature = shop.split(".")
    moved = {**json.loads(b64url_decode(payload)), "region": "CN-31"}  # "sold in Shanghai", not Beijing
    tampered = f"{head}.{b64url(canonical_json(moved))}.{signature}"
    return [
        "Sale receipts, one per unit sold, signed (docs/receipts.md): what the buyer keeps, or prints as a QR:",
        "  the shop sale of the first pack above -> genuine receipt, sold once:",
        f"    {base}/r/{shop}",
        "  the online sale with a prescription -> genuine receipt, sold once:",
        f"    {base}/r/{online}",
        "  the shop receipt with its region changed -> not a valid receipt (bad_signature):",
        f"    {base}/r/{tampered}",
        f"  till QR: {base}/r/<token>/qr.png (or .svg); offline check: the public keys below and any JOSE library",
    ]


def _witness_lines(settings: Settings) -> list[str]:
    """The log's witnesses (docs/witnesses.md): who cosigns, where to see them, how to require them."""
    base = settings.base_url
    witnesses = parse_witness_list(settings.witnesses)
    if not witnesses:
        return [
            "The log's checkpoints are signed but not witnessed: scripts/witnesses runs three departments as",
            "witnesses and prints the PASSPORT_WITNESSES to start the server with (docs/witnesses.md).",
        ]
    flags = " ".join(f"--witness '{w.key.text}'" for w in witnesses)
    return [
        f"The log's witnesses cosign each checkpoint ({', '.join(w.key.name for w in witnesses)}):",
        f"  the checkpoint with their cosignatures: {base}/v1/log/checkpoint",
        f"  how each stands:                        {base}/v1/log/witnesses",
        f"  check the log, requiring all of them:   passport log verify --url {base} --api-key <regulator key> {flags}",
    ]


def _report(
    settings: Settings,
    otc: list[str],
    rx: list[str],
    story: dict[str, object],
    keys: list[tuple[str, str, str]],
    codes: list[Code],
    family: demo_cn.CnFamily,
) -> str:
    base = settings.base_url
    sold, on_pallet, online, untouched = otc[20], otc[3], rx[0], rx[1]
    serial, rest = untouched.split("/21/")[1].split("?")
    sig = rest.split("8030=")[1]
    forged = sig[:-2] + ("AA" if not sig.endswith("AA") else "BA")
    gtin = PRODUCTS["rx"][0]
    lines = [
        "Passport demo data is loaded: a journey from the factory to the consumer, online and offline.",
        "",
        "Open these in a browser (or scan their QR codes) to see the verdict page and the journey:",
        f"  sold in a shop, then offered again online (refused: {story['resale_refusal']}) -> suspect:",
        f"    {sold}",
        "  sold online with a prescription through a marketplace -> authentic, sold:",
        f"    {online}",
        f"  on pallet {story['pallet']} (two cases), shipped and received in one event each -> in supply chain:",
        f"    {on_pallet}",
        "  still at the factory -> authentic, issued:",
        f"    {untouched}",
        "",
        *_relay_lines(base, story["relay"]),
        "",
        *_receipt_lines(base, story["receipts"]),
        "",
        *_witness_lines(settings),
        "",
        "Codes that must NOT pass:",
        f"  forged signature:  {untouched.split('8030=')[0]}8030={forged}",
        f"  changed lot:       {digital_link_prefix(base, gtin, 'B9999')}{serial}?{rest}",
        f"  never issued:      {digital_link_prefix(base, gtin, PRODUCTS['rx'][3])}ZZZZZZZZZZZZ",
        f"  malformed GTIN:    {base}/01/{gtin[:-1]}{(int(gtin[-1]) + 1) % 10}/21/{serial}",
        "",
        "Products and lots with passports: the codes printed on a package without a serial, a product-level",
        "(GTIN only) and a lot-level (GTIN + lot) GS1 Digital Link. Anyone scanning sees the public fields;",
        "with a partner's or the regulator's key, more (facility, test reports):",
        *[
            line
            for code in codes
            for line in (f"  {code.label} -> {code.verdict}: {code.expect}", f"    {base}{code.path}")
        ],
        "",
        *demo_cn.report_lines(base, family),
        "",
        "As JSON:  curl -H 'Accept: application/json' '<url>'",
        "With a tier: curl -H 'Accept: application/json' -H 'Authorization: Bearer <regulator key>' '<url>'",
        "Links (GS1 resolver): curl -H 'Accept: application/linkset+json' '<url>'",
        f"History:  curl -H 'Authorization: Bearer <regulator key>' {base}/v1/units/{PRODUCTS['otc'][0]}/"
        f"{sold.split('/21/')[1].split('?')[0]}/history",
        f"QR code:  curl -H 'Authorization: Bearer <manufacturer key>' "
        f"{base}/v1/codes/{gtin}/{serial}/qr.png > code.png",
        f"Public keys: {base}/.well-known/jwks.json",
        "",
        "API keys (shown once; a new key is made each time the demo runs):",
        *[f"  {role:<12} {name:<40} {key}" for name, role, key in keys],
    ]
    return "\n".join(lines)
