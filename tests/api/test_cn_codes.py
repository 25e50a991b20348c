"""China's 20-digit drug traceability codes (issue 15): products' 药品标识码, events, scans, settlement, take-back."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from app.db.models import Issuance, Scan, Settlement
from app.db.units import insert_units
from app.services.clock import utcnow
from app.services.runtime import Runtime
from tests.helpers import GTIN, JSON, Org, assert_problem, ok, post, race

DRUG_ID = "8123456"
CODES = [f"{DRUG_ID}{n:013d}" for n in (1234567890123, 1234567890124, 1234567890125, 1234567890126)]
OTHER_GTIN = "09506000134376"


@pytest.fixture
def cn_product(client: Any, maker: Org) -> dict[str, Any]:
    body = {"gtin": GTIN, "name": "阿莫西林胶囊 0.25 g", "category": "drug_otc", "cn_drug_id": DRUG_ID}
    response = client.post("/v1/products", json=body, headers=maker.headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


@pytest.fixture
def batch(client: Any, maker: Org, cn_product: dict[str, Any]) -> dict[str, Any]:
    today = date.today()
    body = {
        "gtin": GTIN, "lot": "LOT42", "manufactured_on": (today - timedelta(days=10)).isoformat(),
        "expires_on": (today + timedelta(days=700)).isoformat(),
    }  # fmt: skip
    response = client.post("/v1/batches", json=body, headers=maker.headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


@pytest.fixture
def cn_units(runtime: Runtime, batch: dict[str, Any]) -> list[str]:
    """Four 20-digit codes registered as units of the batch (as an import or EPCIS commissioning registers them)."""
    with runtime.sessions.begin() as session:
        issuance = Issuance(batch_id=batch["id"], key_tag=None, count=len(CODES), created_at=utcnow())
        session.add(issuance)
        session.flush()
        insert_units(session.connection(), GTIN, batch["id"], issuance.id, CODES)
    return CODES


# A sale recorded days after it happened (a till that was offline): the pharmacy was licensed well before it.
FIRST_SALE = (utcnow() - timedelta(days=4)).replace(hour=8, minute=0, second=0, microsecond=0)


@pytest.fixture
def pharmacy(make_org: Callable[..., Org]) -> Org:
    return make_org("retailer", "drug_retail", licensed_from=FIRST_SALE.date() - timedelta(days=30))


def deliver(client: Any, maker: Org, pharmacy: Org, codes: list[str]) -> None:
    ok(post(client, maker, {"action": "ship", "codes": codes, "to": pharmacy.id, "region": "CN-31"}))
    ok(post(client, pharmacy, {"action": "receive", "codes": codes, "region": "CN-11"}))


def sale(code: str, ref: str, **more: Any) -> dict[str, Any]:
    return {
        "action": "sell", "codes": [code], "channel": "offline", "region": "CN-11",
        "settlement": {"scheme": "nhsa", "ref": ref}, **more,
    }  # fmt: skip


def scan(client: Any, code: str) -> dict[str, Any]:
    response = client.get(f"/cn/{code}", headers=JSON)
    assert response.status_code == 200, response.text
    return dict(response.json())


# ------------------------------------------------------------------------------------------------- products


def test_a_product_carries_its_drug_id_once(client: Any, maker: Org, make_org: Callable[..., Org]) -> None:
    body = {"gtin": GTIN, "name": "A", "category": "drug_otc", "cn_drug_id": DRUG_ID}
    created = client.post("/v1/products", json=body, headers=maker.headers)
    assert created.status_code == 201 and created.json()["cn_drug_id"] == DRUG_ID
    assert client.get(f"/v1/products/{GTIN}", headers=maker.headers).json()["cn_drug_id"] == DRUG_ID
    other = make_org("manufacturer", "drug_manufacturing")
    taken = client.post("/v1/products", json={**body, "gtin": OTHER_GTIN}, headers=other.headers)
    assert "8123456" in assert_problem(taken, 409, "cn_drug_id_taken")["detail"]
    for bad in ("812345", "812345A"):
        refused = client.post(
            "/v1/products", json={**body, "gtin": OTHER_GTIN, "cn_drug_id": bad}, headers=maker.headers
        )
        assert refused.status_code == 422, refused.text


# ------------------------------------------------------------------------------------------------- events


def test_events_name_units_by_20_digit_code(client: Any, maker: Org, pharmacy: Org, cn_units: list[str]) -> None:
    deliver(client, maker, pharmacy, cn_units[:2])
    result = ok(post(client, pharmacy, {"action": "sell", "codes": ["]C0" + cn_units[0]], "channel": "offline"}))
    assert result[0]["status"] == "accepted"
    unit = client.get(f"/v1/units/{GTIN}/{cn_units[0]}", headers=maker.headers)
    assert unit.status_code == 200 and unit.json()["state"] == "sold"


@pytest.mark.parametrize(
    ("text", "code", "says"),
    [
        (CODES[0][:-1], "invalid_cn_code", "has 20 digits, this one has 19"),
        (CODES[0] + "7", "invalid_cn_code", "this one has 21"),
        (CODES[0][:9] + "O" + CODES[0][10:], "invalid_cn_code", "position 10 is 'O'"),
        ("9999999" + CODES[0][7:], "unknown_cn_drug_id", "no product here carries the 药品标识码 9999999"),
    ],
)
def test_malformed_codes_are_refused_saying_why(
    client: Any, maker: Org, cn_units: list[str], text: str, code: str, says: str
) -> None:
    refused = post(client, maker, {"action": "ship", "codes": [text], "to": maker.id})
    problem = assert_problem(refused, 422, code)
    assert says in problem["detail"]


def test_a_slipped_scan_of_a_registered_code_is_called_a_misscan(client: Any, maker: Org, cn_units: list[str]) -> None:
    dropped = cn_units[0][:12] + cn_units[0][13:]
    problem = assert_problem(post(client, maker, {"action": "lock", "codes": [dropped]}), 422, "invalid_cn_code")
    assert problem["triage"] == "misscan" and "one slip away from a registered code" in problem["detail"]
    unregistered = CODES[0][:-3] + "999"  # 20 digits of a known product, never registered, no neighbour
    problem = assert_problem(post(client, maker, {"action": "lock", "codes": [unregistered]}), 404, "unknown_code")
    assert "triage" not in problem


# ------------------------------------------------------------------------------------------------- scans


def test_scanning_anything_answers_the_same_verdict(client: Any, maker: Org, cn_units: list[str]) -> None:
    code = cn_units[0]
    body = scan(client, code)
    assert body["verdict"] == "authentic" and body["signature"] == "absent"
    assert body["product"]["gtin"] == GTIN and body["lot"] == "LOT42"
    assert body["sales"] == {"count": 0, "first_at": None, "region": None}
    for text in (
        code,
        f"]C0{code}",
        f"(01){GTIN}(21){code}",
        f"]d201{GTIN}21{code}",
        f"https://x.cn/01/{GTIN}/21/{code}",
    ):
        response = client.get("/v1/scan", params={"code": text}, headers=JSON)
        assert response.status_code == 200, (text, response.text)
        assert response.json() == body, text
    page = client.get(f"/cn/{code}", headers={"Accept": "text/html", "Accept-Language": "zh-CN"})
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]


def test_unknown_20_digit_codes_answer_unknown(client: Any, cn_units: list[str]) -> None:
    never = scan(client, CODES[0][:-3] + "999")
    assert never["verdict"] == "unknown" and never["product"] is None and never["sales"]["count"] == 0
    foreign = scan(client, "9999999" + CODES[0][7:])
    assert foreign["verdict"] == "unknown" and foreign["reasons"] == ["unknown_cn_drug_id"]
    assert_problem(client.get(f"/cn/{CODES[0]}1", headers=JSON), 422, "invalid_cn_code")
    assert_problem(client.get("/v1/scan", params={"code": "(00)376104250021234569"}, headers=JSON), 422, "invalid_code")


# ------------------------------------------------------------------------------------------------- settlement


def test_a_code_is_settled_once(client: Any, maker: Org, pharmacy: Org, cn_units: list[str]) -> None:
    code = cn_units[0]
    deliver(client, maker, pharmacy, [code])
    ok(post(client, pharmacy, sale(code, "NHSA-1", occurred_at=FIRST_SALE.isoformat())))
    again = post(client, pharmacy, sale(code, "NHSA-2"))
    problem = assert_problem(again, 409, "already_settled")
    assert problem["first_settlement"] == {"at": FIRST_SALE.isoformat(), "region": "CN-11", "part": 0}
    alerts = client.get("/v1/alerts", headers=maker.headers).json()["alerts"]
    repeat = [a for a in alerts if a["type"] == "repeat_settlement"]
    assert len(repeat) == 1 and repeat[0]["details"]["first_settlement"]["region"] == "CN-11"
    sales = scan(client, code)["sales"]
    assert sales == {"count": 2, "first_at": FIRST_SALE.isoformat(), "region": "CN-11"}
    record = client.get(f"/v1/units/{GTIN}/{code}", headers=maker.headers).json()
    assert [(s["ref"], s["part"], s["region"], s["org"]) for s in record["settlements"]] == [
        ("NHSA-1", 0, "CN-11", pharmacy.id)
    ]
    assert client.get(f"/v1/units/{GTIN}/{code}", headers=pharmacy.headers).json()["settlements"][0]["ref"] == "NHSA-1"


def test_a_settlement_goes_only_with_a_sale(client: Any, maker: Org, pharmacy: Org, cn_units: list[str]) -> None:
    deliver(client, maker, pharmacy, [cn_units[0]])
    body = {"action": "lock", "codes": [cn_units[0]], "settlement": {"scheme": "nhsa", "ref": "X"}}
    assert_problem(post(client, pharmacy, body), 422, "settlement_not_allowed")
    assert (
        post(client, pharmacy, {**sale(cn_units[0], "X"), "settlement": {"scheme": "cms", "ref": "X"}}).status_code
        == 422
    )


def test_a_split_pack_is_settled_once_per_part(
    runtime: Runtime, client: Any, maker: Org, make_org: Callable[..., Org], cn_units: list[str]
) -> None:
    hospital = make_org("retailer", "medical_institution", "drug_retail")
    code = cn_units[0]
    deliver(client, maker, hospital, [code])
    ok(post(client, hospital, {"action": "open", "codes": [code]}))
    for ref in ("P-1", "P-2", "P-3"):
        ok(
            post(
                client, hospital, {"action": "dispense", "codes": [code], "settlement": {"scheme": "nhsa", "ref": ref}}
            )
        )
    with runtime.sessions() as session:
        parts = session.execute(select(Settlement.part, Settlement.ref).order_by(Settlement.part)).all()
    assert [tuple(p) for p in parts] == [(1, "P-1"), (2, "P-2"), (3, "P-3")]


def test_undoing_a_settled_sale_undoes_its_settlement(
    client: Any, maker: Org, pharmacy: Org, cn_units: list[str]
) -> None:
    code = cn_units[0]
    deliver(client, maker, pharmacy, [code])
    event_id = ok(post(client, pharmacy, sale(code, "NHSA-1")))[0]["event_id"]
    ok(post(client, pharmacy, {"action": "undo", "event_id": event_id}))
    assert scan(client, code)["sales"]["count"] == 0
    ok(post(client, pharmacy, sale(code, "NHSA-2")))
    assert scan(client, code)["sales"]["count"] == 1


@pytest.mark.postgres_only
def test_two_tills_settling_one_code_at_once_one_wins(
    client: Any, maker: Org, pharmacy: Org, cn_units: list[str], pool: ThreadPoolExecutor, runtime: Runtime
) -> None:
    code = cn_units[0]
    deliver(client, maker, pharmacy, [code])
    now = datetime.now(UTC)
    # Four tills of one pharmacy, minutes apart by their own clocks (not a scanner's double-fire, which is a duplicate)
    bodies = [sale(code, f"TILL-{i}", occurred_at=(now - timedelta(minutes=3 * i)).isoformat()) for i in range(4)]
    calls = [lambda body=body: client.post("/v1/events", json=body, headers=pharmacy.headers) for body in bodies]
    responses = race(pool, calls)
    assert sorted(r.status_code for r in responses) == [201, 409, 409, 409]
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"already_settled"}
    with runtime.sessions() as session:
        assert len(session.scalars(select(Settlement)).all()) == 1


# ------------------------------------------------------------------------------------------------- take-back, recall


def test_anyone_takes_back_an_expired_drug_by_its_code(
    client: Any, maker: Org, pharmacy: Org, make_org: Callable[..., Org], cn_units: list[str]
) -> None:
    code = cn_units[0]
    deliver(client, maker, pharmacy, [code])
    ok(post(client, pharmacy, sale(code, "NHSA-1")))
    collector = make_org("retailer", "drug_retail")
    ok(post(client, collector, {"action": "recycle", "codes": [code], "region": "CN-44"}))
    body = scan(client, code)
    assert body["state"] == "recycled" and body["journey"][-1]["region"] == "CN-44"


def test_a_recall_by_serial_names_20_digit_codes(client: Any, maker: Org, cn_units: list[str]) -> None:
    body = {"gtin": GTIN, "serials": [cn_units[1]], "reason": "批次污染", "class": "I"}
    response = client.post("/v1/recalls", json=body, headers=maker.headers)
    assert response.status_code == 201, response.text
    assert scan(client, cn_units[1])["verdict"] == "recalled"
    assert scan(client, cn_units[2])["verdict"] == "authentic"
    trace = client.get(f"/v1/recalls/{response.json()['id']}/trace", headers=maker.headers).json()
    assert trace["units_total"] == 1


def test_the_page_says_how_often_a_code_was_sold(client: Any, maker: Org, pharmacy: Org, cn_units: list[str]) -> None:
    code = cn_units[0]
    zh = {"Accept": "text/html", "Accept-Language": "zh-CN"}
    assert "尚无销售记录" in client.get(f"/cn/{code}", headers=zh).text
    deliver(client, maker, pharmacy, [code])
    ok(post(client, pharmacy, sale(code, "NHSA-1", occurred_at=FIRST_SALE.isoformat())))
    assert "仅有1次销售信息" in client.get(f"/cn/{code}", headers=zh).text
    post(client, pharmacy, sale(code, "NHSA-2"))
    page = client.get("/v1/scan", params={"code": code}, headers={"Accept": "text/html", "Accept-Language": "en"}).text
    assert "Sold 2 times" in page and f"first sale {FIRST_SALE.date().isoformat()}, CN-11" in page
    assert "Sales" not in client.get(f"/01/{GTIN}/21/{code}", headers={"Accept": "text/html"}).text


def test_a_consumer_scan_one_digit_off_is_a_misscan_not_a_fake(
    runtime: Runtime, client: Any, maker: Org, cn_units: list[str]
) -> None:
    slipped = cn_units[0][:7] + "7" + cn_units[0][8:]  # its 8th digit, a 1, misread as 7
    far = CODES[0][:-3] + "999"
    assert scan(client, slipped)["verdict"] == "unknown" and scan(client, far)["verdict"] == "unknown"
    runtime.scans.flush()
    with runtime.sessions() as session:
        triage = dict(session.execute(select(Scan.serial, Scan.triage).where(Scan.serial.in_([slipped, far]))).all())
    assert triage == {slipped: "misscan", far: "unknown"}
    alerts = client.get("/v1/alerts", headers=maker.headers).json()["alerts"]
    assert [a["type"] for a in alerts if a["unit"] and far in str(a["unit"])] == ["unknown_code"]


def test_the_scan_routes_are_documented(client: Any) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert paths["/cn/{code}"]["get"]["operationId"] == "scan_code"
    assert paths["/v1/scan"]["get"]["parameters"][0]["name"] == "code"
