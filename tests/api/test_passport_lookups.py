"""Anonymous passport scans below the ORM (app/db/passport_lookups.py, issue 14): the same answers as the session
path, no SQLAlchemy statement once a passport's view is cached, and nothing stale after a new version or a recall."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, event

from app.domain.identifiers import ProductCode
from app.domain.passport import Tier
from app.services.passport_scans import scan_product, unit_passport
from app.services.passports import view_of
from app.services.runtime import Runtime
from tests.helpers import BASE_URL, GTIN, Org

JSON = {"Accept": "application/json"}
TODAY = date.today()
PRODUCT = {
    "manufacturer": {"name": "Acme Pharma", "uscc": "91310000MA1FL4XQ3K"},
    "facility": {"name": "Plant 2", "address": "Shanghai"},
    "warnings": {"zh": "儿童禁用", "en": "Keep away from children"},
}
LOT = {"origin": {"country": "CN", "region": "CN-SH"}}


def scan(client: TestClient, path: str) -> dict[str, Any]:
    response = client.get(path, headers=JSON)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def put(client: TestClient, org: Org, path: str, body: dict[str, Any]) -> None:
    response = client.put(f"{path}/passport", json=body, headers=org.headers)
    assert response.status_code == 201, response.text


@pytest.fixture
def passports(client: TestClient, maker: Org, batch: dict[str, Any]) -> dict[str, Any]:
    put(client, maker, f"/v1/products/{GTIN}", PRODUCT)
    put(client, maker, f"/v1/batches/{batch['id']}", LOT)
    return batch


@pytest.fixture
def statements(runtime: Runtime) -> Iterator[list[str]]:
    """Every statement SQLAlchemy sends through the service's engine."""
    sent: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        sent.append(statement)

    event.listen(runtime.engine, "before_cursor_execute", record)
    yield sent
    event.remove(runtime.engine, "before_cursor_execute", record)


@pytest.mark.parametrize(
    "path", [f"/01/{GTIN}", f"/01/{GTIN}/10/LOT42", f"/01/{GTIN}/10/NOSUCHLOT", "/01/04012345123456"]
)
def test_anonymous_product_and_lot_scans_answer_as_the_session_path(client, runtime, passports, path):
    body = scan(client, path)
    _, _, gtin, *rest = path.split("/")
    code = ProductCode(gtin=gtin, lot=rest[1] if rest else None)
    with runtime.sessions() as session, session.begin():
        assert body == scan_product(session, code, None, TODAY).as_json()


def test_a_unit_scan_shows_the_product_lot_and_unit_passports_as_the_session_path(
    client, runtime, maker, passports, issue
):
    code = issue(passports["id"], 1)[0]
    put(client, maker, f"/v1/units/{GTIN}/{code['serial']}", {"warnings": {"en": "this one was dropped"}})
    shown = scan(client, code["uri"].replace(BASE_URL, ""))["passport"]
    assert shown["versions"] == {"product": 1, "lot": 1, "unit": 1} and shown["tier"] == "public"
    assert shown["warnings"] == {"zh": "儿童禁用", "en": "this one was dropped"} and "facility" not in shown
    with runtime.sessions() as session, session.begin():
        assert shown == unit_passport(session, GTIN, "LOT42", code["serial"], None, TODAY)


def test_a_scan_of_a_seen_passport_sends_no_sqlalchemy_statement(client, passports, statements):
    for path in (f"/01/{GTIN}/10/LOT42", f"/01/{GTIN}"):
        scan(client, path)  # the first scan of each reads its versions' leaves, to make the view
    statements.clear()
    for _ in range(3):
        assert scan(client, f"/01/{GTIN}/10/LOT42")["passport"]["origin"]["country"] == "CN"
        assert scan(client, f"/01/{GTIN}")["passport"]["manufacturer"]["name"] == "Acme Pharma"
    assert statements == []  # one driver-level lookup each, and the view from the cache


def test_a_new_version_shows_on_the_next_scan(client, maker, passports, issue):
    unit = issue(passports["id"], 1)[0]["uri"].replace(BASE_URL, "")
    assert scan(client, f"/01/{GTIN}")["passport"]["versions"] == {"product": 1}
    assert scan(client, unit)["passport"]["versions"] == {"product": 1, "lot": 1}
    put(client, maker, f"/v1/products/{GTIN}", {**PRODUCT, "manufacturer": {"name": "Acme Pharma Two"}})
    for path in (f"/01/{GTIN}", f"/01/{GTIN}/10/LOT42", unit):
        shown = scan(client, path)["passport"]
        assert shown["manufacturer"] == {"name": "Acme Pharma Two"} and shown["versions"]["product"] == 2


def test_a_recall_after_a_cached_scan_shows_at_once(client, maker, passports):
    assert scan(client, f"/01/{GTIN}/10/LOT42")["verdict"] == "registered"
    recall = client.post(
        "/v1/recalls",
        json={"gtin": GTIN, "lots": ["LOT42"], "reason": "sterility", "class": "I"},
        headers=maker.headers,
    )
    assert recall.status_code == 201, recall.text
    lot = scan(client, f"/01/{GTIN}/10/LOT42")
    assert lot["verdict"] == "recalled" and lot["recall"]["reason"] == "sterility"
    assert lot["passport"]["origin"]["country"] == "CN"
    assert scan(client, f"/01/{GTIN}")["recalled_lots"] == ["LOT42"]


def test_views_are_kept_per_database():
    """Version ids are a database's own (tests and tools open many): the same ids elsewhere are another passport."""

    def leaf(name: str) -> dict[int, tuple[int, bytes]]:
        return {1: (1, json.dumps({"passport": {"manufacturer": {"name": name}}}).encode())}

    one, other = create_engine("sqlite://"), create_engine("sqlite://")
    try:
        first = view_of(one, (1, None, None), Tier.PUBLIC, TODAY, lambda ids: leaf("First"))
        second = view_of(other, (1, None, None), Tier.PUBLIC, TODAY, lambda ids: leaf("Second"))
        again = view_of(one, (1, None, None), Tier.PUBLIC, TODAY, lambda ids: pytest.fail("read again"))
    finally:
        one.dispose()
        other.dispose()
    assert first[0]["manufacturer"] == again[0]["manufacturer"] == {"name": "First"}
    assert second[0]["manufacturer"] == {"name": "Second"}
