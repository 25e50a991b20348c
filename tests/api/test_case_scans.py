"""What an active suspect-product case does beyond unit verification: a lot-level scan of a lot it names reads
``suspect`` (``under_investigation``), on the anonymous fast path and with a key, and a refused sale or dispense of
its units raises an ``investigated_sale_attempt`` alert (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.db.models import Alert
from tests.helpers import GTIN, assert_problem, ok, post, serial

LOT = f"/01/{GTIN}/10/LOT42"
JSON, HTML = {"Accept": "application/json"}, {"Accept": "text/html"}
SCHEMA = json.loads((Path(__file__).parents[2] / "passport_schema" / "passport.schema.json").read_text())
PRODUCT_SCAN = {"$ref": "#/$defs/productScan", "$defs": SCHEMA["$defs"]}


def get(client: TestClient, path: str, headers: dict[str, str] | None = None) -> Any:
    return client.get(path, headers={**JSON, **(headers or {})})


def scan(client: TestClient, path: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    """A product or lot scan's JSON answer, checked against the published schema."""
    response = get(client, path, headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    jsonschema.validate(body, PRODUCT_SCAN)
    return body


def _open(client, org, **body) -> dict[str, Any]:
    created = client.post("/v1/cases", json={"type": "suspect", "gtin": GTIN, **body}, headers=org.headers)
    assert created.status_code == 201, created.text
    return created.json()


def _decide(client, regulator, case_id: int, status: str) -> None:
    moved = client.patch(f"/v1/cases/{case_id}", json={"status": status}, headers=regulator.headers)
    assert moved.status_code == 200, moved.text


def test_a_lot_in_an_active_case_scans_suspect_until_cleared(client, maker, batch, make_org):
    regulator = make_org("regulator")
    before = scan(client, LOT)
    assert before["verdict"] == "registered" and before["reasons"] == []
    case = _open(client, maker, lots=["LOT42"], description="counterfeit reported")

    anonymous = scan(client, LOT)  # the one-statement fast path
    assert anonymous["verdict"] == "suspect" and anonymous["reasons"] == ["under_investigation"]
    assert anonymous["level"] == "lot" and anonymous["lot"] == "LOT42" and anonymous["expires_on"] is not None
    keyed = scan(client, LOT, maker.headers)  # the session path
    assert keyed["verdict"] == "suspect" and keyed["reasons"] == ["under_investigation"]
    product = scan(client, f"/01/{GTIN}")  # a product scan names no lot in hand
    assert product["verdict"] == "registered" and product["reasons"] == []

    for lang, words in (("en", "Lot under investigation"), ("zh", "该批次正在调查中")):
        page = client.get(f"{LOT}?lang={lang}", headers=HTML)
        assert page.status_code == 200 and 'data-verdict="suspect"' in page.text and words in page.text

    _decide(client, regulator, case["id"], "illegitimate")  # decided illegitimate: still suspect
    assert scan(client, LOT)["verdict"] == "suspect"
    closed = client.patch(
        f"/v1/cases/{case['id']}", json={"status": "closed", "incident_number": "INC-1"}, headers=regulator.headers
    )
    assert closed.status_code == 200, closed.text
    after = scan(client, LOT)
    assert after["verdict"] == "registered" and after["reasons"] == []
    assert scan(client, LOT, maker.headers)["verdict"] == "registered"


def test_a_cleared_case_and_a_case_naming_units_leave_the_lot_registered(client, maker, batch, issue, make_org):
    regulator = make_org("regulator")
    codes = [c["uri"] for c in issue(batch["id"], 2)]
    _open(client, maker, serials=[serial(codes[0])])  # some units of the lot: a lot scan cannot say which is in hand
    assert scan(client, LOT)["verdict"] == "registered"
    assert scan(client, LOT, maker.headers)["verdict"] == "registered"
    lot_case = _open(client, maker, lots=["LOT42"])
    assert scan(client, LOT)["verdict"] == "suspect"
    _decide(client, regulator, lot_case["id"], "cleared")
    assert scan(client, LOT)["verdict"] == "registered"
    assert scan(client, LOT, maker.headers)["reasons"] == []


def test_a_recall_outranks_an_investigation(client, maker, batch):
    _open(client, maker, lots=["LOT42"])
    recall = client.post(
        "/v1/recalls",
        json={"gtin": GTIN, "lots": ["LOT42"], "reason": "sterility", "class": "I"},
        headers=maker.headers,
    )
    assert recall.status_code == 201, recall.text
    body = scan(client, LOT)  # a product with recalls reads in a session
    assert body["verdict"] == "recalled" and body["reasons"] == [] and body["recall"]["reason"] == "sterility"


def test_an_unknown_lot_of_a_product_with_a_case_stays_unknown(client, maker, batch):
    _open(client, maker, lots=["LOT42"])
    body = scan(client, f"/01/{GTIN}/10/NOSUCHLOT")
    assert body["verdict"] == "unknown_lot" and body["reasons"] == []
    assert get(client, f"/01/{GTIN}/10/NOSUCHLOT", maker.headers).json()["verdict"] == "unknown_lot"


def test_a_refused_sale_or_dispense_under_investigation_raises_an_alert(client, runtime, maker, batch, issue, make_org):
    codes = [c["uri"] for c in issue(batch["id"], 3)]
    pharm = make_org("retailer", "drug_retail")
    ok(post(client, maker, {"action": "ship", "codes": codes, "to": pharm.id}))
    ok(post(client, pharm, {"action": "receive", "codes": codes}))
    _open(client, pharm, serials=[serial(codes[0])], description="seal broken")
    with runtime.sessions() as session:
        assert session.scalars(select(Alert.type)).all() == []

    assert_problem(
        post(client, pharm, {"action": "sell", "codes": [codes[0]], "channel": "offline"}), 409, "under_investigation"
    )
    with runtime.sessions() as session:
        raised = session.execute(select(Alert.type, Alert.severity, Alert.org_id)).all()
    assert [(t, s) for t, s, _ in raised] == [("investigated_sale_attempt", "high")]

    _open(client, maker, lots=["LOT42"])
    assert_problem(post(client, pharm, {"action": "dispense", "codes": [codes[1]]}), 409, "under_investigation")
    with runtime.sessions() as session:
        types = session.scalars(select(Alert.type).order_by(Alert.id)).all()
    assert types == ["investigated_sale_attempt", "investigated_sale_attempt"]
