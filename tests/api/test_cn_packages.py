"""Scans of a package code an import registered (issue 15): a box or case code answers for what is inside it."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any
from urllib.parse import quote

import pytest

from app.domain.package_verdict import judge_package
from app.domain.verdict import VerdictKind
from tests.helpers import GTIN, JSON, Org, ok, post

DRUG_ID = "8123456"
CASE = "81234560000000000000"  # a package code may share its product's prefix
BOXES = ["81234560000000000100", "81234560000000000200"]
UNITS = [[f"8123456000000000{b}{i:03d}" for i in range(1, 4)] for b in (1, 2)]
NDJSON = {"Content-Type": "application/x-ndjson"}
GS1_BOX = f"(01){GTIN}(21)BOX-9"  # a package code in GS1 form


@pytest.fixture
def batch(client: Any, maker: Org) -> dict[str, Any]:
    body = {"gtin": GTIN, "name": "阿莫西林胶囊 0.25 g", "category": "drug_otc", "cn_drug_id": DRUG_ID}
    assert client.post("/v1/products", json=body, headers=maker.headers).status_code == 201
    today = date.today()
    lot = {
        "gtin": GTIN, "lot": "LOT42", "manufactured_on": (today - timedelta(days=10)).isoformat(),
        "expires_on": (today + timedelta(days=700)).isoformat(),
    }  # fmt: skip
    response = client.post("/v1/batches", json=lot, headers=maker.headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


@pytest.fixture
def family(client: Any, maker: Org, batch: dict[str, Any]) -> None:
    """A case of two boxes of three 20-digit units, and a GS1-coded box of two GS1 units."""
    lines: list[dict[str, Any]] = [{"code": CASE, "parent": None}]
    for box, units in zip(BOXES, UNITS, strict=True):
        lines += [{"code": box, "parent": CASE}, *({"code": u, "parent": box} for u in units)]
    lines += [{"code": GS1_BOX, "parent": None}, *({"code": f"(01){GTIN}(21)G{i}", "parent": GS1_BOX} for i in (1, 2))]
    body = "".join(json.dumps(line) + "\n" for line in lines).encode()
    response = client.post(f"/v1/batches/{batch['id']}/codes/import", content=body, headers={**maker.headers, **NDJSON})
    assert response.status_code == 201, response.text


def scan(client: Any, code: str, path: str = "cn") -> dict[str, Any]:
    url = f"/cn/{code}" if path == "cn" else f"/v1/scan?code={quote(code)}"
    response = client.get(url, headers=JSON)
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_a_case_code_answers_for_its_boxes_and_units(client: Any, family: None) -> None:
    body = scan(client, CASE)
    assert body["verdict"] == "authentic" and body["signature"] == "absent" and body["reasons"] == []
    assert body["package"] == {"code": CASE, "level": 2, "units": 6}
    assert body["state"] == "issued" and body["lot"] == "LOT42" and body["recall"] is None
    assert body["product"]["gtin"] == GTIN and body["product"]["name"].startswith("阿莫西林")
    box = scan(client, BOXES[1], path="scan")
    assert box["package"] == {"code": BOXES[1], "level": 1, "units": 3} and box["verdict"] == "authentic"
    gs1 = scan(client, GS1_BOX, path="scan")
    assert gs1["package"] == {"code": GS1_BOX, "level": 1, "units": 2}
    # Never more than a unit scan says: no holder, no addressee, no internal key.
    unit = scan(client, UNITS[0][0])
    assert set(body) - {"package"} <= set(unit) and "holder" not in json.dumps(body)
    assert CASE in client.get(f"/cn/{CASE}", headers={"Accept": "text/html"}).text  # the printed code, not its key


def test_the_package_follows_custody_and_recalls(client: Any, maker: Org, make_org: Any, family: None) -> None:
    dist = make_org("distributor", "drug_wholesale")
    ok(post(client, maker, {"action": "ship", "codes": [CASE], "to": dist.id, "region": "CN-31"}))
    assert scan(client, BOXES[0])["state"] == "in_supply_chain"  # moved inside its case
    ok(post(client, dist, {"action": "receive", "codes": [CASE]}))
    ok(post(client, dist, {"action": "report_stolen", "codes": [UNITS[1][2]]}))  # taken out of its box
    assert scan(client, CASE)["package"]["units"] == 5 and scan(client, CASE)["verdict"] == "authentic"
    ok(post(client, dist, {"action": "report_stolen", "codes": [BOXES[0]]}))  # taken out of its case, with 3 units
    box = scan(client, BOXES[0])
    assert box["verdict"] == "suspect" and box["reasons"] == ["stolen"] and box["state"] == "stolen"
    assert scan(client, CASE)["verdict"] == "authentic" and scan(client, CASE)["package"]["units"] == 2

    recall = {"gtin": GTIN, "lots": ["LOT42"], "reason": "批次污染", "class": "I"}
    assert client.post("/v1/recalls", json=recall, headers=maker.headers).status_code == 201
    case = scan(client, CASE)
    assert case["verdict"] == "recalled" and case["recall"]["class"] == "I" and case["reasons"][0] == "recalled"
    zh = client.get(f"/cn/{CASE}", headers={"Accept": "text/html", "Accept-Language": "zh-CN"})
    assert zh.status_code == 200 and 'data-verdict="recalled"' in zh.text and "第2级" in zh.text
    assert "该包装内的批次已被召回" in zh.text and "2个最小销售包装" in zh.text


def test_a_recall_of_one_serial_names_the_box_holding_it(client: Any, maker: Org, family: None) -> None:
    recall = {"gtin": GTIN, "serials": [UNITS[0][1]], "reason": "破损", "class": "II"}
    assert client.post("/v1/recalls", json=recall, headers=maker.headers).status_code == 201
    assert scan(client, BOXES[0])["verdict"] == "recalled"
    assert scan(client, CASE)["verdict"] == "recalled"
    assert scan(client, BOXES[1])["verdict"] == "authentic"
    en = client.get(f"/cn/{BOXES[1]}", headers={"Accept": "text/html", "Accept-Language": "en"})
    assert 'data-verdict="authentic"' in en.text and "3 units" in en.text and "level 1" in en.text


def test_codes_that_are_no_package_answer_as_before(client: Any, family: None) -> None:
    assert scan(client, "81234569999999999999")["verdict"] == "unknown"  # a known prefix, never registered
    assert scan(client, "71234560000000000000")["verdict"] == "unknown"  # nobody's prefix
    assert "package" not in scan(client, UNITS[0][0]) and scan(client, UNITS[0][0])["verdict"] == "authentic"
    response = client.get(f"/cn/{CASE[:-1]}", headers=JSON)  # 19 digits: still refused as malformed
    assert response.status_code == 422


def test_package_verdict_precedence() -> None:
    today = date(2026, 12, 5)
    assert judge_package("issued", False, (), today, today).kind is VerdictKind.AUTHENTIC
    assert judge_package("issued", False, (), today - timedelta(days=1), today).kind is VerdictKind.EXPIRED
    stolen = judge_package("stolen", True, ("destroyed",), None, today)
    assert stolen.kind is VerdictKind.RECALLED and stolen.reasons == ("recalled", "stolen", "destroyed")
    assert judge_package("held", False, ("stolen", "sold"), None, today).reasons == ("stolen",)
