"""`passport demo`: a small, realistic data set and the URLs to open, scan and call."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.config import Settings
from app.db.models import Batch, Organisation, Product
from app.domain.identifiers import check_digit, digital_link_prefix
from app.services import catalog, orgs
from app.services.clock import today
from app.services.issuance import CodeRun, check_issuance, issue_codes
from app.services.orgs import Principal
from app.services.runtime import Runtime
from app.services.signing_pool import SigningPool

DEMO_ORGS = (
    ("Huaxia Pharmaceutical Co. (demo)", "manufacturer", ["drug_manufacturing"], "CN-31"),
    ("Eastern Medical Distribution (demo)", "distributor", ["drug_wholesale"], "CN-32"),
    ("Renmin Pharmacy (demo)", "retailer", ["drug_retail"], "CN-11"),
    ("Market Regulator (demo)", "regulator", [], "CN"),
)
GTIN = "0690123400001" + check_digit("0690123400001")
LOT = "A2611"


def _org(session: Session, name: str, role: str, licences: list[str], region: str) -> tuple[Organisation, str]:
    org = session.scalar(select(Organisation).where(Organisation.name == name))
    if org is None:
        return orgs.create_org(session, name=name, role=role, licences=licences, region=region)
    return org, orgs.issue_api_key(session, org.id)


def load_demo(settings: Settings, count: int = 3) -> str:
    runtime = Runtime.start(settings)
    runtime.pool = SigningPool(1)
    try:
        with runtime.sessions.begin() as session:
            created = [_org(session, *spec) for spec in DEMO_ORGS]
            maker = created[0][0]
            principal = Principal(maker.id, maker.name, maker.role, frozenset({"drug_manufacturing"}))
            if session.get(Product, GTIN) is None:
                catalog.create_product(
                    session, principal, gtin=GTIN, name="Amoxicillin Capsules 0.25 g x 24", category="drug_rx"
                )
            batch = session.scalar(select(Batch).where(Batch.gtin == GTIN, Batch.lot == LOT))
            if batch is None:
                batch = catalog.create_batch(
                    session,
                    principal,
                    gtin=GTIN,
                    lot=LOT,
                    manufactured_on=today() - timedelta(days=30),
                    expires_on=today() + timedelta(days=730),
                )
            facts = check_issuance(session, principal, batch.id, count, count)
            keys = [(org.name, org.role, key) for org, key in created]
        runs = issue_codes(runtime.engine, runtime.keyring, runtime.pool, facts, count)
        issuance_id = next(runs)
        codes = [(s, sig) for run in runs if isinstance(run, CodeRun) for s, sig in zip(run.serials, run.signatures)]
    finally:
        runtime.close()

    base = settings.base_url
    prefix = digital_link_prefix(base, facts.gtin, facts.lot)
    urls = [f"{prefix}{serial}?17={facts.expiry}&8030={sig}" for serial, sig in codes]
    serial, sig = codes[0]
    forged = sig[:-2] + ("AA" if not sig.endswith("AA") else "BA")
    lines = [
        "Passport demo data is loaded.",
        f"  product  {facts.gtin}  Amoxicillin Capsules 0.25 g x 24 (drug_rx), lot {facts.lot}, "
        f"expires {facts.expires_on.isoformat()}, issuance {issuance_id}",
        "",
        "Open one of these in a browser (or scan its QR code) to see the verdict page:",
        *[f"  {url}" for url in urls],
        "",
        "Codes that must NOT pass:",
        f"  forged signature:  {prefix}{serial}?17={facts.expiry}&8030={forged}",
        f"  changed lot:       {digital_link_prefix(base, facts.gtin, 'B9999')}{serial}?17={facts.expiry}&8030={sig}",
        f"  never issued:      {prefix}ZZZZZZZZZZZZ?17={facts.expiry}",
        f"  malformed GTIN:    {base}/01/{facts.gtin[:-1]}{(int(facts.gtin[-1]) + 1) % 10}/21/{serial}",
        "",
        "As JSON:  curl -H 'Accept: application/json' '<url>'",
        f"QR code:  curl -H 'Authorization: Bearer <manufacturer key>' {base}/v1/codes/{facts.gtin}/{serial}/qr.png > code.png",
        f"Public keys: {base}/.well-known/jwks.json",
        "",
        "API keys (shown once; a new key is made each time the demo runs):",
        *[f"  {role:<12} {name:<40} {key}" for name, role, key in keys],
    ]
    return "\n".join(lines)
