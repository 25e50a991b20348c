"""What a new user met in the first hour (issue 13): partners found by GLN, and errors that say how to fix them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from app.domain.identifiers import check_digit
from tests.helpers import Org, assert_problem, ok, post, serial

DIST_GLN = "695000000001" + check_digit("695000000001")
OTHER_GLN = "695000000002" + check_digit("695000000002")


def test_a_shipment_can_name_its_receiver_by_gln(
    client: TestClient, maker: Org, make_org: Callable[..., Org], batch: dict[str, Any], issue: Callable[..., Any]
) -> None:
    dist = make_org("distributor", "drug_wholesale", gln=DIST_GLN)
    code = issue(batch["id"], 1)[0]["uri"]
    ok(post(client, maker, {"action": "ship", "codes": [code], "to": DIST_GLN}))
    ok(post(client, dist, {"action": "receive", "codes": [code]}))
    record = client.get(f"/v1/units/{batch['gtin']}/{serial(code)}", headers=dist.headers)
    assert record.status_code == 200, record.text
    assert record.json()["holder"]["id"] == dist.id


def test_an_unknown_gln_is_refused_like_an_unknown_organisation(
    client: TestClient, maker: Org, batch: dict[str, Any], issue: Callable[..., Any]
) -> None:
    code = issue(batch["id"], 1)[0]["uri"]
    body = assert_problem(
        post(client, maker, {"action": "ship", "codes": [code], "to": OTHER_GLN}), 404, "org_not_found"
    )
    assert OTHER_GLN in body["detail"]


def test_any_key_finds_a_trading_partner_by_gln(client: TestClient, maker: Org, make_org: Callable[..., Org]) -> None:
    dist = make_org("distributor", "drug_wholesale", gln=DIST_GLN, name="Shanghai Pharma Logistics")
    pharmacy = make_org("retailer", "drug_retail")
    answer = client.get("/v1/orgs", params={"gln": DIST_GLN}, headers=pharmacy.headers)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "orgs": [{"id": dist.id, "name": "Shanghai Pharma Logistics", "role": "distributor", "gln": DIST_GLN}]
    }
    assert client.get("/v1/orgs", params={"gln": OTHER_GLN}, headers=maker.headers).json() == {"orgs": []}


def test_the_partner_lookup_needs_a_key_and_a_valid_gln(client: TestClient, maker: Org) -> None:
    assert_problem(client.get("/v1/orgs", params={"gln": DIST_GLN}), 401, "missing_api_key")
    wrong_digit = DIST_GLN[:-1] + str((int(DIST_GLN[-1]) + 1) % 10)
    assert_problem(client.get("/v1/orgs", params={"gln": wrong_digit}, headers=maker.headers), 422, "invalid_gln")
    assert client.get("/v1/orgs", headers=maker.headers).status_code == 422


def test_a_body_without_a_json_content_type_is_refused_with_415(client: TestClient, maker: Org) -> None:
    raw = b'{"action": "ship", "codes": ["x"]}'
    for headers in ({}, {"Content-Type": "text/plain"}, {"Content-Type": "application/x-www-form-urlencoded"}):
        answer = client.post("/v1/events", content=raw, headers={**maker.headers, **headers})
        body = assert_problem(answer, 415, "unsupported_media_type")
        assert "Content-Type: application/json" in body["detail"]
    answer = client.post("/v1/products", content=b"{}", headers=maker.headers)
    assert_problem(answer, 415, "unsupported_media_type")
    charset = {**maker.headers, "Content-Type": "application/json; charset=utf-8"}
    assert client.post("/v1/events", content=raw, headers=charset).status_code != 415


def test_a_13_digit_gtin_is_answered_with_the_leading_zero(client: TestClient, maker: Org) -> None:
    answer = client.post(
        "/v1/products", json={"gtin": "9506000134352", "name": "P", "category": "drug_otc"}, headers=maker.headers
    )
    body = assert_problem(answer, 422, "invalid_gtin")
    assert "'09506000134352'" in body["detail"]


def test_a_count_sent_as_a_string_is_refused_not_coerced(client: TestClient, maker: Org, batch: dict[str, Any]) -> None:
    answer = client.post(f"/v1/batches/{batch['id']}/codes", json={"count": "3"}, headers=maker.headers)
    assert answer.status_code == 422, answer.text
    assert "count" in answer.text
    assert client.post(f"/v1/batches/{batch['id']}/codes", json={"count": 3}, headers=maker.headers).status_code == 201


def test_a_region_that_is_not_iso_3166_2_is_refused_with_the_expected_form(
    client: TestClient, maker: Org, make_org: Callable[..., Org], batch: dict[str, Any], issue: Callable[..., Any]
) -> None:
    code = issue(batch["id"], 1)[0]["uri"]
    dist = make_org("distributor", "drug_wholesale")
    answer = post(client, maker, {"action": "ship", "codes": [code], "to": dist.id, "region": "Shanghai"})
    assert answer.status_code == 422, answer.text
    assert "CN-31" in answer.json()["detail"] and "ISO 3166-2" in answer.json()["detail"]
    admin = make_org("admin")
    created = client.post(
        "/v1/orgs", json={"name": "Shop", "role": "retailer", "region": "Shanghai"}, headers=admin.headers
    )
    assert created.status_code == 422, created.text
    assert "CN-31" in created.text
    ok(post(client, maker, {"action": "ship", "codes": [code], "to": dist.id, "region": "CN-31"}))
